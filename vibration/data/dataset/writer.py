"""Writing recordings: :class:`RecordingWriter` (incremental, crash-safe) and
:func:`write_recording` (a whole recording in one call)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from vibration.data.dataset.files import (
    META_FILE,
    PART_SUFFIX,
    SAMPLES_FILE,
)
from vibration.data.dataset.meta import RecordingMeta
from vibration.data.dataset.reader import Recording, open_recording
from vibration.data.dataset.samples import _as_frames
from vibration.data.dataset.validation import _check_axes, _check_counters, _utc_iso, validate_name
from vibration.errors import DatasetError
from vibration.fileio import fsync_path, sha256_file, write_json_atomic
from vibration.validation import is_integer

__all__ = ["RecordingWriter", "write_recording"]

_DEFAULT_COUNTERS = ("frames", "crc_errors", "resyncs", "dropped_frames")
# Writer: data appended is written to the file (not fsynced) once this many bytes are buffered.
_WRITE_THRESHOLD = 1 << 20


class RecordingWriter:
    """Write one recording incrementally, crash-safe.

    The writer claims ``<dataset_dir>/<name>.part/`` at once (``mkdir``, so two writers can
    never share it) and writes ``meta.json`` with ``complete: false``. Samples are buffered
    in memory and written in blocks; :meth:`flush` makes them durable. :meth:`close`
    finishes the recording; :meth:`abort` deletes it.

    Used as a context manager, a clean exit calls :meth:`close`; an exception flushes what
    was appended and *keeps* the ``.part`` directory (readable with :func:`open_recording`)
    for forensics. Call :meth:`abort` yourself when a half recording is worthless.

    Parameters
    ----------
    dataset_dir : path
        Dataset directory; created if missing.
    name : str
        Recording name (see :func:`validate_name`).
    sensor_id, sample_rate, axes, scale, units, label, source, start_time, extra, hello
        Initial metadata (:class:`RecordingMeta`). ``start_time`` defaults to now (UTC).
    unique : bool
        If ``<name>`` (or ``<name>.part``) exists: False (default) raises
        :class:`DatasetError`; True picks the first free ``<name>-1``, ``<name>-2``, ...

    Raises
    ------
    DatasetError
        Invalid metadata, or the name is taken (``unique=False``).
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike[str],
        name: str,
        *,
        sample_rate: float,
        axes: int = 1,
        scale: float = 1.0,
        units: str = "g",
        label: str | None = None,
        sensor_id: str = "",
        source: str = "",
        start_time: datetime | str | None = None,
        extra: Mapping[str, Any] | None = None,
        hello: Mapping[str, Any] | None = None,
        unique: bool = False,
    ) -> None:
        validate_name(name)
        meta = RecordingMeta(
            name=name,
            sample_rate=sample_rate,
            axes=axes,
            scale=scale,
            units=units,
            label=label,
            sensor_id=sensor_id,
            source=source,
            start_time=_utc_iso(start_time),
            counters=dict.fromkeys(_DEFAULT_COUNTERS, 0),
            extra=dict(extra or {}),
            hello=None if hello is None else dict(hello),
        )
        self._dataset_dir = Path(dataset_dir)
        try:
            self._dataset_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(
                f"cannot create dataset directory {str(dataset_dir)!r}: {exc}"
            ) from None
        self._part = self._claim(name, unique)
        self._meta = dataclasses.replace(meta, name=self._part.name[: -len(PART_SUFFIX)])
        self._buffer: list[np.ndarray] = []
        self._buffered_bytes = 0
        self._appended = 0  # samples per axis, including the buffer
        self._flushed = 0
        self._closed = False
        self._fh = open(self._part / SAMPLES_FILE, "xb")  # noqa: SIM115 (kept open for appends)
        try:
            write_json_atomic(self._part / META_FILE, self._meta.to_dict())
        except BaseException:
            self._fh.close()
            shutil.rmtree(self._part, ignore_errors=True)
            raise

    def _claim(self, name: str, unique: bool) -> Path:
        for n in range(10_000):
            candidate = name if n == 0 else f"{name}-{n}"
            validate_name(candidate)
            final = self._dataset_dir / candidate
            part = self._dataset_dir / (candidate + PART_SUFFIX)
            if not final.exists():
                try:
                    part.mkdir()
                    return part
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise DatasetError(f"cannot create {str(part)!r}: {exc}") from None
            if not unique:
                raise DatasetError(
                    f"recording {candidate!r} already exists in {str(self._dataset_dir)!r}"
                )
        raise DatasetError(f"no free name like {name!r} in {str(self._dataset_dir)!r}")

    # -- properties

    @property
    def name(self) -> str:
        """The recording's name (may differ from the one asked for when ``unique=True``)."""
        return self._meta.name

    @property
    def path(self) -> Path:
        """The ``.part`` directory being written."""
        return self._part

    @property
    def samples_written(self) -> int:
        """Samples per axis appended so far (flushed or not)."""
        return self._appended

    @property
    def samples_flushed(self) -> int:
        """Samples per axis made durable by the last :meth:`flush`."""
        return self._flushed

    @property
    def meta(self) -> RecordingMeta:
        """Current metadata (``samples`` = samples appended so far)."""
        return dataclasses.replace(self._meta, samples=self._appended)

    # -- writing

    def _check_open(self) -> None:
        if self._closed:
            raise DatasetError(f"recording {self._meta.name!r} is already closed")

    def append(self, samples: np.ndarray) -> None:
        """Append int16 samples.

        Parameters
        ----------
        samples : ndarray of int16, shape (n, axes) (or (n,) when axes == 1)

        Raises
        ------
        DatasetError
            Wrong dtype or shape, or the writer is closed.
        """
        self._check_open()
        frames = _as_frames(samples, self._meta.axes)
        if frames.shape[0] == 0:
            return
        self._buffer.append(frames.copy())
        self._buffered_bytes += frames.nbytes
        self._appended += frames.shape[0]
        if self._buffered_bytes >= _WRITE_THRESHOLD:
            self._write_buffer()

    def _write_buffer(self) -> None:
        if self._buffer:
            self._fh.write(b"".join(block.tobytes() for block in self._buffer))
            self._buffer.clear()
            self._buffered_bytes = 0

    def mark_gap(self, missing_samples: int) -> None:
        """Record that ``missing_samples`` samples per axis were lost before the next append.

        The gap starts at the current sample index; ``counters["missing_samples"]`` adds up
        the losses. :meth:`Recording.segments` splits the data at gaps.
        """
        self._check_open()
        if not is_integer(missing_samples):
            raise ValueError(f"missing_samples must be an integer, got {missing_samples!r}")
        if missing_samples < 0:
            raise ValueError(f"missing_samples must be >= 0, got {missing_samples!r}")
        counters = dict(self._meta.counters)
        counters["missing_samples"] = counters.get("missing_samples", 0) + int(missing_samples)
        self._meta = dataclasses.replace(
            self._meta, gaps=(*self._meta.gaps, self._appended), counters=counters
        )

    def _add_gaps(self, gaps: Sequence[int]) -> None:
        """Mark gaps at given indices of the samples appended so far (whole-recording writes)."""
        bad = [g for g in gaps if not is_integer(g) or not 0 <= g <= self._appended]
        if bad:
            raise DatasetError(f"gaps must be sample indices in 0..{self._appended}, got {bad!r}")
        self._meta = dataclasses.replace(
            self._meta, gaps=(*self._meta.gaps, *(int(g) for g in gaps))
        )

    def update_counters(self, **counters: int) -> None:
        """Set link counters (absolute values, e.g. the decoder's running totals)."""
        self._check_open()
        merged = dict(self._meta.counters)
        merged.update(_check_counters(counters))
        self._meta = dataclasses.replace(self._meta, counters=merged)

    _SETTABLE = frozenset(
        {
            "label",
            "sensor_id",
            "source",
            "hello",
            "extra",
            "units",
            "scale",
            "sample_rate",
            "start_time",
        }
    )

    def set_meta(self, **fields: Any) -> None:
        """Change metadata fields before :meth:`close`.

        Settable: ``label``, ``sensor_id``, ``source``, ``hello``, ``extra`` (replaced),
        ``units``, ``scale``, ``sample_rate`` (e.g. a rate estimated from a text stream),
        ``start_time``. Other fields are managed by the writer (``ValueError``).
        """
        self._check_open()
        unknown = sorted(set(fields) - self._SETTABLE)
        if unknown:
            raise ValueError(f"set_meta cannot set {unknown!r}; allowed: {sorted(self._SETTABLE)}")
        if "start_time" in fields:
            fields["start_time"] = _utc_iso(fields["start_time"])
        self._meta = dataclasses.replace(self._meta, **fields)

    def flush(self) -> None:
        """Write buffered samples, fsync the data file, then update ``meta.json`` atomically.

        After it returns, a crash (even SIGKILL or power loss) leaves a ``.part`` recording
        that :func:`open_recording` reads with at least :attr:`samples_written` samples.
        """
        self._check_open()
        self._write_buffer()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._flushed = self._appended
        write_json_atomic(
            self._part / META_FILE, dataclasses.replace(self._meta, samples=self._flushed).to_dict()
        )

    def close(self) -> Path:
        """Finish: final ``meta.json`` (complete, SHA-256), rename ``.part`` to the name.

        Returns
        -------
        Path
            The finished recording directory.

        Raises
        ------
        DatasetError
            A recording of that name appeared meanwhile; the ``.part`` directory is kept
            (``complete: false``) and the writer stays open so the caller may retry or abort.
        """
        self._check_open()
        final = self._dataset_dir / self._meta.name
        if final.exists():
            self.flush()
            raise DatasetError(
                f"recording {self._meta.name!r} already exists in {str(self._dataset_dir)!r}; "
                f"data kept in {str(self._part)!r}"
            )
        self._write_buffer()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._closed = True
        self._flushed = self._appended
        self._meta = dataclasses.replace(
            self._meta,
            samples=self._appended,
            complete=True,
            sha256=sha256_file(self._part / SAMPLES_FILE),
        )
        write_json_atomic(self._part / META_FILE, self._meta.to_dict())
        os.rename(self._part, final)
        fsync_path(self._dataset_dir)
        return final

    def abort(self) -> None:
        """Discard the recording: close the file and delete the ``.part`` directory."""
        if not self._fh.closed:
            self._fh.close()
        self._closed = True
        self._buffer.clear()
        shutil.rmtree(self._part, ignore_errors=True)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.close()
            return
        # Keep the .part for forensics; make what we have durable, never mask the error.
        with contextlib.suppress(Exception):
            self.flush()
        with contextlib.suppress(Exception):
            self._fh.close()
        self._closed = True

    def __del__(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None and not fh.closed:
            fh.close()


def write_recording(
    dataset_dir: str | os.PathLike[str],
    name: str,
    samples_int16: np.ndarray,
    *,
    sample_rate: float,
    scale: float = 1.0,
    axes: int | None = None,
    counters: Mapping[str, int] | None = None,
    gaps: Sequence[int] = (),
    **meta: Any,
) -> Recording:
    """Write a whole recording in one call (all or nothing).

    Parameters
    ----------
    dataset_dir : path
    name : str
    samples_int16 : ndarray of int16, shape (n, axes) or (n,)
    sample_rate, scale : float
    axes : int, optional
        Defaults to ``samples_int16.shape[1]`` (1 for a 1-D array).
    counters : dict, optional
    gaps : sequence of int
        Sample indices where discontinuities start.
    **meta
        Other :class:`RecordingWriter` keywords (``units``, ``label``, ``source``, ...).

    Returns
    -------
    Recording
    """
    arr = np.asarray(samples_int16)
    if axes is None:
        axes = 1 if arr.ndim == 1 else (arr.shape[1] if arr.ndim == 2 else 0)
    frames = _as_frames(arr, _check_axes(axes))
    writer = RecordingWriter(
        dataset_dir, name, sample_rate=sample_rate, axes=axes, scale=scale, **meta
    )
    try:
        writer.append(frames)
        if counters:
            writer.update_counters(**counters)
        writer._add_gaps(gaps)
        path = writer.close()
    except BaseException:
        writer.abort()
        raise
    return open_recording(path)

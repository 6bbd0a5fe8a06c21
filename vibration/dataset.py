"""Recordings on disk: a directory per recording, raw int16 samples plus ``meta.json``.

A *dataset* is a directory of recordings. A *recording* is a directory ``<name>/`` with

* ``meta.json``: the fields of :class:`RecordingMeta` (UTF-8 JSON, no NaN),
* ``samples.i16``: raw little-endian int16, axes interleaved (s0a0, s0a1, ..., s1a0, ...).

While it is being written the directory is ``<name>.part/``. :meth:`RecordingWriter.flush`
makes everything appended so far durable (data file fsynced, then ``meta.json`` replaced
atomically), so a process killed with SIGKILL leaves a ``.part`` recording that
:func:`open_recording` reads up to the last flushed block. :meth:`RecordingWriter.close`
writes the final ``meta.json`` (``complete: true``, sample count, SHA-256) and renames
``<name>.part`` to ``<name>`` atomically. The full format is in ``docs/datasets.md``.

Nothing here uses pickle; every file is readable with ``numpy.fromfile`` and ``json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from vibration.errors import DatasetError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_AXES",
    "Recording",
    "RecordingMeta",
    "RecordingWriter",
    "dataset_info",
    "iter_recordings",
    "list_recordings",
    "open_recording",
    "quantize",
    "recording_summary",
    "summarize",
    "validate_name",
    "write_recording",
]

FORMAT = "tinypdm-recording"
FORMAT_VERSION = 1
MAX_AXES = 8
META_FILE = "meta.json"
SAMPLES_FILE = "samples.i16"
PART_SUFFIX = ".part"

_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME = 200
_ITEM = 2  # bytes per int16 sample
_DEFAULT_COUNTERS = ("frames", "crc_errors", "resyncs", "dropped_frames")
# Writer: data appended is written to the file (not fsynced) once this many bytes are buffered.
_WRITE_THRESHOLD = 1 << 20


# --------------------------------------------------------------------------- validation


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe recording name, else raise :class:`DatasetError`.

    Safe: 1-200 characters from ``[A-Za-z0-9._-]``, no leading dot, not ending in ``.part``.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise DatasetError(f"bad recording name {name!r}: use letters, digits, '.', '_', '-'")
    if name.startswith("."):
        raise DatasetError(f"bad recording name {name!r}: must not start with '.'")
    if name.endswith(PART_SUFFIX):
        raise DatasetError(f"bad recording name {name!r}: the suffix '.part' is reserved")
    if len(name) > _MAX_NAME:
        raise DatasetError(f"bad recording name {name!r}: longer than {_MAX_NAME} characters")
    return name


def _check_rate(sample_rate: Any) -> float:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float | np.number):
        raise DatasetError(f"sample_rate must be a number, got {sample_rate!r}")
    rate = float(sample_rate)
    if not math.isfinite(rate) or rate <= 0:
        raise DatasetError(f"sample_rate must be finite and > 0, got {sample_rate!r}")
    return rate


def _check_axes(axes: Any) -> int:
    if isinstance(axes, bool) or not isinstance(axes, int | np.integer):
        raise DatasetError(f"axes must be an integer, got {axes!r}")
    if not 1 <= int(axes) <= MAX_AXES:
        raise DatasetError(f"axes must be in 1..{MAX_AXES}, got {axes!r}")
    return int(axes)


def _check_scale(scale: Any) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float | np.number):
        raise DatasetError(f"scale must be a number, got {scale!r}")
    value = float(scale)
    if not math.isfinite(value) or value <= 0:
        raise DatasetError(f"scale must be finite and > 0, got {scale!r}")
    return value


def _check_str(what: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise DatasetError(f"{what} must be a string, got {value!r}")
    return value


def _check_json_dict(what: str, value: Any, *, optional: bool = False) -> dict[str, Any] | None:
    if value is None:
        return None if optional else {}
    if not isinstance(value, Mapping):
        raise DatasetError(f"{what} must be a dict, got {value!r}")
    if not all(isinstance(k, str) for k in value):
        raise DatasetError(f"{what} keys must be strings, got {list(value)!r}")
    try:
        # Round trip: keeps only JSON types (numpy scalars converted), rejects NaN/Inf.
        out = json.loads(json.dumps(dict(value), allow_nan=False, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{what} must be JSON-serialisable without NaN/Inf: {exc}") from None
    return dict(out)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _check_counters(counters: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in counters.items():
        if not isinstance(key, str) or not key:
            raise DatasetError(f"counter names must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise DatasetError(f"counter {key!r} must be an integer >= 0, got {value!r}")
        out[key] = int(value)
    return out


def _utc_iso(when: datetime | str | None) -> str:
    if when is None:
        when = datetime.now(UTC)
    elif isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            raise DatasetError(f"start_time must be ISO-8601, got {when!r}") from None
    if not isinstance(when, datetime):
        raise DatasetError(f"start_time must be a datetime or ISO-8601 string, got {when!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class RecordingMeta:
    """Everything ``meta.json`` holds about one recording.

    Attributes
    ----------
    name : str
        Recording name (the directory name without ``.part``).
    sample_rate : float
        Samples per second per axis, Hz.
    axes : int
        Number of interleaved axes, 1..8.
    scale : float
        Physical units per LSB: ``physical = scale * int16``.
    units : str
        Physical unit, e.g. ``"g"``.
    label : str or None
        Condition label (``"normal"``, ``"inner"``, ``"outer"``, ``"ball"``, ...), None if unknown.
    sensor_id : str
        Which sensor or device produced the data ("" if unknown).
    source : str
        Where the data came from (a serial URL, ``"simulator"``, an imported file path).
    start_time : str
        ISO-8601 UTC time of the first sample (``...Z``).
    samples : int
        Samples per axis.
    complete : bool
        False while the recording is being written (a ``.part`` directory).
    counters : dict of str to int
        Link counters: ``frames``, ``crc_errors``, ``resyncs``, ``dropped_frames``, ...
    gaps : tuple of int
        Sample indices where a discontinuity starts (data before it was followed by a loss).
    hello : dict or None
        The device's HELLO (``device_id``, ``firmware_version``, ``model_sha256`` hex, ...).
    extra : dict
        Free JSON data (``rpm``, ``load_hp``, ``fault_diameter_mil``, ...).
    sha256 : str or None
        SHA-256 hex of ``samples.i16``; set when complete.
    """

    name: str
    sample_rate: float
    axes: int
    scale: float
    units: str = "g"
    label: str | None = None
    sensor_id: str = ""
    source: str = ""
    start_time: str = ""
    samples: int = 0
    complete: bool = False
    counters: dict[str, int] = field(default_factory=dict, hash=False)
    gaps: tuple[int, ...] = ()
    hello: dict[str, Any] | None = field(default=None, hash=False)
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    sha256: str | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    dtype: str = "int16"
    byte_order: str = "little"

    def __post_init__(self) -> None:
        validate_name(self.name)
        object.__setattr__(self, "sample_rate", _check_rate(self.sample_rate))
        object.__setattr__(self, "axes", _check_axes(self.axes))
        object.__setattr__(self, "scale", _check_scale(self.scale))
        _check_str("units", self.units)
        _check_str("label", self.label, optional=True)
        _check_str("sensor_id", self.sensor_id)
        _check_str("source", self.source)
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 0:
            raise DatasetError(f"samples must be an integer >= 0, got {self.samples!r}")
        object.__setattr__(self, "counters", _check_counters(self.counters))
        gaps = tuple(self.gaps)
        if any(isinstance(g, bool) or not isinstance(g, int) or g < 0 for g in gaps):
            raise DatasetError(f"gaps must be sample indices >= 0, got {list(gaps)!r}")
        object.__setattr__(self, "gaps", tuple(sorted(set(gaps))))
        object.__setattr__(self, "hello", _check_json_dict("hello", self.hello, optional=True))
        object.__setattr__(self, "extra", _check_json_dict("extra", self.extra))
        if self.format != FORMAT:
            raise DatasetError(f"not a tinypdm recording: format {self.format!r}")
        if self.format_version != FORMAT_VERSION:
            raise DatasetError(
                f"unsupported format_version {self.format_version!r} (this tinypdm reads "
                f"{FORMAT_VERSION})"
            )
        if self.dtype != "int16" or self.byte_order != "little":
            raise DatasetError(
                f"unsupported sample encoding {self.dtype!r}/{self.byte_order!r} "
                "(expected int16/little)"
            )

    @property
    def seconds(self) -> float:
        """Duration in seconds (``samples / sample_rate``)."""
        return self.samples / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        """The ``meta.json`` object (JSON types only, stable key order)."""
        return {
            "format": self.format,
            "format_version": self.format_version,
            "name": self.name,
            "sensor_id": self.sensor_id,
            "sample_rate": self.sample_rate,
            "axes": self.axes,
            "dtype": self.dtype,
            "byte_order": self.byte_order,
            "scale": self.scale,
            "units": self.units,
            "label": self.label,
            "start_time": self.start_time,
            "source": self.source,
            "samples": self.samples,
            "complete": self.complete,
            "counters": dict(self.counters),
            "gaps": list(self.gaps),
            "hello": None if self.hello is None else dict(self.hello),
            "extra": dict(self.extra),
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordingMeta:
        """Build from a ``meta.json`` object; unknown keys are ignored (forward compatible).

        Raises
        ------
        DatasetError
            A required field is missing or a field is invalid.
        """
        if not isinstance(data, Mapping):
            raise DatasetError(f"meta must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise DatasetError(f"not a tinypdm recording: format {data.get('format')!r}")
        missing = [k for k in ("name", "sample_rate", "axes", "scale") if k not in data]
        if missing:
            raise DatasetError(f"meta.json lacks {', '.join(missing)}")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if "gaps" in kwargs:
            if not isinstance(kwargs["gaps"], list):
                raise DatasetError(f"gaps must be a list, got {kwargs['gaps']!r}")
            kwargs["gaps"] = tuple(kwargs["gaps"])
        if kwargs.get("counters") is None:
            kwargs["counters"] = {}
        if not isinstance(kwargs["counters"], Mapping):
            raise DatasetError(f"counters must be an object, got {kwargs['counters']!r}")
        if kwargs.get("extra") is None:
            kwargs["extra"] = {}
        if not isinstance(kwargs.get("complete", False), bool):
            raise DatasetError(f"complete must be true or false, got {kwargs['complete']!r}")
        sha = kwargs.get("sha256")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise DatasetError(f"sha256 must be 64 hex digits, got {sha!r}")
        return cls(**kwargs)


# --------------------------------------------------------------------------- file helpers


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, obj: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` via a temporary file, fsync and rename (all or nothing)."""
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _as_frames(samples: Any, axes: int) -> np.ndarray:
    """Validate int16 samples of shape (n, axes) (or (n,) for one axis); C-contiguous."""
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        raise DatasetError(f"samples must be int16, got dtype {arr.dtype}")
    if arr.ndim == 1 and axes == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != axes:
        raise DatasetError(f"samples must have shape (n, {axes}), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype="<i2")


# --------------------------------------------------------------------------- writer


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
            _write_json_atomic(self._part / META_FILE, self._meta.to_dict())
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
        if isinstance(missing_samples, bool) or not isinstance(missing_samples, int | np.integer):
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
        bad = [
            g
            for g in gaps
            if isinstance(g, bool)
            or not isinstance(g, int | np.integer)
            or not 0 <= g <= self._appended
        ]
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
        _write_json_atomic(
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
            sha256=_sha256_file(self._part / SAMPLES_FILE),
        )
        _write_json_atomic(self._part / META_FILE, self._meta.to_dict())
        os.rename(self._part, final)
        _fsync_dir(self._dataset_dir)
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


# --------------------------------------------------------------------------- reader


class Recording:
    """A recording on disk, complete or ``.part``. Create with :func:`open_recording`.

    Attributes
    ----------
    path : Path
        The recording directory.
    meta : RecordingMeta
        Its metadata. For a ``.part`` recording ``samples`` is the number of whole frames
        in the data file (at least the last flushed count) and ``gaps`` past the end are
        dropped.
    """

    def __init__(self, path: Path, meta: RecordingMeta) -> None:
        self.path = path
        self.meta = meta

    def __repr__(self) -> str:
        state = "complete" if self.meta.complete else "partial"
        return (
            f"Recording({str(self.path)!r}, samples={self.meta.samples}, "
            f"axes={self.meta.axes}, rate={self.meta.sample_rate:g}, {state})"
        )

    @property
    def name(self) -> str:
        """Recording name."""
        return self.meta.name

    @property
    def complete(self) -> bool:
        """False for a ``.part`` recording."""
        return self.meta.complete

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.meta.seconds

    def samples(self) -> np.ndarray:
        """The raw samples.

        Returns
        -------
        ndarray of int16, shape (samples, axes)
            Read-only, memory-mapped.
        """
        n, axes = self.meta.samples, self.meta.axes
        if n == 0:
            empty = np.empty((0, axes), dtype=np.int16)
            empty.flags.writeable = False
            return empty
        mm = np.memmap(self.path / SAMPLES_FILE, dtype="<i2", mode="r", shape=(n, axes))
        return mm.view(np.ndarray)

    def physical(self, axis: int | None = None) -> np.ndarray:
        """Samples in physical units (``scale * int16``).

        Parameters
        ----------
        axis : int or None
            One axis (0-based) or all.

        Returns
        -------
        ndarray of float32, shape (samples, axes), or (samples,) for one axis
        """
        raw = self.samples()
        if axis is not None:
            if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
                raise ValueError(f"axis must be an integer or None, got {axis!r}")
            if not 0 <= axis < self.meta.axes:
                raise ValueError(f"axis must be in 0..{self.meta.axes - 1}, got {axis!r}")
            raw = raw[:, axis]
        return raw.astype(np.float32) * np.float32(self.meta.scale)

    def segments(self) -> list[tuple[int, int]]:
        """Contiguous runs between gaps.

        Returns
        -------
        list of (start, stop)
            Half-open sample ranges covering ``[0, samples)``; empty for an empty recording.
        """
        n = self.meta.samples
        cuts = [0, *(g for g in self.meta.gaps if 0 < g < n), n]
        return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]

    def verify(self) -> None:
        """Check ``samples.i16`` against the SHA-256 in ``meta.json`` (complete recordings).

        Raises
        ------
        DatasetError
            The checksum differs, or the recording is not complete.
        """
        if not self.meta.complete or self.meta.sha256 is None:
            raise DatasetError(f"recording {str(self.path)!r} is not complete: no checksum")
        actual = _sha256_file(self.path / SAMPLES_FILE)
        if actual != self.meta.sha256:
            raise DatasetError(f"recording {str(self.path)!r}: samples.i16 fails its SHA-256")


def open_recording(path: str | os.PathLike[str]) -> Recording:
    """Open a recording directory (complete, or a ``.part`` left by a crash).

    Raises
    ------
    DatasetError
        Not a recording, unreadable or inconsistent metadata, truncated data file.
    """
    p = Path(path)
    meta_path = p / META_FILE
    data_path = p / SAMPLES_FILE
    if not p.is_dir():
        raise DatasetError(f"not a recording directory: {str(p)!r}")
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"not a recording (no {META_FILE}): {str(p)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"unreadable {META_FILE} in {str(p)!r}: {exc}") from None
    try:
        meta = RecordingMeta.from_dict(raw)
    except DatasetError as exc:
        raise DatasetError(f"{str(p)!r}: {exc}") from None
    try:
        size = data_path.stat().st_size
    except FileNotFoundError:
        raise DatasetError(f"recording {str(p)!r} has no {SAMPLES_FILE}") from None
    frame = _ITEM * meta.axes
    partial = p.name.endswith(PART_SUFFIX)
    if meta.complete and not partial:
        if size != meta.samples * frame:
            raise DatasetError(
                f"recording {str(p)!r} is damaged: {SAMPLES_FILE} has {size} bytes, "
                f"meta.json says {meta.samples} samples x {meta.axes} axes"
            )
    else:
        # Being written or left by a crash: trust whole frames on disk.
        n = size // frame
        meta = dataclasses.replace(
            meta,
            samples=n,
            complete=False,
            sha256=None,
            gaps=tuple(g for g in meta.gaps if g < n),
        )
    return Recording(p, meta)


def _is_recording_dir(path: Path) -> bool:
    return path.is_dir() and (path / META_FILE).is_file()


def list_recordings(
    dataset_dir: str | os.PathLike[str], include_partial: bool = True
) -> list[Recording]:
    """Open every recording of a dataset directory, sorted by directory name.

    Hidden entries and directories without ``meta.json`` are skipped.

    Raises
    ------
    DatasetError
        The directory is missing, or one of its recordings is damaged.
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DatasetError(f"no such dataset directory: {str(root)!r}")
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or not _is_recording_dir(entry):
            continue
        if entry.name.endswith(PART_SUFFIX) and not include_partial:
            continue
        out.append(open_recording(entry))
    return out


def iter_recordings(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    include_partial: bool = True,
) -> Iterator[Recording]:
    """Yield recordings from dataset directories and/or recording directories.

    Parameters
    ----------
    paths : path or sequence of paths
        Each one a recording directory (has ``meta.json``) or a dataset directory.
    include_partial : bool
        Also yield ``.part`` recordings of dataset directories (a ``.part`` named
        directly is always yielded).

    Raises
    ------
    DatasetError
        A path is neither, or a recording is damaged.
    """
    items: Iterable[str | os.PathLike[str]]
    items = [paths] if isinstance(paths, str | os.PathLike) else paths
    for item in items:
        p = Path(item)
        if _is_recording_dir(p):
            yield open_recording(p)
        elif p.is_dir():
            yield from list_recordings(p, include_partial=include_partial)
        elif not p.exists():
            raise DatasetError(f"no such dataset directory: {str(p)!r}")
        else:
            raise DatasetError(f"not a dataset or recording directory: {str(p)!r}")


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


# --------------------------------------------------------------------------- helpers


def quantize(x: np.ndarray, headroom: float = 32767 / 30000) -> tuple[np.ndarray, float]:
    """Quantise physical samples to int16 with one scale for the whole array.

    Parameters
    ----------
    x : ndarray of float, any shape
    headroom : float
        Full scale / peak, >= 1: the largest ``|x|`` maps to ``32767 / headroom`` codes
        (about 30000 by default).

    Returns
    -------
    q : ndarray of int16, same shape as x
    scale : float
        Physical units per LSB (a float32-representable value > 0); ``x ≈ scale * q``.
        An all-zero input gets scale 1.0.

    Raises
    ------
    DatasetError
        ``x`` holds NaN or Inf.
    """
    if not isinstance(headroom, int | float) or not math.isfinite(headroom) or headroom < 1:
        raise ValueError(f"headroom must be a finite number >= 1, got {headroom!r}")
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise DatasetError("samples contain NaN or Inf")
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if peak == 0.0:
        return np.zeros(arr.shape, dtype=np.int16), 1.0
    scale = float(np.float32(peak * headroom / 32767))
    if scale <= 0.0:  # subnormal peak flushed to zero in float32
        raise DatasetError(f"signal too small to quantise (peak {peak!r})")
    q = np.clip(np.rint(arr / scale), -32768, 32767).astype(np.int16)
    return q, scale


def recording_summary(recording: Recording) -> dict[str, Any]:
    """One recording as a JSON-ready row (the rows of :func:`dataset_info`).

    Returns
    -------
    dict
        ``name``, ``path``, ``samples`` (per axis), ``sample_rate``, ``axes``, ``seconds``,
        ``label``, ``complete``, ``sensor_id``, ``source``, ``units``, ``scale``,
        ``start_time``, ``frames``, ``crc_errors``, ``dropped_frames``, ``resyncs``,
        ``gaps`` (count), ``sha256``, ``extra``.
    """
    m = recording.meta
    return {
        "name": m.name,
        "path": str(recording.path),
        "samples": m.samples,
        "sample_rate": m.sample_rate,
        "axes": m.axes,
        "seconds": m.seconds,
        "label": m.label,
        "complete": m.complete,
        "sensor_id": m.sensor_id,
        "source": m.source,
        "units": m.units,
        "scale": m.scale,
        "start_time": m.start_time,
        "frames": m.counters.get("frames", 0),
        "crc_errors": m.counters.get("crc_errors", 0),
        "dropped_frames": m.counters.get("dropped_frames", 0),
        "resyncs": m.counters.get("resyncs", 0),
        "gaps": len(m.gaps),
        "sha256": m.sha256,
        "extra": dict(m.extra),
    }


def summarize(recordings: Sequence[Recording]) -> dict[str, Any]:
    """Rows and totals for some recordings: ``{"recordings", "n_recordings",
    "total_samples", "total_seconds", "labels": {label: seconds}, "partial"}``."""
    rows = [recording_summary(r) for r in recordings]
    labels: dict[str, float] = {}
    for row in rows:
        key = row["label"] if row["label"] is not None else "(none)"
        labels[key] = labels.get(key, 0.0) + row["seconds"]
    return {
        "recordings": rows,
        "n_recordings": len(rows),
        "total_samples": sum(r["samples"] for r in rows),
        "total_seconds": sum(r["seconds"] for r in rows),
        "labels": labels,
        "partial": sum(1 for r in rows if not r["complete"]),
    }


def dataset_info(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Summary of a dataset (or of one recording directory) as JSON-ready data.

    Returns
    -------
    dict
        ``{"dataset": path, **summarize(recordings)}``: ``recordings`` (rows of
        :func:`recording_summary`), ``n_recordings``, ``total_samples`` (per axis),
        ``total_seconds``, ``labels`` ({label: seconds}, ``"(none)"`` for unlabelled),
        ``partial`` (count of ``.part`` recordings).

    Raises
    ------
    DatasetError
        Missing directory or a damaged recording.
    """
    return {"dataset": str(Path(dataset_dir)), **summarize(list(iter_recordings([dataset_dir])))}

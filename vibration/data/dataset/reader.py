"""Reading recordings: :class:`Recording`, :func:`open_recording` (complete or ``.part``)
and the listing of dataset directories."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vibration.data.dataset.files import _ITEM, META_FILE, PART_SUFFIX, SAMPLES_FILE
from vibration.data.dataset.meta import RecordingMeta
from vibration.errors import DatasetError
from vibration.fileio import sha256_file

__all__ = ["Recording", "iter_recordings", "list_recordings", "open_recording"]


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

    def segment_times(self) -> list[float]:
        """Time of each segment's first sample, seconds from the recording's start.

        A snapshot series (``extra["segment_start_s"]``, one number per segment, written by
        the snapshot importers) is timed by its clocks; otherwise a segment starts at its
        first sample index / ``sample_rate`` (a gap from lost frames is not timed).

        Returns
        -------
        list of float
            One per :meth:`segments` entry, non-decreasing.
        """
        segments = self.segments()
        rate = self.meta.sample_rate
        stored = self.meta.extra.get("segment_start_s")
        if (
            isinstance(stored, list)
            and len(stored) >= len(segments)
            and all(
                isinstance(v, int | float) and not isinstance(v, bool)
                for v in stored[: len(segments)]
            )
        ):
            times = [float(v) for v in stored[: len(segments)]]
            if all(b >= a for a, b in itertools.pairwise(times)):
                return times
        return [start / rate for start, _ in segments]

    def duration_s(self) -> float:
        """Seconds from the first sample to the end of the last one (segment times included)."""
        segments = self.segments()
        if not segments:
            return 0.0
        start, stop = segments[-1]
        return self.segment_times()[-1] + (stop - start) / self.meta.sample_rate

    def verify(self) -> None:
        """Check ``samples.i16`` against the SHA-256 in ``meta.json`` (complete recordings).

        Raises
        ------
        DatasetError
            The checksum differs, or the recording is not complete.
        """
        if not self.meta.complete or self.meta.sha256 is None:
            raise DatasetError(f"recording {str(self.path)!r} is not complete: no checksum")
        actual = sha256_file(self.path / SAMPLES_FILE)
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

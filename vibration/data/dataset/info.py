"""Summaries of recordings and datasets as JSON-ready data (``tinypdm datasets info``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vibration.data.dataset.reader import Recording, iter_recordings
from vibration.errors import DatasetError

__all__ = ["dataset_info", "recording_summary", "summarize"]


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
        Missing directory, a directory without any recording (not a dataset), or a
        damaged recording.
    """
    recordings = list(iter_recordings([dataset_dir]))
    if not recordings:
        raise DatasetError(
            f"{str(Path(dataset_dir))!r} is not a dataset: it holds no recording "
            "(a directory with meta.json and samples.i16)"
        )
    return {"dataset": str(Path(dataset_dir)), **summarize(recordings)}

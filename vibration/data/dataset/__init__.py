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

Modules: :mod:`~vibration.data.dataset.meta` (:class:`RecordingMeta`),
:mod:`~vibration.data.dataset.validation` (names and field checks),
:mod:`~vibration.data.dataset.files` (file names and durable writes),
:mod:`~vibration.data.dataset.samples` (int16 samples, :func:`quantize`),
:mod:`~vibration.data.dataset.writer` (:class:`RecordingWriter`, :func:`write_recording`),
:mod:`~vibration.data.dataset.reader` (:class:`Recording`, :func:`open_recording`, listing),
:mod:`~vibration.data.dataset.info` (summaries, :func:`dataset_info`).
"""

from __future__ import annotations

from vibration.data.dataset.info import dataset_info, recording_summary, summarize
from vibration.data.dataset.meta import FORMAT, FORMAT_VERSION, RecordingMeta
from vibration.data.dataset.reader import (
    Recording,
    iter_recordings,
    list_recordings,
    open_recording,
)
from vibration.data.dataset.samples import quantize
from vibration.data.dataset.validation import MAX_AXES, validate_name
from vibration.data.dataset.writer import RecordingWriter, write_recording

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

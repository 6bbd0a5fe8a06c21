"""The files of a recording directory (``meta.json``, ``samples.i16``, the ``.part``
suffix while written) (durable writes: :mod:`vibration.fileio`)."""

from __future__ import annotations

__all__ = ["META_FILE", "PART_SUFFIX", "SAMPLES_FILE"]

META_FILE = "meta.json"
SAMPLES_FILE = "samples.i16"
PART_SUFFIX = ".part"
_ITEM = 2  # bytes per int16 sample

"""The files of a recording directory (``meta.json``, ``samples.i16``, the ``.part``
suffix while written) and the durable-write helpers the writer relies on."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["META_FILE", "PART_SUFFIX", "SAMPLES_FILE"]

META_FILE = "meta.json"
SAMPLES_FILE = "samples.i16"
PART_SUFFIX = ".part"
_ITEM = 2  # bytes per int16 sample


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

"""Durable file helpers shared by recordings, model directories and firmware bundles.

Checksums, fsync, all-or-nothing JSON writes, replacing a whole directory in one rename,
and reading the versioned JSON document that describes a directory (a model directory's
``model.json``, a bundle's ``manifest.json``) with one clear error per problem.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vibration.errors import TinyPdmError

__all__ = [
    "fsync_path",
    "read_json_document",
    "replace_dir",
    "sha256_file",
    "write_json_atomic",
]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory: so that renames in it are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` via a temporary file, fsync and rename (all or nothing)."""
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def replace_dir(tmp: Path, target: Path) -> None:
    """Move directory ``tmp`` to ``target``, replacing what was there; on failure the
    previous ``target`` is put back."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old / "previous")
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old / "previous", target)
        raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)


def read_json_document(
    root: Path,
    name: str,
    *,
    fmt: str,
    version: int,
    error: type[TinyPdmError],
    kind: str,
    is_not: str,
    document: str,
) -> dict[str, Any]:
    """The JSON object in ``root / name``, checked for its ``format`` and ``format_version``.

    Parameters
    ----------
    root : Path
        The directory.
    name : str
        The document's file name in it.
    fmt, version : str, int
        Expected ``format`` and ``format_version``.
    error : TinyPdmError subclass
        Raised with the message of the first problem found.
    kind, is_not, document : str
        Words for the messages: ``"model"``, ``"model directory"``,
        ``"model description"`` (say).
    """
    if not root.is_dir():
        raise error(f"no {kind} directory at {str(root)!r}")
    try:
        doc = json.loads((root / name).read_text("utf-8"))
    except FileNotFoundError:
        raise error(f"{str(root)!r} is not a {is_not} (no {name})") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError, int too long
        raise error(f"unreadable {name} in {str(root)!r}: {exc}") from None
    except RecursionError:
        raise error(f"unreadable {name} in {str(root)!r}: nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise error(f"{str(root / name)!r} is not a tinypdm {document}")
    if doc.get("format_version") != version:
        raise error(
            f"{kind} format_version {doc.get('format_version')!r} is not supported "
            f"(this tinypdm reads {version})"
        )
    return doc

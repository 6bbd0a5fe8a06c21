"""Reading the versioned JSON document that describes a directory (a model directory's
``model.json``, a firmware bundle's ``manifest.json``) with one clear error per problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vibration.errors import TinyPdmError

__all__ = ["read_json_document"]


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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"unreadable {name} in {str(root)!r}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise error(f"{str(root / name)!r} is not a tinypdm {document}")
    if doc.get("format_version") != version:
        raise error(
            f"{kind} format_version {doc.get('format_version')!r} is not supported "
            f"(this tinypdm reads {version})"
        )
    return doc

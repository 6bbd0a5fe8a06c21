"""The fixed C99 library shipped in every bundle (``firmware_export/c``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["LIBRARY_DIR", "library_files", "protocol_defines"]

#: The C99 library shipped in every bundle (``firmware_export/c``).
LIBRARY_DIR = Path(__file__).resolve().parents[1] / "c"

_MODULES = (
    "tinypdm_nn",
    "tinypdm_model",
    "tinypdm_math",
    "tinypdm_features",
    "tinypdm_score",
    "tinypdm_speed",
    "tinypdm_pipeline",
    "tinypdm_frame",
)


def library_files() -> list[Path]:
    """The library's ``.h`` and ``.c`` files, in dependency order (host helpers excluded)."""
    files = []
    for module in _MODULES:
        for ext in (".h", ".c"):
            path = LIBRARY_DIR / f"{module}{ext}"
            if not path.is_file():
                raise FileNotFoundError(f"library file missing from the installation: {path}")
            files.append(path)
    return files


def protocol_defines() -> dict[str, str]:
    """``TINYPDM_PROTOCOL_VERSION`` for builds made by this tinypdm: the frames its C emits
    carry the protocol version this tinypdm's receivers speak
    (``vibration.protocol.PROTOCOL_VERSION``); version 1 gives the 28-byte v1 SCORE. A
    build without it (e.g. Arduino) gets the header's default, 2."""
    from vibration.protocol import PROTOCOL_VERSION

    return {"TINYPDM_PROTOCOL_VERSION": f"{int(PROTOCOL_VERSION)}u"}

"""The fixed C99 library shipped in every bundle (``firmware_export/c``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["LIBRARY_DIR", "library_files"]

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

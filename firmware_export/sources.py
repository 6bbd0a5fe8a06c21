"""The C tree of a firmware: the fixed library plus the generated, model-specific files."""

from __future__ import annotations

import shutil
from pathlib import Path

from firmware_export.codegen import (
    FirmwareSpec,
    GoldenVectors,
    generate_golden_sources,
    generate_sources,
    generate_tflite_array,
)

__all__ = ["LIBRARY_DIR", "library_files", "write_c_sources"]

#: The C99 library shipped in every bundle (``firmware_export/c``).
LIBRARY_DIR = Path(__file__).resolve().parent / "c"

_MODULES = (
    "tinypdm_nn",
    "tinypdm_model",
    "tinypdm_math",
    "tinypdm_features",
    "tinypdm_score",
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


def write_c_sources(
    dest: Path,
    spec: FirmwareSpec,
    *,
    tflite: bytes | None = None,
    golden: GoldenVectors | None = None,
) -> list[Path]:
    """Write library and generated sources flat into ``dest`` (created if needed).

    Parameters
    ----------
    dest : Path
    spec : FirmwareSpec
    tflite : bytes, optional
        The ``.tflite``; adds ``model_tflite.h/.c`` for TFLM users.
    golden : GoldenVectors, optional
        Adds ``tinypdm_golden.h/.c``.

    Returns
    -------
    list of Path
        Every file written, sorted by name.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in library_files():
        shutil.copyfile(path, dest / path.name)
        written.append(dest / path.name)
    generated = dict(generate_sources(spec))
    if tflite is not None:
        generated.update(generate_tflite_array(tflite, spec.source_name))
    if golden is not None:
        generated.update(generate_golden_sources(spec, golden))
    for name, text in generated.items():
        (dest / name).write_text(text, encoding="ascii")
        written.append(dest / name)
    return sorted(written)

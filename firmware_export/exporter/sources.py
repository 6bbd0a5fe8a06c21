"""The C tree of a firmware: the fixed library plus the generated, model-specific files."""

from __future__ import annotations

import shutil
from pathlib import Path

from firmware_export.exporter.codegen import (
    FirmwareSpec,
    GoldenVectors,
    generate_golden_sources,
    generate_sources,
    generate_tflite_array,
)
from firmware_export.runtime.library import library_files

__all__ = ["write_c_sources"]


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

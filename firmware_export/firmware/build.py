"""Build the Cortex-M4 firmware images with Debian's ``arm-none-eabi-gcc`` + newlib.

Three targets, all for QEMU's ``mps2-an386`` (Cortex-M4F, the board support in
``mps2_an386/``):

``sensor``
    The reference sensor firmware: HELLO at boot, SAMPLES in over UART0, SCORE and a
    ``perf`` TEXT frame out per window (``docs/firmware-qemu.md``).
``pipeline``
    The size build: a tiny main that feeds a synthetic signal to the inference pipeline
    with the model, then prints its stack and instruction figures on the semihosting
    console. Its flash and RAM are the numbers the project's budget is about.
``selftest``
    The board alone (no tinypdm library): UART echo, exit status and the calibration of
    the instruction counter.

Example
-------
>>> result = build_firmware("out/bundle", "build/fw", target="sensor")   # doctest: +SKIP
>>> result.sizes.flash                                                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from firmware_export.errors import ExportError
from firmware_export.runtime.library import LIBRARY_DIR, REQUIRED_FLAGS, protocol_defines
from vibration.validation import is_int

from .sizes import SectionSizes, section_sizes

__all__ = [
    "BOARD_DIR",
    "CFLAGS",
    "LIBRARY_DIR",
    "TARGETS",
    "BuildResult",
    "build_firmware",
    "find_model_sources",
    "toolchain_available",
]

BOARD_DIR = Path(__file__).resolve().parent / "mps2_an386"
TARGETS = ("sensor", "pipeline", "selftest")

CFLAGS: tuple[str, ...] = (
    # C99, warnings as errors, and no fused multiply-add: the float32 features must
    # match the host build bit for bit (firmware_export.runtime.library).
    *REQUIRED_FLAGS,
    "-mcpu=cortex-m4",
    "-mthumb",
    "-mfloat-abi=hard",
    "-mfpu=fpv4-sp-d16",
    "-Os",
    "-ffunction-sections",
    "-fdata-sections",
    "-g",
)
_LDFLAGS: tuple[str, ...] = (
    "-nostartfiles",
    "--specs=nano.specs",
    "--specs=nosys.specs",
    "-Wl,--gc-sections",
)
_LIBS: tuple[str, ...] = ("-lm",)

_MAINS = {
    "sensor": "sensor_main.c",
    "pipeline": "pipeline_main.c",
    "selftest": "selftest_main.c",
}
_MODEL_HEADER = "tinypdm_model_config.h"
_MODEL_DATA = "model_data.c"


@dataclass(frozen=True)
class BuildResult:
    """One linked image.

    Attributes
    ----------
    elf : Path
        The ELF file QEMU loads (``-kernel``).
    sizes : SectionSizes
        Allocated bytes per section class (flash, static RAM).
    target : str
        One of :data:`TARGETS`.
    map_file : Path
        The linker map next to the ELF.
    command : tuple of str
        The compiler command line, for the record.
    """

    elf: Path
    sizes: SectionSizes
    target: str
    map_file: Path
    command: tuple[str, ...]


def toolchain_available() -> bool:
    """True when ``arm-none-eabi-gcc`` and ``arm-none-eabi-size`` are on PATH."""
    return shutil.which("arm-none-eabi-gcc") is not None and (
        shutil.which("arm-none-eabi-size") is not None
    )


def find_model_sources(bundle_or_c_dir: str | Path) -> Path:
    """The directory holding the generated ``tinypdm_model_config.h`` and ``model_data.c``.

    Looks in ``bundle_or_c_dir`` itself, then in its ``c/``, ``firmware/`` and ``src/``
    sub-directories (an exported bundle or a bare C directory both work).

    Raises
    ------
    ExportError
        Neither place holds both generated files.
    """
    root = Path(bundle_or_c_dir)
    if not root.is_dir():
        raise ExportError(f"firmware sources: {str(root)!r} is not a directory")
    for candidate in (root, root / "c", root / "firmware", root / "src"):
        if (candidate / _MODEL_HEADER).is_file() and (candidate / _MODEL_DATA).is_file():
            return candidate
    raise ExportError(
        f"no {_MODEL_HEADER} + {_MODEL_DATA} in {str(root)!r} (or its c/, firmware/, src/): "
        "export a model bundle first (tinypdm export)"
    )


def _library_sources(model_dir: Path) -> tuple[Path, list[Path]]:
    """The C library to link: the bundle's own copy when it ships one, else the package's."""
    lib_dir = model_dir if (model_dir / "tinypdm_pipeline.c").is_file() else LIBRARY_DIR
    sources = sorted(p for p in lib_dir.glob("*.c") if p.name != _MODEL_DATA)
    if not sources:
        raise ExportError(f"no C library sources in {str(lib_dir)!r}")
    return lib_dir, sources


def build_firmware(
    bundle_or_c_dir: str | Path | None,
    out_dir: str | Path,
    target: str = "sensor",
    *,
    defines: Mapping[str, str] | None = None,
    extra_cflags: Sequence[str] = (),
    stack_size: int = 0x4000,
) -> BuildResult:
    """Compile and link one firmware image for the mps2-an386.

    Parameters
    ----------
    bundle_or_c_dir : path or None
        An exported bundle, or a directory with the generated ``tinypdm_model_config.h``
        and ``model_data.c`` (see :func:`find_model_sources`). None only for ``selftest``.
    out_dir : path
        Where ``<target>.elf`` and ``<target>.map`` go (created if missing). Files appear
        only when the link succeeded.
    target : {"sensor", "pipeline", "selftest"}
        Which image (module docstring).
    defines : mapping of str to str, optional
        Extra ``-DNAME=VALUE`` macros (e.g. ``TINYPDM_FW_DEVICE_ID``).
    extra_cflags : sequence of str
        Appended to :data:`CFLAGS` (which already hold ``-Wall -Wextra -Werror``).
    stack_size : int
        Bytes of the stack reservation (the measured use is reported at run time).

    Returns
    -------
    BuildResult

    Raises
    ------
    ExportError
        No toolchain, no model sources, or the compiler or linker failed.
    ValueError
        Unknown target or a bad stack size.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if not is_int(stack_size) or stack_size < 256:
        raise ValueError(f"stack_size must be an int >= 256, got {stack_size!r}")
    if stack_size % 8:
        raise ValueError(f"stack_size must be a multiple of 8, got {stack_size!r}")
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        raise ExportError(
            "arm-none-eabi-gcc not found: install Debian's gcc-arm-none-eabi and "
            "libnewlib-arm-none-eabi"
        )

    board_sources = [BOARD_DIR / "startup.c", BOARD_DIR / "board.c", BOARD_DIR / _MAINS[target]]
    include_dirs = [BOARD_DIR]
    sources = list(board_sources)
    if target != "selftest":
        if bundle_or_c_dir is None:
            raise ValueError(f"target {target!r} needs a bundle or C directory, got None")
        model_dir = find_model_sources(bundle_or_c_dir)
        lib_dir, lib_sources = _library_sources(model_dir)
        include_dirs += [model_dir, lib_dir]
        sources += [*lib_sources, model_dir / _MODEL_DATA]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    elf = out / f"{target}.elf"
    map_file = out / f"{target}.map"
    all_defines = {**protocol_defines(), **(defines or {})}
    if any(str(f).startswith("-DTINYPDM_PROTOCOL_VERSION") for f in extra_cflags):
        all_defines.pop("TINYPDM_PROTOCOL_VERSION")
    macros = [f"-D{name}={value}" for name, value in all_defines.items()]
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{target}-") as tmp:
        tmp_elf = Path(tmp) / elf.name
        tmp_map = Path(tmp) / map_file.name
        command = (
            gcc,
            *CFLAGS,
            *extra_cflags,
            *macros,
            *(f"-I{d}" for d in include_dirs),
            *_LDFLAGS,
            f"-Wl,--defsym=__stack_size__={stack_size}",
            f"-Wl,-Map={tmp_map}",
            "-T",
            str(BOARD_DIR / "mps2_an386.ld"),
            *(str(s) for s in sources),
            *_LIBS,
            "-o",
            str(tmp_elf),
        )
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ExportError(f"arm-none-eabi-gcc failed for {target!r}: {_first_error(proc)}")
        sizes = section_sizes(tmp_elf)
        os.replace(tmp_map, map_file)
        os.replace(tmp_elf, elf)
    return BuildResult(elf=elf, sizes=sizes, target=target, map_file=map_file, command=command)


def _first_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The compiler's first error line (the rest is noise for a one-line message)."""
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[0] if lines else f"exit status {proc.returncode}"

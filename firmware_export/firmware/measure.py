"""The budget figures of a bundle: flash, RAM and instructions per window on a Cortex-M4.

Builds the ``pipeline`` image (the inference pipeline with the model and a tiny main),
runs it under QEMU with ``-icount shift=0`` and reads its semihosting report::

    pipeline windows=4 samples=3072 ticks=24132 insns=965280 stack=836
    stages features=181520 score=35920

Method and caveats: ``docs/firmware-qemu.md``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from firmware_export.errors import ExportError

from .build import build_firmware
from .qemu import QemuSensor
from .sizes import SectionSizes

__all__ = ["PipelineFigures", "measure_pipeline", "parse_pipeline_report"]

_LINE = re.compile(r"^(pipeline|stages)((?: [a-z_]+=\d+)+)$")
_REQUIRED = ("windows", "samples", "ticks", "insns", "stack", "features", "score")


@dataclass(frozen=True)
class PipelineFigures:
    """What the ``pipeline`` image costs.

    Attributes
    ----------
    sizes : SectionSizes
        Its sections (flash, static RAM).
    windows : int
        Windows timed in steady state.
    instructions : int
        Guest instructions of the pushes that scored them (ingest of ``hop`` samples per
        window included); resolution 40.
    stack_bytes : int
        Stack high-water mark of the pipeline.
    features_instructions, score_instructions : int
        One window's ``tinypdm_features_compute`` and ``tinypdm_score_features``.
    speed_instructions : int
        One ``tinypdm_speed_estimate`` (runs once per speed hop; 0: not reported).
    worst_instructions : int
        The most instructions one timed window took (its ``hop`` samples' pushes since the
        previous window: ingest, a speed estimate falling due, scoring; 0: not reported).
    """

    sizes: SectionSizes
    windows: int
    instructions: int
    stack_bytes: int
    features_instructions: int
    score_instructions: int
    speed_instructions: int = 0
    worst_instructions: int = 0

    @property
    def flash_bytes(self) -> int:
        """``.text + .rodata + .data``."""
        return self.sizes.flash

    @property
    def ram_bytes(self) -> int:
        """``.data + .bss`` + the measured stack."""
        return self.sizes.ram(self.stack_bytes)

    @property
    def instructions_per_window(self) -> float:
        return self.instructions / self.windows


def parse_pipeline_report(console: str) -> dict[str, int]:
    """The fields of the ``pipeline`` and ``stages`` lines of the image's console output.

    Raises
    ------
    ExportError
        A line or field is missing.
    """
    fields: dict[str, int] = {}
    for line in console.splitlines():
        match = _LINE.match(line.strip())
        if match is not None:
            for item in match.group(2).split():
                key, value = item.split("=", 1)
                fields[key] = int(value)
    missing = [key for key in _REQUIRED if key not in fields]
    if missing:
        raise ExportError(f"the pipeline image reported no {', '.join(missing)}")
    return fields


def measure_pipeline(
    bundle_or_c_dir: str | Path, out_dir: str | Path | None = None, *, timeout: float = 120.0
) -> PipelineFigures:
    """Build the ``pipeline`` image of a bundle, run it under QEMU, return its figures.

    Parameters
    ----------
    bundle_or_c_dir : path
        An exported bundle or C directory (:func:`~firmware_export.firmware.build_firmware`).
    out_dir : path, optional
        Where to keep ``pipeline.elf``/``.map`` (default: a temporary directory).
    timeout : float
        Seconds the run may take.

    Raises
    ------
    ExportError
        No toolchain or QEMU, the build failed, or the image did not report.
    """
    with tempfile.TemporaryDirectory(prefix="tinypdm-pipeline-") as tmp:
        result = build_firmware(bundle_or_c_dir, out_dir or tmp, target="pipeline")
        with QemuSensor(result.elf) as sensor:
            sensor.open_serial()
            status = sensor.wait(timeout)
            console = sensor.console
        if status != 0:
            last = console.strip().splitlines()[-1:] or ["no output"]
            raise ExportError(f"the pipeline image exited with status {status}: {last[0]}")
        fields = parse_pipeline_report(console)
    if fields["windows"] < 1:
        raise ExportError("the pipeline image timed no window")
    return PipelineFigures(
        sizes=result.sizes,
        windows=fields["windows"],
        instructions=fields["insns"],
        stack_bytes=fields["stack"],
        features_instructions=fields["features"],
        score_instructions=fields["score"],
        speed_instructions=fields.get("speed", 0),
        worst_instructions=fields.get("worst", 0),
    )

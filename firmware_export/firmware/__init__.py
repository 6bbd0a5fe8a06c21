"""The reference firmware for QEMU's mps2-an386 (Cortex-M4F) and its Python runner.

Build images with :func:`build_firmware` (Debian's ``arm-none-eabi-gcc``), run them with
:class:`QemuSensor` (``qemu-system-arm -icount shift=0``), talk to the sensor firmware with
:class:`FirmwareLink` / :func:`run_sensor_firmware`, or put it behind a virtual sensor's pty
with :func:`run_firmware_sensor`. Method and figures: ``docs/firmware-qemu.md``.
"""

from __future__ import annotations

from .build import TARGETS, BuildResult, build_firmware, find_model_sources, toolchain_available
from .firmware_sensor import FirmwareScorer, run_firmware_sensor
from .measure import PipelineFigures, measure_pipeline, parse_pipeline_report
from .qemu import QemuSensor, qemu_available
from .session import (
    FirmwareLink,
    FirmwareRun,
    PerfReport,
    parse_report,
    read_available,
    run_sensor_firmware,
    samples_frames,
)
from .sizes import SectionSizes, parse_size_output, section_sizes

__all__ = [
    "TARGETS",
    "BuildResult",
    "FirmwareLink",
    "FirmwareRun",
    "FirmwareScorer",
    "PerfReport",
    "PipelineFigures",
    "QemuSensor",
    "SectionSizes",
    "build_firmware",
    "find_model_sources",
    "measure_pipeline",
    "parse_pipeline_report",
    "parse_report",
    "parse_size_output",
    "qemu_available",
    "read_available",
    "run_firmware_sensor",
    "run_sensor_firmware",
    "samples_frames",
    "section_sizes",
    "toolchain_available",
]

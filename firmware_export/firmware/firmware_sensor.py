"""The reference firmware in QEMU as the on-board scorer of a virtual sensor.

``tinypdm simulate --firmware BUNDLE`` streams a simulated or replayed signal on a pty like
any virtual sensor (:mod:`vibration.acquisition.virtual_sensor`), and every SAMPLES block also goes
to
the Cortex-M4 firmware built from the bundle, running in QEMU: the SCORE frames the
firmware computes follow the block on the pty. A gateway reading the pty therefore sees
what a real sensor running that bundle would send (HELLO flag bit 0 set, the model's
SHA-256 in the firmware's HELLO) plus the raw samples for shadow scoring.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from firmware_export.errors import ExportError
from vibration.protocol import Body, Score, Text

from .build import build_firmware
from .session import FirmwareLink, PerfReport, parse_report

if TYPE_CHECKING:
    from vibration.acquisition.virtual_sensor import (
        RunOptions,
        SampleSource,
        SensorReport,
        VirtualSensorConfig,
    )

__all__ = ["FirmwareScorer", "run_firmware_sensor"]


class FirmwareScorer:
    """A :class:`vibration.acquisition.virtual_sensor.Scorer` backed by the firmware in QEMU.

    Each call sends the block as one SAMPLES frame (first sample at
    ``t_us_last - (n - 1) / rate``) and returns the firmware's SCORE frames for it.

    Parameters
    ----------
    link : FirmwareLink
        A started link (its ``set_scale`` already sent, if needed).
    sample_rate : float
        Hz of the blocks.
    include_perf : bool
        Also return the firmware's ``perf`` TEXT frames (level 0, debug).
    """

    def __init__(self, link: FirmwareLink, sample_rate: float, *, include_perf: bool = False):
        if not sample_rate > 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")
        self.link = link
        self.sample_rate = float(sample_rate)
        self.include_perf = include_perf
        self.perf: list[PerfReport] = []
        self.warnings: list[str] = []

    def __call__(self, samples: np.ndarray, t_us_last: int) -> Sequence[Body]:
        n = int(np.asarray(samples).shape[0])
        t_first = max(0, int(t_us_last) - round((n - 1) * 1e6 / self.sample_rate))
        # Several frames in flight: QEMU's UART takes one byte per event-loop turn, so
        # waiting for each acknowledgement would halve the throughput. Scores come back a
        # frame or two later, in order; flush() collects the last ones.
        return self._keep(self.link.push(samples, t_first, wait=False))

    def flush(self) -> Sequence[Body]:
        """The scores of the frames still in flight (called once, at the end of a run)."""
        return self._keep(self.link.wait_all())

    def _keep(self, bodies: Sequence[Body]) -> list[Body]:
        out: list[Body] = []
        for body in bodies:
            if isinstance(body, Score):
                out.append(body)
            elif isinstance(body, Text):
                parsed = parse_report(body.text)
                if parsed is not None and parsed[0] == "perf":
                    self.perf.append(PerfReport.from_fields(parsed[1]))
                    if self.include_perf:
                        out.append(body)
                elif body.level >= Text.WARNING:
                    self.warnings.append(body.text)
                    out.append(body)
        return out


def run_firmware_sensor(
    bundle_dir: str | Path,
    link_path: str | Path,
    source: SampleSource,
    *,
    config: VirtualSensorConfig | None = None,
    build_dir: str | Path | None = None,
    include_perf: bool = False,
    options: RunOptions | None = None,
) -> SensorReport:
    """Stream ``source`` on a pty at ``link_path``, scored by the bundle's firmware in QEMU.

    Parameters
    ----------
    bundle_dir : path
        An exported bundle or C directory (:func:`~firmware_export.firmware.build_firmware`).
    link_path : path
        Symlink to create to the pty's slave (:class:`vibration.acquisition.serial_link.PtyLink`).
    source : SampleSource
        :class:`vibration.acquisition.virtual_sensor.SimulatedSource`, ``ArraySource``, ... Its
        ``sample_rate`` must be the model's; its ``scale`` is sent to the firmware.
    config : VirtualSensorConfig, optional
        How the sensor talks; its ``firmware_version`` is replaced by the firmware's.
    build_dir : path, optional
        Where to build ``sensor.elf`` (default: a temporary directory).
    options : RunOptions, optional
        As :func:`vibration.acquisition.virtual_sensor.run_on_pty`.
    include_perf : bool
        Forward the firmware's ``perf`` TEXT frames too.

    Returns
    -------
    SensorReport
        With ``extra["firmware"]``: exit status, the firmware's ``stats`` line, windows
        scored, worst instructions per window, stack high-water mark.

    Raises
    ------
    ExportError
        The bundle does not build, QEMU fails, or the source's rate is not the model's.
    """
    from vibration.acquisition.virtual_sensor import VirtualSensor, VirtualSensorConfig, run_on_pty

    cfg = config if config is not None else VirtualSensorConfig()
    if cfg.encoding != "binary":
        raise ValueError("the firmware sensor speaks the binary protocol, got encoding 'ascii'")
    with tempfile.TemporaryDirectory(prefix="tinypdm-fw-") as tmp:
        out_dir = Path(build_dir) if build_dir is not None else Path(tmp)
        elf = build_firmware(bundle_dir, out_dir, target="sensor").elf
        with FirmwareLink(elf, max_in_flight=4) as link:
            hello = link.hello
            model_rate = float(hello.sample_rate_hz)
            if abs(float(source.sample_rate) - model_rate) > 1e-6 * model_rate:
                raise ExportError(
                    f"the model expects {model_rate:g} Hz, the source streams "
                    f"{float(source.sample_rate):g} Hz: resample it (simulate --rate)"
                )
            link.set_scale(float(source.scale), axes=int(source.axes), sample_rate=model_rate)
            if hello.firmware_version:
                cfg = dataclasses.replace(cfg, firmware_version=hello.firmware_version[:16])
            scorer = FirmwareScorer(link, model_rate, include_perf=include_perf)
            sensor = VirtualSensor(cfg, source, scorer=scorer)
            report = run_on_pty(
                link_path,
                sensor,
                options,
            )
            _, stats = link.finish()
            per_window = [p.instructions_per_window for p in scorer.perf if p.windows]
            report.extra["firmware"] = {
                "elf": str(elf) if build_dir is not None else "",
                "device_id": hello.device_id,
                "model_sha256": bytes(hello.model_sha256).hex(),
                "exit_status": link.exit_status,
                "stats": stats,
                "windows": sum(p.windows for p in scorer.perf),
                "instructions_per_window_max": max(per_window) if per_window else None,
                "stack_bytes": stats.get("stack"),
                "warnings": scorer.warnings,
            }
    return report

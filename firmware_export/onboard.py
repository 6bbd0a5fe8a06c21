"""A virtual sensor that scores on board with an exported bundle.

Two engines run the same C pipeline:

* ``"qemu"``: the reference firmware built for the Cortex-M4 and run in QEMU
  (:func:`firmware_export.firmware.run_firmware_sensor`): what a real sensor would send;
* ``"host"``: the bundle's C compiled for this machine and called in-process
  (:class:`HostScorer`): the same numbers, for machines without QEMU or the ARM toolchain,
  and cheap enough to run a fleet of sensors.

``"auto"`` takes QEMU when ``qemu-system-arm`` and ``arm-none-eabi-gcc`` are installed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from firmware_export.errors import ExportError
from firmware_export.runtime.host_build import RESULT_COL
from vibration.protocol import Body, Score

if TYPE_CHECKING:
    from vibration.acquisition.virtual_sensor import (
        RunOptions,
        SampleSource,
        SensorReport,
        VirtualSensorConfig,
    )

__all__ = ["ENGINES", "HostScorer", "choose_engine", "run_onboard_sensor"]

ENGINES = ("auto", "qemu", "host")


def choose_engine(engine: str) -> str:
    """Resolve ``"auto"`` to ``"qemu"`` or ``"host"``; check the others are possible."""
    from firmware_export.firmware import qemu_available, toolchain_available

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    qemu_ok = qemu_available() and toolchain_available()
    if engine == "auto":
        return "qemu" if qemu_ok else "host"
    if engine == "qemu" and not qemu_ok:
        raise ExportError(
            "the qemu engine needs qemu-system-arm and arm-none-eabi-gcc "
            "(Debian: qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi)"
        )
    return engine


class HostScorer:
    """A :class:`vibration.acquisition.virtual_sensor.Scorer` running the bundle's C pipeline on
    the host.

    Parameters
    ----------
    pipeline : HostPipeline
        From :meth:`firmware_export.runtime.scorer.Int8Scorer.pipeline`, its scale already set.
    sample_rate : float
        Hz of the blocks (to date each window's last sample).
    """

    def __init__(self, pipeline: Any, sample_rate: float) -> None:
        if not sample_rate > 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")
        self.pipeline = pipeline
        self.sample_rate = float(sample_rate)
        self._t0_us: int | None = None  # device time of sample index 0
        self.windows = 0

    def __call__(self, samples: np.ndarray, t_us_last: int) -> Sequence[Body]:
        n = int(np.asarray(samples).shape[0])
        us_per_sample = 1e6 / self.sample_rate
        if self._t0_us is None:
            self._t0_us = max(0, int(t_us_last) - round((n - 1) * us_per_sample))
        rows = self.pipeline.push(samples)
        self.windows += len(rows)
        c = RESULT_COL
        return [
            Score(
                t_us=self._t0_us + round(float(r[c["sample_index"]]) * us_per_sample),
                score=float(r[c["score"]]),
                threshold=float(r[c["threshold"]]),
                rms=float(r[c["rms"]]),
                kurtosis=float(r[c["kurtosis"]]),
                alarm=bool(r[c["alarm"]]),
                over=bool(r[c["over"]]),
            )
            for r in rows
        ]


def run_onboard_sensor(
    bundle_dir: str | Path,
    link_path: str | Path,
    source: SampleSource,
    *,
    engine: str = "auto",
    config: VirtualSensorConfig | None = None,
    options: RunOptions | None = None,
) -> SensorReport:
    """Stream ``source`` on a pty at ``link_path`` with SCORE frames from the bundle.

    The sensor's HELLO carries the bundle's model SHA-256 and sets flag bit 0 (scores on
    board); SAMPLES frames are still sent, so a gateway may shadow-score them.

    Parameters
    ----------
    bundle_dir : path
        An exported bundle (``tinypdm export``).
    link_path : path
        Symlink to create to the pty's slave.
    source : SampleSource
        Its ``sample_rate`` must be the model's.
    engine : {"auto", "qemu", "host"}
        See the module docstring.
    config : VirtualSensorConfig, optional
    options : RunOptions, optional
        As :func:`vibration.acquisition.virtual_sensor.run_on_pty`.

    Returns
    -------
    SensorReport
        With ``extra["engine"]`` and ``extra["windows"]``.

    Raises
    ------
    ExportError
        Not a bundle, a rate other than the model's, or the engine is not available.
    """
    from firmware_export.runtime.bundle import load_bundle
    from vibration.acquisition.virtual_sensor import VirtualSensor, VirtualSensorConfig, run_on_pty

    chosen = choose_engine(engine)
    bundle = load_bundle(bundle_dir)
    model_rate = float(bundle.feature_config.sample_rate)
    if abs(float(source.sample_rate) - model_rate) > 1e-6 * model_rate:
        raise ExportError(
            f"the model expects {model_rate:g} Hz, the source streams "
            f"{float(source.sample_rate):g} Hz: resample it (simulate --rate)"
        )
    sha = hashlib.sha256(bundle.tflite_bytes()).digest()
    cfg = dataclasses.replace(config or VirtualSensorConfig(), model_sha256=sha)
    if chosen == "qemu":
        from firmware_export.firmware import run_firmware_sensor

        report = run_firmware_sensor(
            bundle_dir,
            link_path,
            source,
            config=cfg,
            options=options,
        )
        report.extra["windows"] = report.extra.get("firmware", {}).get("windows", 0)
    else:
        from firmware_export.runtime.scorer import Int8Scorer

        pipe = Int8Scorer(bundle_dir).pipeline()
        pipe.set_scale(float(source.scale))
        scorer = HostScorer(pipe, model_rate)
        sensor = VirtualSensor(cfg, source, scorer=scorer)
        report = run_on_pty(
            link_path,
            sensor,
            options,
        )
        report.extra["windows"] = scorer.windows
    report.extra["engine"] = chosen
    return report

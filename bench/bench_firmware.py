"""Cortex-M4 budget of the inference pipeline: flash, RAM, instructions per window.

Builds the firmware for QEMU's mps2-an386 with Debian's arm-none-eabi-gcc (-Os, hard
float) and runs it under ``qemu-system-arm -icount shift=0`` (one instruction = 1 ns of
virtual time; the firmware reads SysTick around the pipeline call, 40-instruction
resolution). Method: docs/firmware-qemu.md.

* ``pipeline`` image: the pipeline with the model and a tiny main (the size the project
  budgets: flash <= 32 KB, RAM = .data + .bss + measured stack <= 12 KB (8 KB before the
  speed estimator's 4 KB buffer), for a 1024-sample window), and its instructions per
  window averaged over whole speed-estimate periods (ingest of ``hop`` samples and the
  speed estimator included; goal <= 400k, stretch 200k).
* ``sensor`` image: the reference firmware (UART, frames, decoder): sizes, worst
  instructions per window over a stream, scores bit-exact with the host build, and how
  fast QEMU's UART moves the samples (machine-dependent, informational).

The model: the detector's default int8 autoencoder 19-32-16-8-16-32-19 (random weights:
size and cost do not depend on training; needs TensorFlow to quantise), or with
``--quick`` the golden 19-12-6-12-19 model of tests/data (no TensorFlow). Pass a bundle
directory to measure an exported model instead: ``python -m bench.bench_firmware BUNDLE``.
``--all``: the generated model with every optional stage on (speed-conditioned mean with a
``logf`` per window, speed envelope, one-sided inputs and energy term, ISO zone of group 1,
latching lifecycle with a minimum on-time): the worst-case configuration.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._table import Row, print_rows

TOPIC = "firmware"
FLASH_GOAL = 32 * 1024
# 8 KB before the tachless speed estimator; issue 12 allows 12 KB for its 1 s buffer of
# decimated samples (docs/features.md, "Shaft speed (tachless)").
RAM_GOAL = 12 * 1024
INSNS_GOAL = 400_000
INSNS_STRETCH = 200_000
_GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden_dense_pc.tflite"


def _model_tflite(quick: bool) -> tuple[bytes, str]:
    if quick:
        return _GOLDEN.read_bytes(), "golden 19-12-6-12-19 int8 (tests/data)"
    from firmware_export.exporter.quantize import QuantConfig, quantize_keras
    from firmware_export.exporter.testing import dense_autoencoder

    model = dense_autoencoder(19, (32, 16, 8), seed=0)
    rep = np.random.default_rng(0).normal(0.0, 1.0, (400, 19)).astype(np.float32)
    return quantize_keras(model, rep, QuantConfig(per_channel=True)), "19-32-16-8-16-32-19 int8"


def _c_tree(dest: Path, tflite: bytes, everything: bool = False) -> Path:
    from firmware_export.exporter.codegen import FirmwareSpec
    from firmware_export.exporter.sources import write_c_sources
    from firmware_export.exporter.testing import synthetic_windows
    from firmware_export.runtime.tflite_model import read_tflite
    from vibration.learning.features import FeatureConfig, window_features

    config = FeatureConfig()
    features = window_features(synthetic_windows(config, 8, seed=1) * 0.001, config)
    extra: dict[str, object] = {}
    if everything:
        extra = {
            "feature_slope": tuple(np.linspace(-0.5, 0.5, config.n_features).tolist()),
            "speed_u0": float(np.log(1500.0)),
            "speed_envelope": (300.0, 3600.0),
            "one_sided": True,
            "z_max": 10.0,
            "iso_group": 1,
            "foundation": "rigid",
            "alarm_latch": True,
            "alarm_min_on_windows": 5,
        }
    spec = FirmwareSpec(
        model=read_tflite(tflite, "bench_model"),
        feature_config=config,
        feature_mean=features.mean(axis=0),
        feature_scale=np.maximum(features.std(axis=0), 1e-3),
        threshold=1.0,
        alarm_k=2,
        alarm_n=3,
        sample_scale=0.001,
        target="cortex-m4",
        **extra,  # type: ignore[arg-type]
    )
    write_c_sources(dest, spec, tflite=tflite)
    return dest


def _max_ulp(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in units in the last place between float32 arrays."""
    ia = a.astype(np.float32).view(np.int32).astype(np.int64)
    ib = b.astype(np.float32).view(np.int32).astype(np.int64)
    return int(np.max(np.abs(ia - ib))) if ia.size else 0


def _row(
    metric: str, value: float | str, unit: str = "", goal: str = "", met: bool | None = None
) -> Row:
    return Row(TOPIC, metric, value, unit, goal, met)


def _at_most(metric: str, value: float, unit: str, limit: int) -> Row:
    """A row with the goal ``value <= limit``."""
    return Row(TOPIC, metric, value, unit, f"<= {limit}", value <= limit)


def run(quick: bool = False, bundle: Path | None = None, everything: bool = False) -> list[Row]:
    from firmware_export.exporter.testing import synthetic_windows
    from firmware_export.firmware import (
        build_firmware,
        measure_pipeline,
        qemu_available,
        run_sensor_firmware,
        toolchain_available,
    )
    from vibration.learning.features import FeatureConfig

    if not toolchain_available():
        return [_row("skipped", "arm-none-eabi-gcc not found (gcc-arm-none-eabi)")]
    if not qemu_available():
        return [_row("skipped", "qemu-system-arm not found (qemu-system-arm)")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-fw-") as tmp:
        root = Path(tmp)
        if bundle is None:
            tflite, model_name = _model_tflite(quick)
            src = _c_tree(root / "c", tflite, everything)
            if everything:
                model_name += ", every stage on (--all)"
        else:
            src, model_name = Path(bundle), f"bundle {bundle}"
        rows.append(_row("model", model_name))

        fig = measure_pipeline(src, root / "fw")
        s = fig.sizes
        per_window = fig.instructions_per_window
        rows += [
            _at_most("pipeline image: flash (.text+.rodata+.data)", s.flash, "B", FLASH_GOAL),
            _row("  .text / .rodata / .data", f"{s.text} / {s.rodata} / {s.data}", "B"),
            _at_most("pipeline image: RAM (.data+.bss+stack used)", fig.ram_bytes, "B", RAM_GOAL),
            _row("  .bss / stack high-water", f"{s.bss} / {fig.stack_bytes}", "B"),
            _at_most(
                "pipeline: instructions per 1024-sample window", per_window, "insn", INSNS_GOAL
            ),
            _at_most(
                "pipeline: instructions per window (stretch)", per_window, "insn", INSNS_STRETCH
            ),
            _row(
                "  of which features (stats, Hann, FFT, bands, log10)",
                fig.features_instructions,
                "insn",
            ),
            _row("  of which standardise + int8 model + score", fig.score_instructions, "insn"),
            _row("  one speed estimate (once per speed hop)", fig.speed_instructions, "insn"),
            _at_most(
                "pipeline: worst instructions of one window",
                fig.worst_instructions,
                "insn",
                INSNS_GOAL,
            ),
            _row("  windows timed (whole speed periods)", fig.windows, ""),
        ]

        sensor = build_firmware(src, root / "fw", target="sensor")
        config = FeatureConfig()
        n_windows = 8 if quick else 32
        signal = synthetic_windows(config, n_windows, seed=3).reshape(-1)
        start = time.perf_counter()
        fw = run_sensor_firmware(sensor.elf, signal, sample_rate=config.sample_rate)
        wall = time.perf_counter() - start
        realtime = (signal.size / config.sample_rate) / wall
        worst = fw.instructions_per_window
        sizes = sensor.sizes
        rows += [
            _row("sensor firmware: flash", sizes.flash, "B"),
            _row(
                "sensor firmware: RAM (.data+.bss+stack used)", sizes.ram(fw.stack_high_water), "B"
            ),
            _at_most("sensor firmware: worst instructions per window", worst, "insn", INSNS_GOAL),
        ]
        if bundle is None:
            from firmware_export.runtime.host_build import HostLibrary, build_host_library

            host = HostLibrary(build_host_library(src, root / "host"))
            expected = host.pipeline().push(signal)[:, 1].astype(np.float32)
            got = fw.score_values
            same = int(np.sum(got == expected)) if got.shape == expected.shape else 0
            ulps = _max_ulp(got, expected) if got.shape == expected.shape else -1
            value = f"{same}/{len(expected)} equal, max {ulps} ulp"
            exact = same == len(expected)
            rows.append(
                _row("sensor scores == host C scores (bit-exact)", value, "", "all equal", exact)
            )
        rows.append(
            _row("QEMU UART link speed (12 kHz x 1 axis, this machine)", realtime, "x real time")
        )
    return rows


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a not in ("--quick", "--all")]
    print_rows(
        run(
            quick="--quick" in sys.argv,
            bundle=Path(args[0]) if args else None,
            everything="--all" in sys.argv,
        )
    )

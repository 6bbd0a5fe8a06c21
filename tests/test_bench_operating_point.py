"""bench/bench_operating_point.py end to end on tiny UESTC- and FEMTO-shaped data (quick mode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from bench._table import format_table
from bench.bench_operating_point import run

RATE = 20000


def _uestc(root: Path, speeds: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    t = np.arange(12000) / RATE
    for rpm in speeds:
        shaft = np.sin(2 * np.pi * rpm / 60 * t)
        for k in (1, 2, 3):
            x = 0.1 * shaft + 0.05 * rng.normal(size=t.size)
            savemat(root / f"N_{rpm}_{k}.mat", {"Data": x[:, None], "SampleFrequency": RATE})
        for c in ("B", "I", "O"):
            x = 0.1 * shaft + 0.05 * rng.normal(size=t.size)
            x[:: int(RATE / (rpm / 60 * 5))] += 3.0  # impacts at 5x the shaft rate
            savemat(root / f"{c}_{rpm}_1.mat", {"Data": x[:, None], "SampleFrequency": RATE})


def _femto(root: Path) -> None:
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    n = 100
    growth = np.where(np.arange(n) < 80, 1.0, np.linspace(1.0, 20.0, n))[:, None]
    np.savez(
        root / "Bearing1_1.npz",
        horiz=(0.2 * growth * rng.normal(size=(n, 2560))).astype(np.float32),
        vert=(0.2 * rng.normal(size=(n, 2560))).astype(np.float32),
        clock_s=36000.0 + 10.0 * np.arange(n),
        sample_rate=np.float64(25600.0),
    )


@pytest.mark.tensorflow
def test_bench_operating_point_quick_on_tiny_data(tmp_path):
    _uestc(tmp_path / "uestc", (800, 1400))
    _femto(tmp_path / "femto")
    rows = run(quick=True, data_dir=tmp_path, epochs=2, speeds=(800, 1400), bearings=("1_1", "9_9"))
    metrics = [r.metric for r in rows]
    detectors = ("autoencoder", "pca", "iforest", "gmm")
    for name in detectors:
        assert any(m.startswith(f"(a) {name} train 800+1400: healthy 800 rpm") for m in metrics)
        assert any(m.startswith(f"(a) {name} train 800+1400: faults 1400 rpm") for m in metrics)
        assert any(m.startswith(f"(b) {name} train 800: healthy at 1400") for m in metrics)
        assert any(m.startswith(f"(b) {name} train 1400: faults at 1400 rpm") for m in metrics)
        assert any(m.startswith(f"(c) {name} Bearing1_1 (0.28 h, 100 snapshots)") for m in metrics)
    assert any(
        "Bearing9_9" in m and "missing" in str(r.value) for m, r in zip(metrics, rows, strict=True)
    )
    table = format_table(rows)
    assert table.count("\n") == len(rows) + 1
    assert "(a) autoencoder train 800+1400: healthy 800 rpm (seen, " in table

"""The whole pipeline on real data: CWRU normal (48 kHz -> 12 kHz) and three fault files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibration.data.dataset import quantize, write_recording
from vibration.data.importers import import_files, read_signal
from vibration.learning.evaluation import AUTOENCODER, evaluate_model
from vibration.learning.model_dir import load_model_dir
from vibration.learning.training import train_model

FAULT_FILES = [
    "12k_Drive_End_B007_0_118.mat",
    "12k_Drive_End_IR007_0_105.mat",
    "12k_Drive_End_OR007@6_0_130.mat",
]


@pytest.mark.slow
@pytest.mark.tensorflow
def test_train_cwru_detects_faults_without_false_alarms(cwru_dir: Path, tmp_path: Path):
    normal = read_signal(cwru_dir / "normal_0_97.mat", rate=12000.0)
    assert normal.sample_rate == 12000.0
    samples = normal.samples[:, 0]
    cut = int(0.6 * samples.size)  # train on the first 60 %, test on the rest
    for name, part in (("normal-train", samples[:cut]), ("normal-test", samples[cut:])):
        q, scale = quantize(part)
        write_recording(
            tmp_path / "normal", name, q, sample_rate=12000.0, scale=scale, label="normal"
        )
    import_files([cwru_dir / f for f in FAULT_FILES], tmp_path / "faults")

    summary = train_model([tmp_path / "normal" / "normal-train"], tmp_path / "model", seed=0)
    assert summary["n_windows_train"] + summary["n_windows_held_out"] == 70

    model = load_model_dir(tmp_path / "model", keras=False)
    evaluation = evaluate_model(model, [tmp_path / "normal" / "normal-test", tmp_path / "faults"])
    results = {r.windows.name: r.figures[AUTOENCODER] for r in evaluation.recordings}
    assert results["normal-test"]["false_alarm_rate"] <= 0.05
    assert results["normal-test"]["alarms"] == 0
    faults = {k: v for k, v in results.items() if k != "normal-test"}
    assert len(faults) == 3
    for name, figures in faults.items():
        assert figures["detection_rate"] > 0.9, name
        assert figures["auc"] > 0.99, name

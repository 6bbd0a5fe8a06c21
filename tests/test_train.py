"""``tinypdm train`` end to end on small simulated datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vibration.app.cli import main
from vibration.data.dataset import open_recording
from vibration.data.simulator import SimulatorConfig, simulate_recording
from vibration.learning.model_dir import load_model_dir
from vibration.learning.training import train_model

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Path:
    """12 s of healthy bearing and 3 s of an outer-race fault, 12 kHz."""
    root = tmp_path_factory.mktemp("plant")
    simulate_recording(root, "healthy-a", SimulatorConfig(seed=1), 12.0)
    simulate_recording(root, "outer", SimulatorConfig(fault="outer", severity=0.8, seed=2), 3.0)
    return root


@pytest.fixture(scope="module")
def later(tmp_path_factory) -> Path:
    """Healthy data recorded later: another seed, 8 s."""
    root = tmp_path_factory.mktemp("later")
    simulate_recording(root, "healthy-b", SimulatorConfig(seed=3, rpm=1760.0), 8.0)
    return root


@pytest.fixture(scope="module")
def trained(plant, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("models") / "m1"
    assert main(["train", str(plant), "--out", str(out), "--epochs", "12", "--json"]) == 0
    return out, json.loads((out / "model.json").read_text())["training"]


def test_train_cli_writes_a_model_and_prints_json(plant, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", str(plant), "--out", str(out), "--epochs", "3", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "ignoring 1 recording not labelled 'normal' (outer: 1)" in captured.err
    assert summary["model_dir"] == str(out)
    assert summary["label"] == "normal"
    healthy = open_recording(plant / "healthy-a")
    assert summary["recordings"] == [
        {
            "name": "healthy-a",
            "path": str(plant / "healthy-a"),
            "sha256": healthy.meta.sha256,
            "n_windows": 280,
        }
    ]
    assert summary["ignored"] == [{"name": "outer", "label": "outer"}]
    assert summary["n_windows_train"] + summary["n_windows_held_out"] == 280
    # m12's blocked hold-out: the speed estimator's first 24 windows (1 s buffer) have no
    # speed and are left out; of the other 256, blocks 2 and 6 of 8 (2 x 32) are held out
    assert summary["n_windows_held_out"] == 64
    assert summary["epochs_run"] == 3 and summary["seed"] == 0
    assert summary["n_parameters"] < 4000
    assert summary["timings_s"]["total"] >= summary["timings_s"]["fit"] > 0
    model = load_model_dir(out, keras=False)
    assert model.feature_config.sample_rate == 12000.0
    assert model.threshold == summary["threshold"] > summary["held_out_score_max"]


def test_train_model_reports_epochs_and_is_reproducible(plant, trained, tmp_path):
    epochs = []
    summary = train_model(
        [plant], tmp_path / "again", epochs=12, on_epoch=lambda e, logs: epochs.append(e)
    )
    assert epochs == list(range(1, 13))
    first, _ = trained
    assert summary["threshold"] == load_model_dir(first, keras=False).threshold
    with np.load(first / "weights.npz") as a, np.load(tmp_path / "again" / "weights.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_train_from_fine_tunes_on_new_normal_data(trained, later, tmp_path, capsys):
    base_dir, _ = trained
    out = tmp_path / "tuned"
    args = ["train", str(later), "--from", str(base_dir), "--out", str(out), "--epochs", "4"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    base, tuned = load_model_dir(base_dir, keras=False), load_model_dir(out, keras=False)
    assert summary["fine_tuned_from"]["path"] == str(base_dir)
    assert summary["fine_tuned_from"]["threshold"] == base.threshold
    assert [r["name"] for r in summary["recordings"]] == ["healthy-b"]
    assert tuned.feature_config == base.feature_config
    np.testing.assert_array_equal(tuned.detector.mean_, base.detector.mean_)
    np.testing.assert_array_equal(tuned.detector.scale_, base.detector.scale_)
    assert tuned.threshold != base.threshold
    assert summary["epochs_run"] == 4
    assert tuned.summary["n_windows_train"] + tuned.summary["n_windows_held_out"] == 186


def test_train_from_refuses_another_sample_rate(trained, tmp_path, capsys):
    other = tmp_path / "slow"
    simulate_recording(other, "healthy-8k", SimulatorConfig(sample_rate=8000.0, seed=4), 3.0)
    out = tmp_path / "never"
    rc = main(["train", str(other), "--from", str(trained[0]), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1
    assert err[0].startswith("tinypdm: error: recording 'healthy-8k' is sampled at 8000 Hz")
    assert "12000 Hz" in err[0]
    assert not out.exists()


def test_train_needs_normal_recordings(plant, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["train", str(plant), "--out", str(out), "--label", "healthy"]) == 1
    err = capsys.readouterr().err
    assert "no recordings labelled 'healthy'" in err and "normal" in err
    assert not out.exists()


def test_train_needs_enough_windows(tmp_path, capsys):
    simulate_recording(tmp_path / "shorter", "blip", SimulatorConfig(seed=5), 0.2)
    assert main(["train", str(tmp_path / "shorter"), "--out", str(tmp_path / "never")]) == 1
    err = capsys.readouterr().err
    assert "only 3 windows" in err and "need at least 8" in err
    assert not (tmp_path / "never").exists()

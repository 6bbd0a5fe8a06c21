"""``tinypdm evaluate``: metric definitions and the JSON/report contract end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vibration.app.cli import main
from vibration.data.simulator import SimulatorConfig, simulate_recording
from vibration.learning.evaluation import detection_figures, roc_auc, roc_curve
from vibration.learning.thresholds import AlarmPolicy
from vibration.learning.training import train_model

FIGURES = {"auc", "detection_rate", "false_alarm_rate", "alarms", "alarms_per_hour"}
ALARM_FIGURES = {"alarm_onsets", "first_alarm_s", "lasting_alarm_s", "chattering_episodes"}


def test_evaluate_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    neg = rng.integers(0, 6, size=80).astype(float)
    pos = rng.integers(2, 9, size=50).astype(float)
    expected = roc_auc_score(np.r_[np.zeros(80), np.ones(50)], np.r_[neg, pos])
    assert roc_auc(neg, pos) == pytest.approx(expected)
    assert roc_auc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert roc_auc([1.0], [1.0]) == 0.5
    with pytest.raises(ValueError, match="both sides"):
        roc_auc([], [1.0])


def test_evaluate_roc_curve_runs_from_corner_to_corner():
    fpr, tpr = roc_curve([0.1, 0.2, 0.3], [0.25, 0.35])
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc([0.1, 0.2, 0.3], [0.25, 0.35]))


def test_evaluate_detection_figures_follow_their_definitions():
    scores = np.array([0.1, 2.0, 2.0, 2.0, 0.1, 0.1, 0.1, 2.0, 2.0, 2.0])
    figures = detection_figures(
        scores,
        1.0,
        AlarmPolicy(3, 4, clear_windows=3),
        hours=0.5,
        is_normal=False,
        reference=np.zeros(5),
    )
    assert figures == {
        "auc": 1.0,
        "detection_rate": 0.6,
        "false_alarm_rate": None,
        "alarms": 2,
        "alarms_per_hour": 4.0,
    }
    normal = detection_figures(
        scores,
        1.0,
        AlarmPolicy(1, 1, clear_windows=1),
        hours=1.0,
        is_normal=True,
        reference=np.zeros(5),
    )
    assert normal["auc"] is None
    assert normal["false_alarm_rate"] == normal["detection_rate"] == 0.6
    assert normal["alarms"] == 2
    # The default clear rule (20 windows below 0.8 x threshold) holds the alarm across
    # the three quiet windows: one alarm, not a chattering pair.
    held = detection_figures(
        scores, 1.0, AlarmPolicy(3, 4), hours=0.5, is_normal=False, reference=np.zeros(5)
    )
    assert held["alarms"] == 1


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    simulate_recording(root, "healthy-a", SimulatorConfig(seed=1), 12.0)
    out = tmp_path_factory.mktemp("models") / "m"
    train_model([root], out, epochs=15)
    return out


@pytest.fixture(scope="module")
def test_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("test")
    simulate_recording(root, "healthy-b", SimulatorConfig(seed=2), 6.0)
    simulate_recording(root, "inner", SimulatorConfig(fault="inner", severity=0.8, seed=3), 3.0)
    simulate_recording(root, "outer", SimulatorConfig(fault="outer", severity=0.8, seed=4), 3.0)
    return root


@pytest.mark.tensorflow
def test_evaluate_cli_json_contract(model, test_set, capsys):
    assert main(["evaluate", str(model), str(test_set), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == str(model)
    assert doc["alarm_policy"] == {"k": 3, "n": 5}
    assert doc["reference"] == {"source": "normal recordings", "n_windows": 139}
    by_name = {r["name"]: r for r in doc["recordings"]}
    assert list(by_name) == ["healthy-b", "inner", "outer"]
    for r in doc["recordings"]:
        assert {"name", "label", "n_windows", "baselines"} | FIGURES <= set(r)
        assert set(r["baselines"]) == {"pca", "iforest", "gmm"}
        assert {"duration_s", "unknown_operating_point_rate", "speed_error"} | ALARM_FIGURES <= set(
            r
        )
        for figures in r["baselines"].values():
            assert set(figures) == FIGURES | ALARM_FIGURES
    healthy = by_name["healthy-b"]
    assert healthy["label"] == "normal" and healthy["auc"] is None
    assert healthy["n_windows"] == 139
    assert healthy["false_alarm_rate"] == healthy["detection_rate"] <= 0.05
    assert healthy["alarms"] == 0
    for fault in ("inner", "outer"):
        r = by_name[fault]
        assert r["label"] == fault and r["n_windows"] == 69
        assert r["false_alarm_rate"] is None
        assert r["auc"] > 0.95 and r["detection_rate"] > 0.9
        assert r["alarms"] >= 1
    assert set(doc["summary"]) == {"autoencoder", "pca", "iforest", "gmm"}
    assert doc["summary"]["autoencoder"]["normal_windows"] == 139


@pytest.mark.tensorflow
def test_evaluate_report_dir_holds_plots_and_markdown(model, test_set, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["evaluate", str(model), str(test_set), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "healthy-b" in out and "autoencoder" in out
    for name in ("timeline.png", "histogram.png", "roc.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (report / "report.md").read_text()
    for needle in ("healthy-b", "inner", "outer", "iforest", "![roc](roc.png)"):
        assert needle in text


@pytest.mark.tensorflow
def test_evaluate_uses_held_out_windows_without_normal_recordings(model, test_set, capsys):
    assert main(["evaluate", str(model), str(test_set / "outer"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    held_out = json.loads((model / "model.json").read_text())["training"]["n_windows_held_out"]
    assert doc["reference"] == {"source": "model held-out windows", "n_windows": held_out}
    assert doc["recordings"][0]["auc"] > 0.95


@pytest.mark.tensorflow
def test_evaluate_refuses_another_sample_rate(model, tmp_path, capsys):
    simulate_recording(tmp_path, "fast", SimulatorConfig(sample_rate=48000.0, seed=5), 1.0)
    assert main(["evaluate", str(model), str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "48000 Hz" in err[0] and "12000 Hz" in err[0]


def test_evaluate_missing_model_dir(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "m").mkdir()
    assert main(["evaluate", str(tmp_path / "m"), str(tmp_path / "data")]) == 1
    assert "not a model directory" in capsys.readouterr().err


def test_evaluate_scores_csv_has_velocity_and_iso_zone(model, tmp_path, capsys):
    # A pure 80 Hz tone of 10 m/s² amplitude: velocity RMS = A / (2 pi f) / sqrt(2).
    from vibration.data.dataset import quantize, write_recording

    fs, f, amplitude = 12000.0, 80.0, 10.0
    t = np.arange(int(3 * fs)) / fs
    noise = np.random.default_rng(0).normal(0.0, 0.01, t.size)
    q, scale = quantize((amplitude * np.sin(2 * np.pi * f * t) + noise)[:, None])
    write_recording(tmp_path / "tone", "tone", q, sample_rate=fs, scale=scale, units="m/s2")
    csv_path = tmp_path / "scores.csv"
    argv = ["evaluate", str(model), str(tmp_path / "tone"), "--no-baselines"]
    assert main([*argv, "--scores", str(csv_path), "--iso-group", "2"]) == 0
    import csv

    rows = list(csv.DictReader(csv_path.read_text("utf-8").splitlines()))
    expected = amplitude / (2 * np.pi * f) / np.sqrt(2) * 1000.0  # 14.07 mm/s
    velocity = np.array([float(r["velocity_rms_mm_s"]) for r in rows])
    np.testing.assert_allclose(velocity, expected, rtol=0.02)
    assert {r["iso_zone"] for r in rows} == {"D"}  # group 2, rigid: above 4.5 mm/s
    # Without a machine group there is no zone, but the velocity is still reported.
    assert main([*argv, "--scores", str(csv_path)]) == 0
    rows = list(csv.DictReader(csv_path.read_text("utf-8").splitlines()))
    assert {r["iso_zone"] for r in rows} == {""}
    assert all(float(r["velocity_rms_mm_s"]) > 0 for r in rows)
    capsys.readouterr()

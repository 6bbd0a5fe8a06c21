"""Run-to-failure evaluation: the alarm policy across a recording's segments in time order,
first/lasting alarm times, chattering, unknown operating points, speed error, --scores CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from vibration.app.cli import main
from vibration.data.dataset import open_recording, quantize, write_recording
from vibration.data.simulator import SimulatorConfig, simulate_recording
from vibration.learning.evaluation import (
    AUTOENCODER,
    WindowInfo,
    alarm_figures,
    alarm_states,
    chattering_episodes,
    evaluate_model,
    speed_error,
)
from vibration.learning.model_dir import load_model_dir
from vibration.learning.report import SCORE_COLUMNS, write_report, write_scores_csv
from vibration.learning.thresholds import AlarmPolicy
from vibration.learning.training import train_model

WINDOW = 1024  # the model's window at 12 kHz: one window per snapshot below
INTERVAL_S = 10.0


def test_evaluate_rtf_chattering_counts_runs_of_three_onsets_within_60_s():
    assert chattering_episodes([]) == 0
    assert chattering_episodes([0.0, 10.0]) == 0
    assert chattering_episodes([0.0, 10.0, 20.0]) == 1
    assert chattering_episodes([0.0, 10.0, 20.0, 30.0, 40.0]) == 1  # one long episode
    assert chattering_episodes([0.0, 10.0, 20.0, 200.0, 210.0, 220.0]) == 2
    assert chattering_episodes([0.0, 30.0, 61.0, 200.0]) == 0  # 61 s > 60 s
    assert chattering_episodes([0.0, 30.0, 60.0]) == 1  # within 60 s, inclusive


def test_evaluate_rtf_first_and_lasting_alarm_on_a_crafted_series():
    over = np.array([0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
    times = 10.0 * np.arange(over.size) + 0.5
    alarm, onsets = alarm_states(over, AlarmPolicy(3, 5))
    assert alarm.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    assert onsets.tolist() == [3, 11]
    figures = alarm_figures(alarm, onsets, times)
    assert figures == {
        "alarm_onsets": [30.5, 110.5],
        "first_alarm_s": 30.5,
        "lasting_alarm_s": 110.5,
        "chattering_episodes": 0,
    }
    # The alarm ended before the last window: no lasting alarm.
    cut = 9
    alarm, onsets = alarm_states(over[:cut], AlarmPolicy(3, 5))
    figures = alarm_figures(alarm, onsets, times[:cut])
    assert figures["first_alarm_s"] == 30.5 and figures["lasting_alarm_s"] is None
    # No alarm at all.
    alarm, onsets = alarm_states(np.zeros(6, bool), AlarmPolicy(3, 5))
    assert alarm_figures(alarm, onsets, times[:6])["first_alarm_s"] is None


def test_evaluate_rtf_unknown_windows_do_not_advance_the_alarm():
    over = np.array([1, 1, 0, 0, 1, 1, 1, 1], dtype=bool)
    unknown = np.array([0, 0, 1, 1, 0, 0, 0, 0], dtype=bool)
    alarm, onsets = alarm_states(over & ~unknown, AlarmPolicy(3, 3), unknown)
    # Windows 2-3 are skipped: 0, 1 and 4 are three consecutive known over windows.
    assert alarm.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert onsets.tolist() == [4]
    over = np.array([1, 1, 1, 1, 1, 1], dtype=bool)
    unknown = np.array([0, 0, 0, 1, 0, 0], dtype=bool)
    alarm, onsets = alarm_states(over & ~unknown, AlarmPolicy(3, 3), unknown)
    assert alarm.tolist() == [0, 0, 1, 0, 1, 1]  # no alarm shown while unknown
    assert onsets.tolist() == [2]  # ... and the alarm that resumes is the same one


def test_evaluate_rtf_speed_error_in_rpm_and_percent():
    assert speed_error(None, 1800.0) is None
    assert speed_error(np.array([1800.0]), None) is None
    err = speed_error(np.array([1790.0, 1800.0, 1818.0, np.nan]), 1800.0)
    assert err["n_windows"] == 3 and err["estimated_rate"] == 0.75
    assert err["median_abs_rpm"] == pytest.approx(10.0)
    assert err["median_abs_pct"] == pytest.approx(100 * 10.0 / 1800.0)
    assert err["p95_abs_rpm"] == pytest.approx(np.quantile([0.0, 10.0, 18.0], 0.95))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    simulate_recording(root, "healthy-a", SimulatorConfig(seed=1), 12.0)
    out = tmp_path_factory.mktemp("models") / "m"
    # A snapshot sensor (one window per snapshot) never fills the speed estimator's 1 s
    # buffer: its model is speed-unaware, like one trained on snapshots.
    train_model([root], out, epochs=15, speed=None)
    return out


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> Path:
    """A run to failure as a snapshot series: 6 healthy snapshots, then 6 faulty ones, each
    one window long and 10 s apart (so a per-segment alarm policy would never alarm)."""
    src = tmp_path_factory.mktemp("src")
    healthy = simulate_recording(src, "h", SimulatorConfig(seed=7), 1.0)
    faulty = simulate_recording(src, "f", SimulatorConfig(fault="outer", severity=1.0, seed=8), 1.0)
    parts = [healthy.physical(0)[i * WINDOW : (i + 1) * WINDOW] for i in range(6)]
    parts += [faulty.physical(0)[i * WINDOW : (i + 1) * WINDOW] for i in range(6)]
    q, scale = quantize(np.concatenate(parts))
    root = tmp_path_factory.mktemp("rtf")
    write_recording(
        root,
        "bearing",
        q,
        sample_rate=12000.0,
        scale=scale,
        gaps=[i * WINDOW for i in range(1, 12)],
        extra={"rpm": 1797.0, "segment_start_s": [INTERVAL_S * i for i in range(12)]},
    )
    return root


@pytest.mark.tensorflow
def test_evaluate_rtf_alarm_runs_across_segments_in_time_order(model, snapshots):
    rec = open_recording(snapshots / "bearing")
    assert len(rec.segments()) == 12
    ev = evaluate_model(load_model_dir(model, keras=False), [snapshots], baselines=False)
    (r,) = ev.recordings
    doc = r.to_dict()
    assert doc["n_windows"] == 12
    over = r.scores[AUTOENCODER] > ev.thresholds[AUTOENCODER]
    assert over.tolist() == [False] * 6 + [True] * 6
    # One window per segment: only a policy running across the segments can alarm.
    assert doc["alarms"] == 1
    onset = 8 * INTERVAL_S + WINDOW / 12000.0  # the third faulty snapshot's window end
    assert doc["alarm_onsets"] == [pytest.approx(onset)]
    assert doc["first_alarm_s"] == pytest.approx(onset)
    assert doc["lasting_alarm_s"] == pytest.approx(onset)
    assert doc["duration_s"] == pytest.approx(11 * INTERVAL_S + WINDOW / 12000.0)
    assert doc["alarms_per_hour"] == pytest.approx(3600.0 / doc["duration_s"])
    assert doc["chattering_episodes"] == 0
    assert doc["unknown_operating_point_rate"] == 0.0
    assert doc["speed_rpm_meta"] == 1797.0 and doc["speed_error"] is None
    assert ev.to_dict()["speed_error"] is None


@pytest.mark.tensorflow
def test_evaluate_rtf_scores_csv_columns(model, snapshots, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["evaluate", str(model), str(snapshots), "--scores", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:8] == ["recording", "t_s", "score", "threshold", "over", "alarm", "state",
                           "speed_rpm"]  # fmt: skip
    assert rows[0] == list(SCORE_COLUMNS)
    assert rows[0][8:] == ["health_index", "velocity_rms_mm_s", "iso_zone", "segment",
                           "speed_rpm_meta"]  # fmt: skip
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(body) == 12
    assert [b["state"] for b in body] == ["ok"] * 6 + ["over", "over"] + ["alarm"] * 4
    assert [b["over"] for b in body] == ["0"] * 6 + ["1"] * 6
    assert [b["alarm"] for b in body] == ["0"] * 8 + ["1"] * 4
    assert [int(b["segment"]) for b in body] == list(range(12))
    assert float(body[3]["t_s"]) == pytest.approx(30.0 + WINDOW / 12000.0)
    for b in body:
        assert b["recording"] == "bearing"
        assert float(b["threshold"]) == pytest.approx(doc["threshold"])
        assert float(b["health_index"]) == pytest.approx(float(b["score"]) / doc["threshold"])
        # Speed-unaware model: no speed; the velocity RMS is always computed, the ISO zone
        # only with a machine group (evaluate --iso-group).
        assert b["speed_rpm"] == "" and b["iso_zone"] == ""
        assert float(b["velocity_rms_mm_s"]) > 0
        assert float(b["speed_rpm_meta"]) == 1797.0


@pytest.mark.tensorflow
def test_evaluate_rtf_window_info_reaches_json_and_csv(model, snapshots, tmp_path):
    def info(windows, config):
        n = windows.n_windows
        unknown = np.zeros(n, dtype=bool)
        unknown[9] = True  # one faulty snapshot at an unknown operating point
        speed = np.full(n, 1797.0 + 18.0)
        speed[0] = np.nan
        return WindowInfo(unknown_operating_point=unknown, speed_rpm=speed)

    ev = evaluate_model(
        load_model_dir(model, keras=False), [snapshots], baselines=False, window_info=info
    )
    doc = ev.to_dict()
    r = doc["recordings"][0]
    assert r["unknown_operating_point_rate"] == pytest.approx(1 / 12)
    # The rate counts the windows the detector judged: 5 over of the 11 known ones.
    assert r["alarms"] == 1 and r["detection_rate"] == pytest.approx(5 / 11)
    assert r["speed_error"]["median_abs_rpm"] == pytest.approx(18.0)
    assert r["speed_error"]["median_abs_pct"] == pytest.approx(100 * 18.0 / 1797.0)
    assert doc["speed_error"]["n_windows"] == 11
    path = write_scores_csv(ev, tmp_path / "s.csv")
    with open(path, newline="") as fh:
        body = list(csv.DictReader(fh))
    assert [b["state"] for b in body][8:] == ["alarm", "unknown", "alarm", "alarm"]
    assert body[9]["over"] == "0" and body[9]["alarm"] == "0"
    assert body[0]["speed_rpm"] == "" and float(body[1]["speed_rpm"]) == 1815.0
    text = write_report(ev, tmp_path / "report").read_text()
    assert "## Alarms over time (autoencoder)" in text
    # bearing: 110.1 s, 1 alarm, first = lasting = 80.1 s, lead 30.0 s, unknown 8.3 %
    assert (
        "| bearing | 110.1 s | 1 | 32.702 | 80.1 s | 80.1 s | 30.0 s | 0 | 8.3 % "
        "| 18.0 / 18.0 rpm |" in text
    )

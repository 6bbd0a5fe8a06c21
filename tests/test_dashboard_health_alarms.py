"""Protocol-v2 fields on the dashboard (AppTest, real SQLite): the health index on log axes,
speed, velocity RMS with its ISO zone, the unknown operating point as its own state with its
advice, the top features named from the model's FeatureConfig, and acknowledging and
shelving alarms from the alarms page."""

from __future__ import annotations

import json
import os
import time

import pytest

from dashboard import data, ui
from dashboard.health import (
    feature_labels,
    format_health,
    health_index,
    iso_zone_label,
    name_features,
)
from dashboard.state import SensorState, classify
from tests.support import app, chart_layers, frame
from vibration.learning.features import FeatureConfig
from vibration.telemetry.stores import Store, shelved_sensors

S = 1_000_000_000
ADVICE = "record healthy data at this operating point and retrain (`tinypdm train --from`)"


def _spec(chart: object) -> dict:
    return json.loads(chart.proto.spec)  # type: ignore[attr-defined]


def test_fleet_page_shows_health_index_velocity_zone_and_unknown_state(fleet):
    at = app()
    df = frame(at, "fleet_table").set_index("sensor")
    assert df.loc["pump-2", "health index"] == pytest.approx(0.9)
    assert df.loc["pump-2", "score"] == pytest.approx(0.9)  # raw score kept for analysts
    latest = fleet.latest_scores()
    for name in ("pump-1", "fan-1"):
        assert df.loc[name, "velocity mm/s"] == pytest.approx(latest[name].velocity_rms_mm_s)
        assert df.loc[name, "ISO zone"] == iso_zone_label(latest[name].iso_zone)
    assert df.loc["pump-1", "ISO zone"] == "C" and df.loc["fan-1", "ISO zone"] == "B"
    assert df.loc["fan-2", "state"] == "unknown operating point"
    assert df.loc["fan-2", "speed rpm"] == pytest.approx(2950.0)
    assert ADVICE in df.loc["fan-2", "why"]
    assert any("tinypdm train --from" in i.value for i in at.info)
    (health,) = at.get("vega_lite_chart")  # the fleet's health index bars
    spec = _spec(health)
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"  # the 1.0 rule


def test_sensor_page_draws_health_index_on_a_log_axis_with_raw_score_in_tooltips(fleet):
    at = app("sensor", sensor="pump-1")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    latest = fleet.latest_scores()["pump-1"]
    assert metrics["health index"] == format_health(latest.score / 0.5)
    assert metrics["speed rpm"] == "1480"
    assert metrics["velocity mm/s"] == f"{latest.velocity_rms_mm_s:.2f} · zone C"
    assert metrics["latest score"] == f"{latest.score:.4g}"
    timeline = at.get("vega_lite_chart")[0]
    spec = _spec(timeline)
    mean = spec["layer"][2]
    assert mean["encoding"]["y"]["field"] == "health"
    assert mean["encoding"]["y"]["scale"]["type"] == "log"
    assert {"score", "threshold"} <= {t["field"] for t in mean["encoding"]["tooltip"]}
    layers = chart_layers(timeline)
    points = layers[2][1]
    assert (points["health"] - points["score"] / points["threshold"]).abs().max() < 1e-9
    assert set(layers[3][1]["alarm_level"]) == {1.0}
    captions = " ".join(c.value for c in at.caption)
    assert "Top contributing features" in captions and "feature \\#9" in captions


def test_sensor_page_names_top_features_from_the_models_feature_config(fleet, tmp_path):
    manifest = tmp_path / "models" / "bundles" / "v2" / "manifest.json"
    config = FeatureConfig()
    manifest.write_text(json.dumps({"model_version": "v2", "feature_config": config.to_dict()}))
    os.utime(manifest, (1_000_001, 1_000_001))
    data.clear_caches()
    at = app("sensor", sensor="pump-1")
    captions = " ".join(c.value for c in at.caption)
    names = feature_labels(config.to_dict())
    assert names is not None
    assert names[9] == "band 2.70-3.00 kHz" and names[17] == "kurtosis"
    assert f"{ui.md(names[9])}, kurtosis" in captions


def test_sensor_page_shows_unknown_operating_point_with_advice(fleet):
    at = app("sensor", sensor="fan-2")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["state"] == "unknown operating point"
    assert metrics["speed rpm"] == "2950"
    assert any(ADVICE in w.value for w in at.warning)


def test_alarms_page_shelve_and_unshelve_write_events(fleet: Store):
    at = app("alarms")
    at.selectbox(key="shelve_sensor").select("pump-1")
    at.text_input(key="shelve_author").input("Ada")
    at.text_input(key="shelve_reason").input("known bearing fault, repair on Monday")
    at.number_input(key="shelve_hours").set_value(2.0)
    before = time.time_ns()
    at.button(key="shelve_submit").click().run()
    assert not at.exception
    (ev,) = [e for e in fleet.events(0, time.time_ns() + S) if e.kind == "alarm_shelved"]
    assert (ev.sensor, ev.asset, ev.author, ev.text) == (
        "pump-1",
        "pump",
        "Ada",
        "known bearing fault, repair on Monday",
    )
    assert ev.expires_ns is not None
    assert 7200 * S - 5 * S <= ev.expires_ns - before <= 7200 * S + 5 * S
    assert "shelved" in at.success[0].value
    alarms = frame(at, "open_alarms")
    assert list(alarms["state"]) == ["shelved"]
    assert alarms["shelved"][0].startswith("shelved by Ada")
    assert list(frame(at, "shelved")["reason"]) == ["known bearing fault, repair on Monday"]
    fleet_row = frame(app(), "fleet_table").set_index("sensor").loc["pump-1"]
    assert fleet_row["why"].endswith("(shelved)")
    at.selectbox(key="unshelve_sensor").select("pump-1")
    at.text_input(key="unshelve_author").input("Bo")
    at.button(key="unshelve_submit").click().run()
    assert not at.exception
    evs = fleet.events(0, time.time_ns() + S, "pump-1")
    assert evs[-1].kind == "alarm_unshelved" and evs[-1].author == "Bo"
    assert shelved_sensors(evs, time.time_ns()) == {}
    assert list(frame(at, "open_alarms")["state"]) == ["alarm"]


def test_alarms_page_shelving_needs_a_reason(fleet: Store):
    at = app("alarms")
    at.text_input(key="shelve_author").input("Ada")
    at.button(key="shelve_submit").click().run()
    assert "reason must not be empty" in " ".join(e.value for e in at.error)
    assert not [e for e in fleet.events(0, time.time_ns() + S) if e.kind == "alarm_shelved"]


def test_alarms_page_acknowledge_records_who_when_comment(fleet: Store):
    at = app("alarms")
    at.text_input(key="ack_author").input("Ada")
    at.text_input(key="ack_text").input("seen")
    before = time.time_ns()
    at.button(key="ack_submit").click().run()
    (ack,) = [e for e in fleet.events(0, time.time_ns() + S) if e.kind == "alarm_acknowledged"]
    assert (ack.author, ack.text) == ("Ada", "seen") and ack.time_ns >= before


# -- pure helpers ----------------------------------------------------------------------------


def test_health_helpers():
    assert health_index(0.5, 0.25) == 2.0
    assert health_index(0.5, 0.0) is None and health_index(None, 1.0) is None
    assert format_health(0.0123) == "0.012" and format_health(None) == "—"
    assert [iso_zone_label(z) for z in (None, 0, 1, 2, 3, 4)] == ["", "", "A", "B", "C", "D"]
    assert iso_zone_label(4, long=True) == "D (damage occurs)"
    assert name_features((2, 40), ["a", "b", "c"]) == ["c", "feature #40"]
    assert name_features((1,), None) == ["feature #1"]
    assert feature_labels(None) is None and feature_labels({"window": -1}) is None


@pytest.mark.parametrize(
    "config",
    [
        FeatureConfig(),
        FeatureConfig(sample_rate=48000.0, window=4096, hop=2048, n_bands=24, f_low_hz=100.0),
        FeatureConfig(sample_rate=1000.0, window=256, hop=128, n_bands=8, f_high_frac=0.5),
    ],
    ids=["default", "48k-24-bands", "1k-8-bands"],
)
def test_feature_labels_match_the_learning_layers_band_edges(config):
    from vibration.learning.features import band_bin_edges

    labels = feature_labels(config.to_dict())
    assert labels is not None and len(labels) == config.n_features
    edges = band_bin_edges(config) * config.sample_rate / config.window
    for j in range(config.n_bands):
        lo, hi = edges[j], edges[j + 1]
        want = (
            f"band {lo / 1000:.2f}-{hi / 1000:.2f} kHz"
            if hi >= 1000
            else f"band {lo:.0f}-{hi:.0f} Hz"
        )
        assert labels[j] == want


def test_state_unknown_operating_point_is_its_own_state():
    now = 10**18
    state, why = classify(
        now_ns=now,
        rules=__import__("dashboard.state", fromlist=["StateRules"]).StateRules(),
        score_time_ns=now,
        score=5.0,
        threshold=1.0,
        point_state=3,
    )
    assert state is SensorState.UNKNOWN_OP and ADVICE in why
    assert state.label == "unknown operating point"

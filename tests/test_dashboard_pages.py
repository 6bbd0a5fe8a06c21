"""Every page of the Streamlit app under AppTest, against a seeded SQLite store.

The store is filled through the store API by ``dashboard.sample_fleet`` (fan-1 ok, pump-1
in alarm, pump-2 warning, motor-1 offline), with a model registry beside it.
"""

from __future__ import annotations

import hashlib
import time

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import data, ui
from dashboard.config import ENV_MODELS, ENV_STORE
from dashboard.sample_fleet import seed_fleet
from dashboard.state import SensorState
from tests.support import APP, app, chart_layers, frame
from vibration.telemetry.stores import ACK_KINDS, SensorStatus, open_store

S = 1_000_000_000


def test_fleet_page_shows_every_sensor_worst_first(fleet):
    at = app()
    assert [t.value for t in at.title] == ["Fleet"]
    df = frame(at, "fleet_table")
    assert list(df["sensor"]) == ["pump-1", "motor-1", "pump-2", "fan-2", "fan-1"]
    assert list(df["state"]) == ["alarm", "offline", "warning", "unknown operating point", "ok"]
    latest = fleet.latest_scores()
    row = df.set_index("sensor")
    assert row.loc["pump-2", "score"] == pytest.approx(0.9)
    assert row.loc["pump-2", "% of threshold"] == pytest.approx(90.0)
    assert row.loc["pump-1", "score"] == pytest.approx(latest["pump-1"].score)
    assert row.loc["pump-1", "threshold"] == pytest.approx(0.5)
    assert row.loc["motor-1", "why"].startswith("silent for")
    assert row.loc["pump-2", "firmware"] == "0.9.2"
    assert row.loc["fan-1", "model"] == "bundles/v2"
    assert row.loc["fan-1", "model check"] == "ok"
    assert row.loc["pump-2", "model check"] == "unknown"
    assert row.loc["fan-1", "open"] == "sensor?sensor=fan-1"
    assert {m.label: m.value for m in at.metric} == {ui.BADGE[s]: "1" for s in SensorState}


def test_fleet_page_warns_when_link_errors_rise(fleet):
    app()
    before = {s.sensor: s for s in fleet.sensors()}["fan-1"]
    fleet.write_status(
        [
            SensorStatus(
                time_ns=before.time_ns + S,
                sensor="fan-1",
                asset="fan",
                firmware=before.firmware,
                model_hash=before.model_hash,
                sample_rate=before.sample_rate,
                crc_errors=3,
                dropped_frames=2,
            )
        ]
    )
    data.clear_caches()
    row = frame(app(), "fleet_table").set_index("sensor").loc["fan-1"]
    assert row["state"] == "warning"
    assert "+5 link errors" in row["why"]
    assert row["link"] == "3 CRC, 2 dropped (+5)"


def test_fleet_page_with_an_empty_store_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_STORE, f"sqlite:///{tmp_path}/empty.db")
    at = app()
    assert "No sensor has reported" in at.info[0].value


def test_sensor_page_draws_timeline_with_alarm_periods(fleet):
    at = app("sensor", sensor="pump-1")
    assert at.selectbox(key="sensor").value == "pump-1"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["scores in range"] == "7,200"
    assert metrics["alarm periods"] == "1"
    assert metrics["threshold"] == "0.5"
    charts = at.get("vega_lite_chart")
    assert len(charts) == 5  # health timeline, speed, velocity, RMS, kurtosis
    layers = chart_layers(charts[0])
    assert [mark for mark, _ in layers] == ["rect", "line", "line", "line", "rule"]
    shade, points, events_drawn = layers[0][1], layers[1][1], layers[4][1]
    assert len(shade) == 1  # one alarm period, shaded
    # 2 h of 1 score/s in 60 s buckets: 121, or 122 if a minute turns during the test
    assert len(points) in (121, 122)
    assert list(events_drawn["kind"]) == ["alarm_raised"]
    assert "one per 60 s bucket" in " ".join(c.value for c in at.caption)
    events = frame(at, "events")
    assert list(events["kind"]) == ["alarm_raised"]
    assert "No raw window was captured" in " ".join(c.value for c in at.caption)
    assert at.query_params["sensor"] == "pump-1"


def test_sensor_page_week_range_is_downsampled_server_side(fleet):
    at = app("sensor", sensor="fan-1")
    at.segmented_control(key="range").set_value("7 d").run()
    assert not at.exception
    caption = " ".join(c.value for c in at.caption)
    assert "one per 600 s bucket" in caption
    assert {m.label: m.value for m in at.metric}["scores in range"] == "7,200"
    assert list(frame(at, "events")["text"]) == ["belt tensioned"]


def test_sensor_page_range_from_url_picks_the_first_range_shown(fleet):
    at = app("sensor", sensor="fan-1", range="1h")
    assert not at.exception
    assert at.segmented_control(key="range").value == "1 h"
    assert "one per 2 s bucket" in " ".join(c.value for c in at.caption)
    at = app("sensor", sensor="fan-1", range="nonsense")
    assert at.segmented_control(key="range").value == "24 h"


def test_sensor_page_ignores_unknown_sensor_in_url(fleet):
    at = app("sensor", sensor="'; DROP TABLE anomaly_score; --")
    assert not at.exception
    assert at.selectbox(key="sensor").value == "fan-1"
    assert fleet.count_scores() == 5 * 7200


def test_alarms_page_acknowledge_writes_an_ack_event(fleet):
    at = app("alarms")
    alarms = frame(at, "open_alarms")
    assert list(alarms["sensor"]) == ["pump-1"]
    assert list(alarms["acknowledged"]) == ["no"]
    at.text_input(key="ack_author").input("Ada")
    at.text_input(key="ack_text").input("inspection planned")
    at.button(key="ack_submit").click().run()
    assert not at.exception
    acks = [e for e in fleet.events(0, time.time_ns() + S) if e.kind == "alarm_acknowledged"]
    assert [(e.sensor, e.asset, e.author, e.text) for e in acks] == [
        ("pump-1", "pump", "Ada", "inspection planned")
    ]
    assert "acknowledged" in at.success[0].value
    assert frame(at, "open_alarms")["acknowledged"][0].startswith("by Ada")


def test_alarms_page_acknowledge_needs_a_name(fleet):
    at = app("alarms")
    at.button(key="ack_submit").click().run()
    assert "name must not be empty" in at.error[0].value
    assert not [e for e in fleet.events(0, time.time_ns() + S) if e.kind in ACK_KINDS]


def test_alarms_page_maintenance_note_reaches_the_sensor_timeline(fleet):
    at = app("alarms")
    at.selectbox(key="note_sensor").select("pump-1")
    at.text_input(key="note_text").input("bearing replaced")
    at.text_input(key="note_author").input("Bo")
    at.button(key="note_submit").click().run()
    assert not at.exception
    notes = [e for e in fleet.events(0, time.time_ns() + S) if e.kind == "maintenance"]
    assert ("pump-1", "bearing replaced", "Bo") in [(e.sensor, e.text, e.author) for e in notes]
    assert "bearing replaced" in list(frame(at, "recent_events")["text"])
    at.switch_page("app_pages/sensor.py").run()
    at.selectbox(key="sensor").select("pump-1").run()
    assert list(frame(at, "events")["text"]) == ["alarm policy met", "bearing replaced"]


def test_alarms_page_rejects_an_empty_note_and_keeps_hostile_text_verbatim(fleet):
    at = app("alarms")
    n_before = len(fleet.events(0, time.time_ns() + S))
    at.text_input(key="note_text").input("   ")
    at.button(key="note_submit").click().run()
    assert "note must not be empty" in at.error[0].value
    assert len(fleet.events(0, time.time_ns() + S)) == n_before
    hostile = '\'; DROP TABLE event; -- "x"'
    at.radio(key="note_kind").set_value("note")
    at.text_input(key="note_text").input(hostile)
    at.button(key="note_submit").click().run()
    assert not at.exception
    assert hostile in [e.text for e in fleet.events(0, time.time_ns() + S) if e.kind == "note"]


def test_models_page_flags_sensors_whose_model_is_not_the_expected_one(fleet):
    at = app("models")
    devices = frame(at, "devices").set_index("sensor")
    assert devices.loc["fan-1", "check"] == "ok"
    assert devices.loc["fan-1", "registry"] == "bundles/v2"
    assert devices.loc["pump-2", "check"] == "⚠️ unknown"
    assert devices.loc["motor-1", "check"] == "⚠️ outdated"
    assert devices.loc["motor-1", "expected"] == "bundles/v2"
    warnings = sorted(w.value for w in at.warning)
    assert warnings == [ui.md("motor-1") + ": model outdated", ui.md("pump-2") + ": model unknown"]
    assert sorted(frame(at, "registry")["name"]) == ["ae-v1", "bundles/v1", "bundles/v2"]
    at.selectbox(key="model_pick").select("ae-v1").run()
    assert any("AUC 0.998" in m.value for m in at.markdown)
    assert len(at.image) == 1


def test_models_page_without_registry_says_how_to_get_one(fleet, monkeypatch):
    monkeypatch.delenv(ENV_MODELS)
    at = app("models")
    assert "--models DIR" in at.info[0].value
    assert set(frame(at, "devices")["check"]) == {"unchecked"}


@pytest.mark.parametrize("page", [None, "sensor", "alarms", "models"])
def test_pages_show_one_error_when_the_store_is_down(page, monkeypatch):
    from vibration.telemetry.stores.influxd_process import free_port

    monkeypatch.setenv(ENV_STORE, f"influxdb://u:secret@127.0.0.1:{free_port()}/db?timeout=1")
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page is not None:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    assert len(at.error) == 1
    assert "StoreUnavailable" in at.error[0].value
    assert "secret" not in at.error[0].value


def test_app_without_store_setting_explains_how_to_start(monkeypatch):
    monkeypatch.delenv(ENV_STORE, raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert ui.md("tinypdm dashboard --store URL") in at.error[0].value


def test_sample_fleet_is_deterministic(tmp_path):
    now = 1_700_000_000 * S
    sums = []
    for i in range(2):
        store = open_store(f"sqlite:///{tmp_path}/s{i}.db")
        seed_fleet(store, now_ns=now, hours=0.1, seed=3)
        series = store.query_scores("pump-1", 0, now + S)
        sums.append(hashlib.sha256(series.score.tobytes()).hexdigest())
        store.close()
    assert sums[0] == sums[1]


def test_sensor_page_custom_days_range(fleet):
    at = app("sensor", sensor="fan-1")
    at.segmented_control(key="range").set_value("custom").run()
    assert not at.exception
    assert len(at.date_input) == 1
    caption = " ".join(c.value for c in at.caption)
    assert "one per 120 s bucket" in caption  # yesterday + today: 2 days
    assert {m.label: m.value for m in at.metric}["scores in range"] == "7,200"


def test_sensor_links_quote_names():
    assert ui.sensor_url("pump #1/a&b") == "sensor?sensor=pump%20%231%2Fa%26b"

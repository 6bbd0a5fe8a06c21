"""The dashboard pages against the real influxd (fleet, sensor timeline, acknowledge)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.config import ENV_MODELS, ENV_STORE
from dashboard.sample_fleet import seed_fleet
from tests.support import APP, frame, make_registry, specs_for, with_database
from vibration.telemetry.stores import Store, open_store

pytestmark = [pytest.mark.influxd]

S = 1_000_000_000


@pytest.fixture(scope="module")
def influx_fleet(
    influxd_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, str, Path]]:
    models = tmp_path_factory.mktemp("models")
    hashes = make_registry(models)
    url = with_database(influxd_url, f"dashboard_{time.time_ns()}")
    store = open_store(url)
    seed_fleet(store, now_ns=time.time_ns(), specs=specs_for(hashes), hours=1.0, seed=11)
    yield store, url, models
    store.close()


@pytest.fixture
def env(influx_fleet, monkeypatch: pytest.MonkeyPatch) -> Store:
    store, url, models = influx_fleet
    monkeypatch.setenv(ENV_STORE, url)
    monkeypatch.setenv(ENV_MODELS, str(models))
    return store


def test_dashboard_influx_fleet_and_sensor_pages(env):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    df = frame(at, "fleet_table")
    assert list(df["sensor"]) == ["pump-1", "motor-1", "pump-2", "fan-1"]
    assert list(df["state"]) == ["alarm", "offline", "warning", "ok"]
    assert df.set_index("sensor").loc["pump-2", "score"] == pytest.approx(0.9)
    at.query_params["sensor"] = "pump-1"
    at.switch_page("app_pages/sensor.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["scores in range"] == "3,600"
    assert metrics["alarm periods"] == "1"
    assert len(at.get("vega_lite_chart")) == 3


def test_dashboard_influx_acknowledge_writes_event(env):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/alarms.py").run()
    assert list(frame(at, "open_alarms")["sensor"]) == ["pump-1"]
    at.text_input(key="ack_author").input("Ada")
    at.button(key="ack_submit").click().run()
    assert not at.exception
    acks = [e for e in env.events(0, time.time_ns() + S, "pump-1") if e.kind == "ack"]
    assert [(e.author, e.asset) for e in acks] == [("Ada", "pump")]
    at.switch_page("app_pages/models.py").run()
    devices = frame(at, "devices").set_index("sensor")
    assert devices.loc["motor-1", "check"] == "⚠️ outdated"

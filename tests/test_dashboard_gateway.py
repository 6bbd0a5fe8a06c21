"""The dashboard on a store filled by the real gateway: sensors on ptys -> gateway -> influxd."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import data
from dashboard.config import ENV_MODELS, ENV_STORE
from tests.support import APP, DevicePump, ScoreDevice, frame, wait_for, with_database

pytestmark = [pytest.mark.influxd, pytest.mark.slow]


def test_dashboard_shows_what_the_gateway_wrote(
    influxd_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vibration.acquisition.serial_link import PtyLink
    from vibration.telemetry.gateway import Gateway, GatewayConfig
    from vibration.telemetry.stores import open_store

    url = with_database(influxd_url, f"dashboard_gw_{time.time_ns()}")
    links = [PtyLink(tmp_path / f"tty{i}") for i in range(2)]
    try:
        devices = [
            ScoreDevice(links[0], "gw-quiet", seed=0),
            ScoreDevice(links[1], "gw-alarming", seed=1, alarm_every=7),
        ]
        gw = Gateway(
            GatewayConfig(
                ports=tuple(str(lk.path) for lk in links),
                store_url=url,
                spool_dir=str(tmp_path / "spool"),
                asset="line-1",
                batch_interval_s=0.2,
                read_timeout_s=0.05,
            )
        ).start()
        pump = DevicePump(devices).start()
        wait_for(lambda: gw.status().scores >= 60, what="60 scores through the gateway")
        pump.stop()
        time.sleep(0.5)
        report = gw.stop()
    finally:
        for lk in links:
            lk.close()
    assert report.spool_pending == 0

    store = open_store(url)
    try:
        stored = {d.device_id: store.count_scores(d.device_id) for d in devices}
        assert all(n > 0 for n in stored.values())
        monkeypatch.setenv(ENV_STORE, url)
        monkeypatch.delenv(ENV_MODELS, raising=False)
        data.clear_caches()

        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception
        fleet = frame(at, "fleet_table").set_index("sensor")
        assert sorted(fleet.index) == ["gw-alarming", "gw-quiet"]
        assert set(fleet["asset"]) == {"line-1"}
        assert set(fleet["firmware"]) == {"bench-fw-1"}
        assert fleet.loc["gw-quiet", "state"] in ("ok", "warning")  # live, never in alarm
        assert fleet.loc["gw-alarming", "state"] != "offline"
        assert fleet.loc["gw-quiet", "link"] == "0 CRC, 0 dropped"

        at.query_params["sensor"] = "gw-alarming"
        at.switch_page("app_pages/sensor.py").run()
        assert not at.exception
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["scores in range"] == f"{stored['gw-alarming']:,}"
        assert int(metrics["alarm periods"]) >= 1
        assert "alarm" in set(frame(at, "events")["kind"])
    finally:
        store.close()

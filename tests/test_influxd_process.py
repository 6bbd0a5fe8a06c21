from __future__ import annotations

import urllib.request

import pytest

from tests.support import require_tool
from vibration.telemetry.stores.influxd_process import InfluxdServer


@pytest.mark.influxd
def test_influxd_server_starts_answers_and_stops(tmp_path):
    require_tool("influxd", "influxdb")
    with InfluxdServer(tmp_path / "db") as server:
        with urllib.request.urlopen(server.host_url + "/ping", timeout=5) as resp:
            assert resp.status == 204
        assert server.store_url().startswith("influxdb://127.0.0.1:")
    assert not server.running

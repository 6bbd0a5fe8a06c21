"""The big one: sensors -> gateway -> real influxd, through an outage and a SIGKILL.

Three on-board-scoring sensors stream SCORE frames over ptys into ``tinypdm monitor`` (a
child process) writing to a private influxd. Mid-stream influxd is stopped for about 10 s;
during the outage the gateway is killed with SIGKILL and started again. At the end every
SCORE frame a sensor numbered is either in InfluxDB exactly once or counted as dropped by
the gateway (frames sent while no gateway was reading, or read by the killed one but not
yet committed): stored + dropped == sent, with no duplicate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.bench_gateway import DevicePump, ScoreDevice
from tests.conftest import require_tool
from vibration.acquisition.serial_link import PtyLink
from vibration.telemetry.stores import open_store
from vibration.telemetry.stores.influx import InfluxStore
from vibration.telemetry.stores.influxd_process import InfluxdServer

REPO = Path(__file__).resolve().parents[1]


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _count(url: str) -> int:
    store = open_store(url)
    try:
        return store.count_scores()
    except Exception:
        return -1
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.influxd
def test_gateway_influx_outage_and_sigkill_lose_nothing_uncounted(tmp_path: Path) -> None:
    require_tool("influxd", "influxdb")
    server = InfluxdServer(tmp_path / "influxd").start()
    url = server.store_url()
    links = [PtyLink(tmp_path / f"tty{i}") for i in range(3)]
    devices = [
        ScoreDevice(links[0], "pump-de", seed=1, alarm_every=25),
        ScoreDevice(links[1], "pump-nde", seed=2, drift_ppm=80.0),
        ScoreDevice(links[2], "fan 'east', #2", seed=3),
    ]
    cmd = [
        sys.executable,
        "-m",
        "vibration.app.cli",
        "monitor",
        "--json",
        "--store",
        url,
        "--spool",
        str(tmp_path / "spool"),
        "--asset",
        "line-1",
        "--batch-interval",
        "0.5",
    ]
    for lk in links:
        cmd += ["--port", str(lk.path)]
    log = (tmp_path / "gateway.log").open("wb")

    def start_gateway() -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=log)

    gateway = start_gateway()
    pump = DevicePump(devices).start()
    try:
        _wait(lambda: _count(url) >= 30, 30, "first points in influxd")
        server.stop()  # outage: about 10 s
        time.sleep(4)
        os.kill(gateway.pid, signal.SIGKILL)  # mid-outage, with points spooled
        gateway.wait()
        assert gateway.stdout is not None
        gateway.stdout.close()
        time.sleep(1)  # sensors talk to nobody: their frames are lost, the books must say so
        gateway = start_gateway()
        time.sleep(5)
        server.start()
        time.sleep(4)
        pump.stop()  # each sensor's last frame has been read when this returns
        time.sleep(1)
        gateway.send_signal(signal.SIGTERM)
        out, _ = gateway.communicate(timeout=60)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
        log.close()
        for lk in links:
            lk.close()
    try:
        assert gateway.returncode == 0, (tmp_path / "gateway.log").read_text()[-2000:]
        report = json.loads(out)
        assert report["spool_pending"] == 0 and report["lost"] == 0
        assert report["spooled"] > 0  # the restarted gateway found the dead one's spool
        store = open_store(url)
        assert isinstance(store, InfluxStore)
        for d in devices:
            link = report["sensors"][d.device_id]
            series = store._query(
                'SELECT "seq" FROM "anomaly_score" WHERE "sensor" = '
                + "'"
                + d.device_id.replace("'", "\\'")
                + "'"
            )
            seqs = [row[1] for row in series[0]["values"]]
            assert len(seqs) == len(set(seqs)), "duplicate points"
            assert set(seqs) <= set(d.score_seqs)
            assert d.unheard > 0  # some frames fell into the gap between the two gateways
            assert len(seqs) + link["dropped_frames"] == len(d.score_seqs), d.device_id
            (status,) = [s for s in store.sensors() if s.sensor == d.device_id]
            assert status.dropped_frames == link["dropped_frames"]
        store.close()
    finally:
        server.stop()

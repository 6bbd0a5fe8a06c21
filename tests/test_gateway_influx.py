"""The big one: sensors -> gateway -> real influxd, through an outage and a SIGKILL.

Three on-board-scoring sensors stream SCORE frames over ptys into ``tinypdm monitor`` (a
child process) writing to a private influxd. Mid-stream influxd is stopped; once points
are spooled the gateway is killed with SIGKILL, and started again once every sensor has
sent frames nobody heard; influxd comes back once the new gateway spools too (each step
waits on what it needs, never a fixed time). At the end every SCORE frame a sensor
numbered is either in InfluxDB exactly once or counted as dropped by the gateway (frames
sent while no gateway was reading, or read by the killed one but not yet committed):
stored + dropped == sent, with no duplicate.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, DevicePump, ScoreDevice, require_tool, wait_for
from vibration.acquisition.serial_link import PtyLink
from vibration.telemetry.stores import open_store
from vibration.telemetry.stores.influx import InfluxStore
from vibration.telemetry.stores.influxd_process import InfluxdServer


def _spooled(spool_dir: Path, where: str = "1") -> int:
    """Points waiting in the gateway's spool (read-only peek at its SQLite file; WAL mode
    lets a reader in while the gateway writes); -1 while it cannot be read."""
    db = spool_dir / "spool.db"
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as c:
            sql = f"SELECT COALESCE(SUM(points), 0) FROM batch WHERE {where}"
            return int(c.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return -1


def _deferred(spool_dir: Path) -> int:
    """Points the gateway has counted as spooled: batches it marked deferred after a
    write or replay found the store unavailable."""
    return _spooled(spool_dir, "deferred = 1")


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
    spool = tmp_path / "spool"
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
        str(spool),
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
        wait_for(lambda: _count(url) >= 30, 30, "first points in influxd", interval=0.1)
        server.stop()  # outage
        wait_for(lambda: _spooled(spool) >= 20, 30, "points spooled in the outage", interval=0.1)
        os.kill(gateway.pid, signal.SIGKILL)  # mid-outage, with points spooled
        gateway.wait()
        assert gateway.stdout is not None
        gateway.stdout.close()
        left = _spooled(spool)
        # Sensors talk to nobody: their frames are lost, the books must say so.
        heard = [d.unheard for d in devices]
        wait_for(
            lambda: all(d.unheard >= n + 3 for d, n in zip(devices, heard, strict=True)),
            10,
            "frames sent while no gateway reads",
        )
        deferred = _deferred(spool)
        gateway = start_gateway()
        # Journaled is not yet spooled: wait until the restarted gateway has found the
        # store down and counted its own points as spooled (deferred), not a fixed time.
        wait_for(lambda: _spooled(spool) > left, 30, "the restarted gateway journaling")
        wait_for(lambda: _deferred(spool) > deferred, 30, "the restarted gateway spooling")
        server.start()
        wait_for(lambda: _spooled(spool) == 0, 60, "the spool replayed into influxd")
        pump.stop()  # each sensor's last frame has been read when this returns
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

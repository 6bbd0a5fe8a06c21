"""Gateway load: 200 on-board-scoring sensors x 10 SCORE frames/s into a real influxd.

The sensors are :class:`ScoreDevice` s (HELLO at boot, then SCORE frames, as a device that
scores on board and does not stream samples), each on its own pty, pumped by one thread of
this process. The gateway runs as ``tinypdm monitor`` in a child process; its CPU time comes
from ``getrusage(RUSAGE_CHILDREN)`` after it exits: CPU % of one core = CPU s / wall s
(goal < 50 %). Also checked: every SCORE frame sent is in InfluxDB or counted dropped.

Quick mode: 50 sensors for 10 s. Full: 200 sensors for 30 s.

:class:`ScoreDevice` (``tests/support.py``) is also what the gateway tests use as a
SCORE-emitting sensor.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._table import Row, print_rows
from tests.support import DevicePump, ScoreDevice
from vibration.acquisition.serial_link import PtyLink

__all__ = ["run"]

REPO = Path(__file__).resolve().parents[1]


def run(quick: bool = False) -> list[Row]:
    from vibration.telemetry.stores import open_store
    from vibration.telemetry.stores.influxd_process import InfluxdServer, influxd_binary

    if influxd_binary() is None:
        return [Row("gateway", "skipped", "influxd not installed")]
    n_sensors, seconds = (50, 10.0) if quick else (200, 30.0)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        root = Path(tmp)
        server = InfluxdServer(root / "influxd").start()
        links = [PtyLink(root / f"s{i:03d}") for i in range(n_sensors)]
        devices = [ScoreDevice(lk, f"bench-{i:03d}", seed=i) for i, lk in enumerate(links)]
        try:
            cmd = [
                sys.executable,
                "-m",
                "vibration.app.cli",
                "monitor",
                "--json",
                "--store",
                server.store_url(),
                "--spool",
                str(root / "spool"),
                "--asset",
                "bench",
                "--seconds",
                str(seconds + 4),
            ]
            for lk in links:
                cmd += ["--port", str(lk.path)]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "NO_COLOR": "1"},
            )
            time.sleep(2.0)  # let it open every port
            pump = DevicePump(devices).start()
            time.sleep(seconds)
            pump.stop()
            out, err = proc.communicate(timeout=120)
            wall = time.monotonic() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                return [Row("gateway", "failed", err.decode()[-300:].strip())]
            report = json.loads(out)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cpu_pct = 100.0 * cpu / wall
            store = open_store(server.store_url())
            stored = store.count_scores()
            store.close()
            sent = sum(len(d.score_seqs) for d in devices)
            dropped = int(report["dropped_frames"])
            rate = report["scores"] / seconds
            rows += [
                Row(
                    "gateway",
                    f"{n_sensors} sensors x 10 scores/s, SCORE frames/s",
                    rate,
                    "frames/s",
                    f">= {9 * n_sensors}",
                    rate >= 9 * n_sensors,
                ),
                Row(
                    "gateway",
                    "gateway CPU (one core, incl. start-up)",
                    cpu_pct,
                    "%",
                    "< 50",
                    cpu_pct < 50,
                ),
                Row(
                    "gateway",
                    "stored + dropped == sent",
                    f"{stored} + {dropped} == {sent}",
                    "",
                    "exact",
                    stored + dropped == sent,
                ),
                Row(
                    "gateway",
                    "lost (spool/store)",
                    report["lost"],
                    "points",
                    "0",
                    report["lost"] == 0,
                ),
            ]
        finally:
            for lk in links:
                lk.close()
            server.stop()
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))

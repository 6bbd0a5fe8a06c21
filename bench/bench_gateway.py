"""Gateway load: 200 on-board-scoring sensors x 10 SCORE frames/s into a real influxd.

The sensors are :class:`ScoreDevice` s (HELLO at boot, then SCORE frames, as a device that
scores on board and does not stream samples), each on its own pty, pumped by one thread of
this process. The gateway runs as ``tinypdm monitor`` in a child process; its CPU time comes
from ``getrusage(RUSAGE_CHILDREN)`` after it exits: CPU % of one core = CPU s / wall s
(goal < 50 %). Also checked: every SCORE frame sent is in InfluxDB or counted dropped.

Quick mode: 50 sensors for 10 s. Full: 200 sensors for 30 s.

:class:`ScoreDevice` is also what the gateway tests use as a SCORE-emitting sensor.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench._table import Row, print_rows
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Score, Text, encode_frame

__all__ = ["DevicePump", "ScoreDevice", "run"]

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ScoreDevice:
    """A sensor that scores on board: HELLO at boot, SCORE frames at ``rate_hz``.

    Writes never block (a pty with nobody reading, or a full buffer, loses frames, as a UART
    would). Every frame takes the next ``seq``; ``score_seqs`` lists every SCORE frame
    numbered, whatever happened to it on the line, so a receiver's books can be checked:
    stored + counted dropped == ``len(score_seqs)``.

    Parameters
    ----------
    link : PtyLink
    device_id : str
    rate_hz : float
        SCORE frames per second.
    seed : int
        Seeds the scores.
    alarm_every : int
        Every ``alarm_every``-th window is over threshold, with the alarm held for 3
        windows after it (0: never).
    drift_ppm : float
        The device clock runs this much fast.
    """

    link: PtyLink
    device_id: str
    rate_hz: float = 10.0
    seed: int = 0
    alarm_every: int = 0
    drift_ppm: float = 0.0
    seq: int = 0
    score_seqs: list[int] = field(default_factory=list)
    unheard: int = 0
    overflow: int = 0
    _boot: float | None = None
    _next: float = 0.0
    _pending: bytes = b""
    _windows: int = 0
    _alarm_left: int = 0
    _reader_since: float | None = None

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def hello(self) -> Hello:
        return Hello(
            1,
            Hello.FLAG_SCORES,
            256,
            12000.0,
            1e-3,
            "g",
            self.device_id,
            "bench-fw-1",
            bytes(range(32)),
        )

    def _t_us(self, now: float) -> int:
        assert self._boot is not None
        return round((now - self._boot) * 1e6 * (1 + self.drift_ppm * 1e-6))

    def _send(self, frame: bytes) -> None:
        if not self.link.has_reader():
            self.unheard += 1
            return
        if self._pending:
            self._pending = self._pending[self.link.write(self._pending) :]
        if self._pending:
            self.overflow += 1
            return
        self._pending = frame[self.link.write(frame) :]

    def step(self, now: float) -> float:
        """Send what is due by ``now`` (monotonic s); returns when to call again."""
        if self._boot is None:
            # Boot once a reader has held the port for 0.2 s: pyserial flushes the input
            # when it opens a port, which could swallow a HELLO sent at that instant.
            if not self.link.has_reader():
                self._reader_since = None
                return now + 0.01
            if self._reader_since is None:
                self._reader_since = now
            if now - self._reader_since < 0.2:
                return now + 0.01
            self._boot = now
            self._next = now + 1.0 / self.rate_hz
            self.seq = 0
            self._send_reliably(encode_frame(0, self.hello()))
            self.seq = 1
            return self._next
        if self._pending and self.link.has_reader():
            self._pending = self._pending[self.link.write(self._pending) :]
        while self._next <= now:
            self._windows += 1
            over = self.alarm_every > 0 and self._windows % self.alarm_every == 0
            if over:
                self._alarm_left = 3
            alarm = self._alarm_left > 0
            self._alarm_left = max(0, self._alarm_left - 1)
            score = float(self._rng.gamma(2.0, 0.1)) + (1.5 if over else 0.0)
            body = Score(self._t_us(self._next), score, 1.0, 0.3, 3.0 + score, alarm, over)
            self.score_seqs.append(self.seq)
            self._send(encode_frame(self.seq, body))
            self.seq += 1
            self._next += 1.0 / self.rate_hz
        return self._next if not self._pending else min(self._next, now + 0.002)

    def _send_reliably(self, frame: bytes, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        data = frame
        while data and time.monotonic() < deadline:
            if self.link.has_reader():
                data = data[self.link.write(data) :]
            if data:
                time.sleep(0.002)
        return not data

    def finish(self) -> bool:
        """Flush, then send a last frame (TEXT "bye") and make sure it is written, so a
        receiver sees the final ``seq`` and can count every gap before it."""
        self._send_reliably(self._pending)
        self._pending = b""
        ok = self._send_reliably(encode_frame(self.seq, Text(Text.INFO, "bye")))
        self.seq += 1
        return ok


class DevicePump:
    """One thread that steps many :class:`ScoreDevice` s in real time."""

    def __init__(self, devices: list[ScoreDevice]) -> None:
        self.devices = devices
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="device-pump", daemon=True)

    def start(self) -> DevicePump:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            wake = min(d.step(now) for d in self.devices)
            self._stop.wait(max(0.0, min(wake - time.monotonic(), 0.05)))

    def stop(self) -> None:
        """Stop stepping, send every device's final frame and wait until it was read."""
        self._stop.set()
        self._thread.join()
        for d in self.devices:
            d.finish()
        for d in self.devices:  # closing a pty discards what the reader has not taken
            d.link.wait_drained(2.0, settle=0.01)


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

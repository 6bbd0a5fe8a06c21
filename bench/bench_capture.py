"""Capture over a pty: CPU cost of recording, and of the virtual sensor that feeds it.

A ``tinypdm simulate`` subprocess streams 1 axis at 25.6 kHz (256-sample frames, about
51 kB/s) on a pty for 8 s (quick: 3 s); this process captures it with
:func:`vibration.acquisition.capture.capture` (reader thread, decoder, recording writer with fsync
every
0.5 s). Reported:

* capture CPU: ``getrusage(RUSAGE_SELF)`` user + system time over the capture's wall time,
  in % of one core (goal < 10 %);
* simulator CPU: the subprocess's own user + system time (``os.wait4``) over its wall time,
  start-up (Python, numpy, scipy imports) included, and with the CPU and wall time of a
  run that streams nothing subtracted (an estimate of the steady state);
* whether the recording holds exactly the samples sent, and the sensor's pacing
  (wall seconds per device second).
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
from vibration.acquisition.capture import CaptureConfig, capture
from vibration.acquisition.serial_link import open_port

RATE = 25600
GOAL_PCT = 10.0


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _startup(tmp: str) -> tuple[float, float]:
    """CPU and wall seconds of a simulate run that streams nothing (no reader, 1 ms)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vibration.app.cli", "simulate", "--link", f"{tmp}/idle",
         "--seconds", "0.001"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, _, usage = os.wait4(proc.pid, 0)
    return _cpu(usage), time.monotonic() - start


def run(quick: bool = False) -> list[Row]:
    seconds = 3.0 if quick else 8.0
    topic = "capture"
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "tty"
        summary = Path(tmp) / "sim.json"
        with open(summary, "w") as out:
            sim_start = time.monotonic()
            sim = subprocess.Popen(
                [sys.executable, "-m", "vibration.app.cli", "simulate", "--link", str(link),
                 "--rate", str(RATE), "--seconds", str(seconds), "--wait-reader", "--json"],
                stdout=out,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not link.is_symlink():
                if sim.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("simulate did not start")
                time.sleep(0.02)
            port = open_port(str(link))
            before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            try:
                result = capture(port, seconds + 60, CaptureConfig(out=Path(tmp), name="bench"))
            finally:
                port.close()
            after, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            _, _, sim_usage = os.wait4(sim.pid, 0)
            sim_wall = time.monotonic() - sim_start
        except BaseException:
            sim.kill()
            raise
        sent = json.loads(summary.read_text())
        boot_cpu, boot_wall = _startup(tmp)
    cap_pct = 100.0 * (_cpu(after) - _cpu(before)) / (t1 - t0)
    sim_pct = 100.0 * _cpu(sim_usage) / sim_wall
    steady_pct = 100.0 * max(0.0, _cpu(sim_usage) - boot_cpu) / max(1e-9, sim_wall - boot_wall)
    exact = result.samples == sent["samples_sent"] and result.crc_errors == 0
    return [
        Row(topic, "capture CPU, 1 axis x 25.6 kHz", cap_pct, "% core", f"< {GOAL_PCT:g}",
            cap_pct < GOAL_PCT),
        Row(topic, "capture throughput", result.samples / (t1 - t0), "samples/s"),
        Row(topic, "samples recorded = sent", "yes" if exact else "NO", "", "yes", exact),
        Row(topic, "simulator CPU (incl. start-up)", sim_pct, "% core"),
        Row(topic, "simulator CPU (start-up subtracted)", steady_pct, "% core"),
        Row(topic, "simulator start-up CPU", boot_cpu, "s"),
        Row(topic, "simulator wall s per device s", sent["wall_seconds"] / sent["device_seconds"]),
        Row(topic, "seconds streamed", sent["device_seconds"], "s"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))

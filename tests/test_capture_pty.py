"""``tinypdm simulate`` -> ``tinypdm capture`` over real ptys, in real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from vibration.acquisition.capture import CaptureConfig, capture
from vibration.acquisition.serial_link import open_port
from vibration.acquisition.virtual_sensor import SimulatedSource, VirtualSensor, VirtualSensorConfig
from vibration.app.cli import main
from vibration.data.dataset import open_recording, write_recording
from vibration.data.simulator import BearingSimulator, SimulatorConfig

pytestmark = pytest.mark.slow

SPF = 256
_STARTUP_S = 60.0  # generous: a loaded 2-core CI machine starts Python slowly


def _tinypdm(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vibration.app.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _simulate(link: Path, *args: str) -> subprocess.Popen[str]:
    proc = _tinypdm("simulate", "--link", str(link), "--json", *args)
    deadline = time.monotonic() + _STARTUP_S
    while not link.is_symlink():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"simulate did not create its link: {err}")
        time.sleep(0.02)
    return proc


def _finish(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=_STARTUP_S)
    assert proc.returncode == 0, err
    return json.loads(out)


def _truth(rate: float, seed: int, n: int) -> np.ndarray:
    return BearingSimulator(SimulatorConfig(sample_rate=rate, seed=seed)).generate_int16(n)


def test_capture_pty_clean_link_records_exactly_what_was_sent(tmp_path, capsys):
    link = tmp_path / "tty"
    sim = _simulate(link, "--rate", "8000", "--seconds", "2", "--seed", "1", "--wait-reader")
    code = main(
        [
            "capture",
            "--port",
            str(link),
            "--seconds",
            "60",
            "--out",
            str(tmp_path / "ds"),
            "--label",
            "normal",
            "--json",
        ]
    )
    captured = json.loads(capsys.readouterr().out)
    sent = _finish(sim)

    assert code == 0
    assert sent["samples_sent"] == 63 * SPF  # ceil(2 s * 8000 / 256) frames
    assert sent["frames_overflow"] == 0 and sent["frames_unheard"] == 0 and sent["drained"]
    assert captured["end_reason"] == "link closed"  # the sensor left: capture ends at once
    assert captured["samples"] == sent["samples_sent"]
    assert captured["crc_errors"] == 0 and captured["dropped_frames"] == 0
    assert captured["gaps"] == 0 and captured["tail_bytes"] == 0
    assert captured["frames"] == sent["frames_sent"]
    rec = open_recording(captured["path"])
    assert rec.meta.complete and rec.meta.label == "normal" and rec.meta.sample_rate == 8000.0
    assert rec.meta.counters["frames"] == sent["frames_sent"]
    assert rec.meta.hello is not None and rec.meta.hello["firmware_version"]
    np.testing.assert_array_equal(rec.samples(), _truth(8000.0, 1, rec.meta.samples))
    assert not link.exists() and not link.is_symlink()


def test_capture_pty_corrupt_link_counts_every_injected_loss(tmp_path):
    link = tmp_path / "tty"
    args = ["--rate", "8000", "--seconds", "3", "--corrupt", "0.05", "--drop", "0.02"]
    sim = _simulate(link, *args, "--seed", "3", "--wait-reader")
    cap = _tinypdm(
        "capture",
        "--port",
        str(link),
        "--seconds",
        "60",
        "--out",
        str(tmp_path / "ds"),
        "--name",
        "noisy",
        "--json",
    )
    out, err = cap.communicate(timeout=120)
    assert cap.returncode == 0, err
    captured = json.loads(out)
    sent = _finish(sim)

    # Losses at the very end of a stream show no seq gap: count them from the same seed.
    same = VirtualSensor(
        VirtualSensorConfig(corrupt=0.05, drop=0.02, seed=3),
        SimulatedSource(SimulatorConfig(sample_rate=8000.0, seed=3)),
    )
    fates = [c.fate for c in same.chunks(max_samples=94 * SPF)]
    trailing = len(fates) - len("".join("x" if f == "ok" else "-" for f in fates).rstrip("-"))

    assert sent["frames_overflow"] == 0
    assert sent["frames_corrupted"] == fates.count("corrupt") > 0
    assert sent["frames_dropped"] == fates.count("drop") > 0
    assert captured["crc_errors"] == sent["frames_corrupted"]
    assert captured["dropped_frames"] == (
        sent["frames_corrupted"] + sent["frames_dropped"] - trailing
    )
    assert captured["samples"] == (
        sent["samples_sent"] - sent["samples_corrupted"] - sent["samples_dropped"]
    )
    assert captured["samples"] == sent["samples_delivered"]
    rec = open_recording(tmp_path / "ds" / "noisy")
    assert rec.meta.counters["missing_samples"] == SPF * (
        sent["frames_corrupted"] + sent["frames_dropped"] - trailing
    )
    assert sum(b - a for a, b in rec.segments()) == captured["samples"]


def test_capture_pty_sigkill_leaves_a_readable_part_recording(tmp_path):
    link = tmp_path / "tty"
    sim = _simulate(link, "--rate", "8000", "--seed", "3", "--wait-reader")  # runs until killed
    cap = _tinypdm(
        "capture",
        "--port",
        str(link),
        "--seconds",
        "600",
        "--out",
        str(tmp_path / "ds"),
        "--name",
        "killed",
    )
    part = tmp_path / "ds" / "killed.part"
    seen = 0
    deadline = time.monotonic() + _STARTUP_S
    while seen < 8000:  # one second of data flushed to disk
        assert cap.poll() is None and time.monotonic() < deadline, "capture did not flush"
        if (part / "meta.json").exists():
            seen = open_recording(part).meta.samples
        time.sleep(0.05)
    cap.send_signal(signal.SIGKILL)
    cap.communicate()
    sim.send_signal(signal.SIGTERM)  # clean stop: summary printed, link removed
    sent = _finish(sim)

    rec = open_recording(part)
    n = rec.meta.samples
    assert not rec.meta.complete
    assert n % SPF == 0  # whole frames only
    assert seen <= n <= sent["samples_sent"]
    # what is missing is at most what arrived after the last flush (every 0.5 s); the
    # bound is loose so that a loaded machine cannot make it fail
    assert sent["samples_sent"] - n <= 8000 * 5
    np.testing.assert_array_equal(rec.samples(), _truth(8000.0, 3, n))
    assert rec.meta.hello is not None and rec.meta.hello["device_id"] == "vsensor-1"
    assert not link.exists() and not link.is_symlink()


def test_capture_pty_ascii_stream_gets_its_rate_estimated(tmp_path):
    link = tmp_path / "tty"
    sim = _simulate(
        link,
        "--ascii",
        "--rate",
        "2000",
        "--samples-per-frame",
        "10",
        "--seconds",
        "4",
        "--seed",
        "2",
        "--wait-reader",
    )
    port = open_port(str(link))
    try:
        result = capture(port, 60.0, CaptureConfig(out=tmp_path / "ds", sensor_id="uno"))
    finally:
        port.close()
    sent = _finish(sim)

    assert result.mode == "ascii" and result.end_reason == "link closed"
    assert result.samples == sent["samples_sent"] == 8000
    assert result.sample_rate == pytest.approx(2000.0, rel=0.03)
    assert result.crc_errors == 0 and result.gaps == 0
    rec = open_recording(result.path)
    assert rec.meta.sensor_id == "uno" and rec.meta.sample_rate == result.sample_rate
    assert rec.meta.extra["capture"]["rate_jitter_s"] >= 0
    assert rec.meta.units == "counts" and rec.meta.scale == 1.0
    np.testing.assert_array_equal(rec.samples(), _truth(2000.0, 2, 8000))


def test_capture_pty_simulate_refuses_to_overwrite_a_file(tmp_path):
    target = tmp_path / "not-a-link"
    target.write_text("keep me")
    proc = _tinypdm("simulate", "--link", str(target), "--seconds", "1")
    _, err = proc.communicate(timeout=_STARTUP_S)
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1].startswith("tinypdm: error: refusing to replace")
    assert target.read_text() == "keep me"
    assert os.path.isfile(target)


def test_capture_pty_replay_loop_and_ctrl_c_finish_the_recording(tmp_path):
    data = BearingSimulator(SimulatorConfig(sample_rate=4000.0, axes=2, seed=8)).generate_int16(
        3000
    )
    write_recording(tmp_path / "src", "orig", data, sample_rate=4000.0, scale=0.001, units="g")
    link = tmp_path / "tty"
    sim = _simulate(link, "--replay", str(tmp_path / "src" / "orig"), "--loop", "--wait-reader")
    out_dir = tmp_path / "ds"
    cap = _tinypdm(
        "capture", "--port", str(link), "--seconds", "600", "--out", str(out_dir), "--name",
        "copy", "--json",
    )  # fmt: skip
    part = out_dir / "copy.part"
    seen = 0
    deadline = time.monotonic() + _STARTUP_S
    while seen < 4000:  # more than one pass of the 3000-sample recording
        assert cap.poll() is None and time.monotonic() < deadline, "capture did not flush"
        if (part / "meta.json").exists():
            seen = open_recording(part).meta.samples
        time.sleep(0.05)
    cap.send_signal(signal.SIGINT)  # Ctrl-C: the recording is finished, not abandoned
    out, err = cap.communicate(timeout=_STARTUP_S)
    assert cap.returncode == 0, err
    captured = json.loads(out)
    sim.send_signal(signal.SIGTERM)
    _finish(sim)

    assert captured["end_reason"] == "stopped" and captured["crc_errors"] == 0
    rec = open_recording(out_dir / "copy")
    assert rec.meta.complete and not part.exists()
    assert (rec.meta.axes, rec.meta.sample_rate) == (2, 4000.0)
    assert rec.meta.scale == pytest.approx(0.001, rel=1e-7)  # HELLO carries a float32
    n = rec.meta.samples
    assert n >= seen and n == captured["samples"]
    np.testing.assert_array_equal(rec.samples(), np.tile(data, (n // 3000 + 1, 1))[:n])


def test_capture_pty_joins_a_sensor_that_is_already_running(tmp_path):
    link = tmp_path / "tty"
    sim = _simulate(link, "--rate", "8000", "--seed", "6")  # streams from the start
    port = open_port(str(link))
    try:
        result = capture(port, 1.5, CaptureConfig(out=tmp_path / "ds"))
    finally:
        port.close()
    sim.send_signal(signal.SIGTERM)
    sent = _finish(sim)

    assert sent["samples_sent"] >= result.samples
    assert result.end_reason == "time" and result.mode == "binary"
    assert result.hello is not None  # greeted at once, not after the 10 s HELLO period
    assert result.samples == 12000  # 1.5 s of samples at 8 kHz
    assert result.dropped_frames == 0 and result.gaps == 0
    rec = open_recording(result.path)
    assert rec.meta.scale == SimulatorConfig().scale and rec.meta.units == "g"
    # a contiguous piece of the sensor's stream, starting at a frame boundary (cut at the end)
    truth = _truth(8000.0, 6, 8000 * 60)
    data = rec.samples()
    starts = [k for k in range(0, len(truth) - len(data), SPF) if (truth[k] == data[0]).all()]
    assert any(np.array_equal(truth[k : k + len(data)], data) for k in starts)

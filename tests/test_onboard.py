"""A virtual sensor scoring on board with an exported bundle (host C engine; QEMU in
tests/test_qemu_*.py): the SCORE frames on the pty are the bundle's own numbers."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from firmware_export.errors import ExportError
from firmware_export.onboard import choose_engine, run_onboard_sensor
from firmware_export.runtime.bundle import load_bundle
from firmware_export.runtime.scorer import Int8Scorer
from vibration.acquisition.serial_link import open_port
from vibration.acquisition.virtual_sensor import RunOptions, SimulatedSource, VirtualSensorConfig
from vibration.data.simulator import SimulatorConfig
from vibration.protocol import Hello, Samples, Score, StreamDecoder

REPO = Path(__file__).resolve().parents[1]


def _read_frames(link: Path, stop: threading.Event, deadline_s: float) -> list:
    t_end = time.monotonic() + deadline_s
    while not link.exists():
        if time.monotonic() > t_end:
            raise TimeoutError(f"{link} never appeared")
        time.sleep(0.02)
    port = open_port(str(link), timeout=0.05)
    decoder = StreamDecoder()
    frames = []
    try:
        while time.monotonic() < t_end:
            try:
                data = port.read(65536)
            except serial.SerialException:  # the sensor closed its pty: end of stream
                break
            if data:
                frames.extend(decoder.feed(data))
            elif stop.is_set():
                break
    finally:
        port.close()
    return frames


@pytest.mark.tensorflow  # the sim_bundle fixture trains a model
def test_onboard_host_engine_sends_the_bundles_scores(sim_bundle, tmp_path):
    link = tmp_path / "sensor"
    source = SimulatedSource(SimulatorConfig(fault="outer", severity=0.6, seed=5))
    done = threading.Event()
    box: dict = {}

    def sensor() -> None:
        try:
            box["report"] = run_onboard_sensor(
                sim_bundle,
                link,
                source,
                engine="host",
                config=VirtualSensorConfig(sensor_id="pump-7"),
                options=RunOptions(seconds=2.0, wait_reader=0.2),
            )
        finally:
            done.set()

    thread = threading.Thread(target=sensor)
    thread.start()
    frames = _read_frames(link, done, 20.0)
    thread.join(10)
    report = box["report"]
    assert report.extra["engine"] == "host"

    hello = next(f.body for f in frames if isinstance(f.body, Hello))
    bundle = load_bundle(sim_bundle)
    assert hello.model_sha256 == hashlib.sha256(bundle.tflite_bytes()).digest()
    assert hello.flags & Hello.FLAG_SCORES
    samples = np.concatenate([f.body.samples for f in frames if isinstance(f.body, Samples)])
    scores = [f.body for f in frames if isinstance(f.body, Score)]
    expected = Int8Scorer(sim_bundle).score_windows(samples, scale=hello.scale)
    assert len(scores) == report.extra["windows"] == len(expected.score) > 10
    np.testing.assert_array_equal(
        np.array([s.score for s in scores], dtype=np.float32), expected.score.astype(np.float32)
    )
    assert all(s.threshold == np.float32(bundle.threshold) for s in scores)
    assert sum(s.over for s in scores) > len(scores) // 2  # a severe fault


@pytest.mark.tensorflow  # the sim_bundle fixture trains a model
def test_onboard_refuses_a_source_at_another_rate(sim_bundle, tmp_path):
    source = SimulatedSource(SimulatorConfig(sample_rate=8000.0))
    with pytest.raises(ExportError, match="expects 12000 Hz"):
        run_onboard_sensor(
            sim_bundle, tmp_path / "s", source, engine="host", options=RunOptions(seconds=0.1)
        )
    assert not (tmp_path / "s").exists()


def test_onboard_choose_engine_rejects_unknown_names():
    with pytest.raises(ValueError, match="engine must be one of"):
        choose_engine("gpu")
    assert choose_engine("host") == "host"


@pytest.mark.tensorflow  # the sim_bundle fixture trains a model
def test_simulate_cli_with_firmware_prints_scores_sent(sim_bundle, tmp_path):
    link = tmp_path / "cli-sensor"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vibration.app.cli", "simulate", "--link", str(link),
         "--firmware", str(sim_bundle), "--engine", "host", "--seconds", "1.5",
         "--wait-reader", "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stop = threading.Event()
    frames = _read_frames(link, stop, 15.0) if proc.poll() is None else []
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    n_scores = sum(isinstance(f.body, Score) for f in frames)
    assert n_scores == summary["windows"] > 0
    assert summary["engine"] == "host"

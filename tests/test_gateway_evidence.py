"""An alarm onset keeps the raw window(s) that raised it, linked to the alarm event
(real ptys, the real gateway, a real SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support import MeanAbsScorer, frames_seen, gateway_config, raw_sender, wait_for
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Samples, Score, encode_frame
from vibration.telemetry.gateway import Gateway
from vibration.telemetry.stores import open_store

RATE = 1000.0
BLOCK = 50  # samples per SAMPLES frame
WINDOW = 100  # samples per scored window


@pytest.fixture
def link(tmp_path: Path) -> Iterator[PtyLink]:
    made = PtyLink(tmp_path / "tty0")
    yield made
    made.close()


def _signal(seed: int, n: int, loud_from: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-40, 40, size=(n, 1)).astype(np.int16)
    x[loud_from:] *= 8  # the fault: loud from this sample on
    return x


def test_gateway_keeps_the_raw_window_of_a_device_alarm(tmp_path: Path, link: PtyLink) -> None:
    """A sensor that scores on board and streams SAMPLES: at the SCORE whose alarm goes
    0 -> 1 the gateway stores the samples up to that window's last sample."""
    hello = Hello(1, Hello.FLAG_SCORES | Hello.FLAG_STREAMS, BLOCK, RATE, 0.5, "g", "dev-1", "fw")
    x = _signal(3, 1200, loud_from=600)
    frames, seq = [encode_frame(0, hello)], 1
    for k in range(len(x) // BLOCK):
        frames.append(encode_frame(seq, Samples(k * BLOCK * 1000, x[k * BLOCK : (k + 1) * BLOCK])))
        seq += 1
        end = (k + 1) * BLOCK
        if end % WINDOW == 0:  # the device scores a window when its last block is sent
            loud = end > 600
            t_us = (end - 1) * 1000
            body = Score(t_us, 2.0 if loud else 0.1, 1.0, 1.0, 3.0, loud, loud)
            frames.append(encode_frame(seq, body))
            seq += 1
    gw = Gateway(gateway_config(tmp_path, [link])).start()
    raw_sender(link, frames, interval=0.01)
    wait_for(lambda: frames_seen(gw, "SCORE") == 12, what="SCORE frames")
    report = gw.stop()
    assert report.frames["SAMPLES"] == 24

    store = open_store(f"sqlite://{tmp_path}/scores.db")
    try:
        alarms = [e for e in store.events(0, 2**62, "dev-1") if e.kind == "alarm_raised"]
        assert len(alarms) == 1
        onset = alarms[0].time_ns
        evidence = store.evidence("dev-1", 0, 2**62)
        assert len(evidence) == 1
        ev = evidence[0]
        # linked to the alarm event: same time, sensor and asset
        assert (ev.time_ns, ev.sensor, ev.asset) == (onset, "dev-1", alarms[0].asset)
        assert store.evidence("dev-1", onset, onset + 1) == [ev]
        # everything up to the last sample of the window that raised it (samples 600-699)
        np.testing.assert_array_equal(ev.samples, x[:700])
        assert (ev.sample_rate, ev.scale, ev.units, ev.source) == (RATE, 0.5, "g", "device")
        assert ev.window == 0  # the gateway does not know the device model's window
    finally:
        store.close()


class _WindowedScorer(MeanAbsScorer):
    window = WINDOW


def test_gateway_keeps_the_raw_windows_of_a_shadow_alarm(tmp_path: Path, link: PtyLink) -> None:
    """Shadow mode: the host scorer raises the alarm; the evidence is its last two
    windows (the one that raised it last), tagged as the host's."""
    hello = Hello(1, Hello.FLAG_STREAMS, BLOCK, RATE, 0.25, "m/s^2", "raw-1", "fw")
    x = _signal(4, 1000, loud_from=500)  # mean |x| ~ 20 quiet, ~160 loud (threshold 50)
    frames = [encode_frame(0, hello)]
    for k in range(len(x) // BLOCK):
        frames.append(
            encode_frame(k + 1, Samples(k * BLOCK * 1000, x[k * BLOCK : (k + 1) * BLOCK]))
        )
    gw = Gateway(gateway_config(tmp_path, [link]), shadow=lambda h: _WindowedScorer()).start()
    raw_sender(link, frames, interval=0.01)
    wait_for(lambda: frames_seen(gw, "SAMPLES") == 20, what="SAMPLES frames")
    gw.stop()

    store = open_store(f"sqlite://{tmp_path}/scores.db")
    try:
        alarms = [e for e in store.events(0, 2**62, "raw-1") if e.kind == "alarm_raised"]
        evidence = store.evidence("raw-1", 0, 2**62)
        assert len(alarms) == 1 and len(evidence) == 1
        ev = evidence[0]
        assert ev.time_ns == alarms[0].time_ns
        np.testing.assert_array_equal(ev.samples, x[400:600])
        assert (ev.window, ev.source, ev.model, ev.units) == (WINDOW, "host", "toy@host", "m/s^2")
    finally:
        store.close()


def test_gateway_links_a_samples_burst_after_the_alarm_score(tmp_path: Path, link: PtyLink) -> None:
    """A sensor that only scores (no stream) sends, when its alarm rises, the window that
    raised it as a SAMPLES burst right after the SCORE: that burst is the evidence."""
    hello = Hello(1, Hello.FLAG_SCORES, BLOCK, RATE, 0.5, "g", "dev-2", "fw")
    x = _signal(5, 1200, loud_from=600)
    frames, seq = [encode_frame(0, hello)], 1
    for end in range(WINDOW, len(x) + 1, WINDOW):
        loud = end > 600
        t_us = (end - 1) * 1000
        frames.append(
            encode_frame(seq, Score(t_us, 2.0 if loud else 0.1, 1.0, 1.0, 3.0, loud, loud))
        )
        seq += 1
        if loud and end == 700:  # the rise: the burst of samples 600..699
            for start in range(600, 700, BLOCK):
                block = Samples(start * 1000, x[start : start + BLOCK])
                frames.append(encode_frame(seq, block))
                seq += 1
    gw = Gateway(gateway_config(tmp_path, [link])).start()
    raw_sender(link, frames, interval=0.01)
    wait_for(lambda: frames_seen(gw, "SCORE") == 12, what="SCORE frames")
    gw.stop()

    store = open_store(f"sqlite://{tmp_path}/scores.db")
    try:
        alarms = [e for e in store.events(0, 2**62, "dev-2") if e.kind == "alarm_raised"]
        evidence = store.evidence("dev-2", 0, 2**62)
        assert len(alarms) == 1 and len(evidence) == 1
        assert evidence[0].time_ns == alarms[0].time_ns
        np.testing.assert_array_equal(evidence[0].samples, x[600:700])
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.tensorflow
def test_gateway_stores_evidence_of_an_onboard_sensor_alarm(sim_bundle: Path, tmp_path: Path):
    """End to end: a virtual sensor scoring on board with a real bundle (the bundle's C on
    the host) streams a bearing fault on a pty; the gateway stores the raw samples up to
    the window whose SCORE raised the alarm."""
    from firmware_export.onboard import run_onboard_sensor
    from vibration.acquisition.virtual_sensor import (
        RunOptions,
        SimulatedSource,
        VirtualSensorConfig,
    )
    from vibration.data.simulator import SimulatorConfig
    from vibration.telemetry.gateway import GatewayConfig

    link = tmp_path / "sensor"
    cfg = GatewayConfig(
        ports=(str(link),),
        store_url=f"sqlite://{tmp_path}/scores.db",
        spool_dir=str(tmp_path / "spool"),
        batch_interval_s=0.2,
        reconnect_min_s=0.05,
        reconnect_max_s=0.1,
    )
    gw = Gateway(cfg).start()
    try:
        report = run_onboard_sensor(
            sim_bundle,
            link,
            SimulatedSource(SimulatorConfig(fault="outer", severity=0.6, seed=5)),
            engine="host",
            config=VirtualSensorConfig(sensor_id="pump-7"),
            options=RunOptions(seconds=3.0, wait_reader=10.0),
        )
        windows = report.extra["windows"]
        assert windows > 10
        wait_for(lambda: frames_seen(gw, "SCORE") == windows, what="every SCORE frame")
    finally:
        gw.stop()
    store = open_store(cfg.store_url)
    try:
        alarms = [e for e in store.events(0, 2**62, "pump-7") if e.kind == "alarm_raised"]
        evidence = store.evidence("pump-7", 0, 2**62)
        assert alarms and len(evidence) == len(alarms)
        for alarm, ev in zip(alarms, evidence, strict=True):
            assert (ev.time_ns, ev.sensor) == (alarm.time_ns, "pump-7")
            assert ev.source == "device" and ev.sample_rate == 12000.0 and ev.units == "g"
            assert 1024 <= ev.n <= 4096 and ev.samples.std() > 0
    finally:
        store.close()

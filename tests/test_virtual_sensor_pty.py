"""VirtualSensor on a real pseudo-terminal: the link, readers that come, go or stall."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import serial

from vibration.acquisition.serial_link import PtyLink, open_port
from vibration.acquisition.virtual_sensor import (
    RunOptions,
    SimulatedSource,
    VirtualSensor,
    VirtualSensorConfig,
    run_on_pty,
)
from vibration.data.simulator import BearingSimulator, SimulatorConfig
from vibration.errors import ProtocolError
from vibration.protocol import FrameDecoder, Hello, Samples


def _sensor(rate: float = 8000.0, **config: object) -> VirtualSensor:
    sim = SimulatorConfig(sample_rate=rate, seed=4)
    return VirtualSensor(VirtualSensorConfig(**config), SimulatedSource(sim))  # type: ignore[arg-type]


def _read_until_closed(port: serial.SerialBase) -> bytes:
    out = bytearray()
    while True:
        try:
            out += port.read(65536)
        except serial.SerialException:
            return bytes(out)


def test_virtual_sensor_pty_link_publishes_and_removes_its_symlink(tmp_path):
    path = tmp_path / "tty"
    os.symlink("/dev/pts/does-not-exist", path)  # stale link of a killed simulator
    with PtyLink(path) as link:
        assert path.is_symlink() and os.readlink(path) == link.slave_name
        assert not link.has_reader()
        port = open_port(str(path))
        assert link.has_reader()
        link.write(b"abc\x00\n\r")
        assert port.read(6) == b"abc\x00\n\r"  # raw mode: bytes pass unchanged
        port.close()
        assert not link.has_reader()
    assert not path.exists() and not path.is_symlink()


def test_virtual_sensor_pty_link_refuses_to_replace_a_regular_file(tmp_path):
    path = tmp_path / "tty"
    path.write_text("precious")
    with pytest.raises(ProtocolError, match="not a symlink"):
        PtyLink(path)
    assert path.read_text() == "precious"


def test_virtual_sensor_without_reader_counts_frames_as_unheard(tmp_path):
    report = run_on_pty(tmp_path / "tty", _sensor(), RunOptions(seconds=0.2, drain_timeout=0.1))
    assert report.frames_sent == 0 and report.samples_sent == 0 and report.bytes_written == 0
    assert report.frames_unheard >= 8  # the HELLO and 7 SAMPLES frames of 256
    assert report.samples_unheard == 7 * 256
    assert not (tmp_path / "tty").exists()


def test_virtual_sensor_stream_over_pty_is_exact_and_drained(tmp_path):
    path = tmp_path / "tty"
    sensor = _sensor(samples_per_frame=128)
    result = {}
    link = PtyLink(path)
    thread = threading.Thread(
        target=lambda: result.update(r=sensor.run(link, RunOptions(seconds=0.5, wait_reader=0.1)))
    )
    thread.start()
    port = open_port(str(path))
    try:
        data = bytearray()
        while thread.is_alive():
            data += port.read(65536)
        thread.join()
        link.close()
        data += _read_until_closed(port)
    finally:
        port.close()
        link.close()
    report = result["r"]
    assert report.drained and report.frames_overflow == 0
    decoder = FrameDecoder()
    frames = decoder.feed(bytes(data))
    assert decoder.stats.crc_errors == 0 and decoder.stats.dropped_frames == 0
    assert decoder.pending == 0
    got = np.concatenate([f.body.samples for f in frames if isinstance(f.body, Samples)])
    assert len(got) == report.samples_sent == 32 * 128  # ceil(0.5 s * 8000 / 128) frames
    np.testing.assert_array_equal(
        got, BearingSimulator(SimulatorConfig(sample_rate=8000.0, seed=4)).generate_int16(4096)
    )


@pytest.mark.slow
def test_virtual_sensor_reader_that_stalls_costs_whole_frames_only(tmp_path):
    """A reader that holds the port but stops reading: the sensor never blocks, drops whole
    frames once its TX backlog is full, and the stream the reader gets later is clean."""
    path = tmp_path / "tty"
    sensor = _sensor(rate=25600.0, tx_buffer_bytes=4096)
    result = {}
    link = PtyLink(path)
    port = open_port(str(path))
    thread = threading.Thread(
        target=lambda: result.update(r=sensor.run(link, RunOptions(seconds=1.5)))
    )
    thread.start()
    try:
        time.sleep(1.0)  # not reading: 51 kB/s against a ~20 kB pty + 4 kB backlog
        data = bytearray()
        while thread.is_alive():
            data += port.read(65536)
        thread.join()
        link.close()
        data += _read_until_closed(port)
    finally:
        port.close()
        link.close()
    report = result["r"]
    assert report.frames_overflow > 0
    assert report.drained
    decoder = FrameDecoder()
    frames = decoder.feed(bytes(data))
    assert decoder.stats.crc_errors == 0 and decoder.stats.resyncs == 0
    assert len(frames) == report.frames_sent - report.frames_overflow
    assert decoder.stats.dropped_frames == report.frames_overflow
    samples = sum(f.body.n for f in frames if isinstance(f.body, Samples))
    assert samples == report.samples_delivered


def test_virtual_sensor_cli_replay_refuses_simulator_options(tmp_path, capsys):
    from vibration.app.cli import main
    from vibration.data.dataset import write_recording

    write_recording(tmp_path, "rec", np.zeros((3000, 1), np.int16), sample_rate=1000.0)
    args = ["simulate", "--link", str(tmp_path / "tty"), "--replay", str(tmp_path / "rec")]
    assert main([*args, "--fault", "inner", "--rpm", "900"]) == 2
    assert "--replay streams a recording: drop --rpm, --fault" in capsys.readouterr().err
    assert main(["simulate", "--link", str(tmp_path / "tty"), "--loop"]) == 2
    assert "--loop applies to --replay only" in capsys.readouterr().err
    assert not (tmp_path / "tty").exists()


def test_virtual_sensor_greets_a_reader_that_connects_mid_stream(tmp_path):
    path = tmp_path / "tty"
    sensor = _sensor(samples_per_frame=128)
    result = {}
    stop = threading.Event()
    with PtyLink(path) as link:
        thread = threading.Thread(
            target=lambda: result.update(r=sensor.run(link, RunOptions(stop_event=stop)))
        )
        thread.start()
        while sensor.samples_emitted < 8000:  # a second of stream that nobody hears
            time.sleep(0.01)
        port = open_port(str(path))
        decoder = FrameDecoder()
        frames = []
        while len(frames) < 300 and not any(isinstance(f.body, Hello) for f in frames):
            frames += decoder.feed(port.read(4096))  # 300 frames: 4.8 s, long past 0.2 s
        stop.set()
        thread.join()
        port.close()
    report = result["r"]
    assert report.frames_unheard >= 60
    hellos = [f for f in frames if isinstance(f.body, Hello)]
    assert hellos, "no HELLO for a reader that came late"
    hello = hellos[0]
    assert hello.seq > 0  # the same boot: seq and clock go on, no reboot
    assert decoder.stats.reboots == 0 and decoder.stats.dropped_frames == 0


def test_virtual_sensor_run_options_are_one_frozen_value():
    import dataclasses

    opts = RunOptions(seconds=1.0)
    assert (opts.stop_event, opts.wait_reader, opts.drain_timeout) == (None, None, 2.0)
    assert (opts.on_start, opts.on_progress) == (None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.seconds = 2.0  # type: ignore[misc]

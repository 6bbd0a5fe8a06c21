"""CaptureSession and capture() without a pty: exact samples, gaps, HELLO, loop://, errors."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import serial

from vibration.acquisition.capture import CaptureConfig, CaptureSession, capture
from vibration.acquisition.virtual_sensor import SimulatedSource, VirtualSensor, VirtualSensorConfig
from vibration.app.cli import main
from vibration.data.dataset import open_recording
from vibration.data.simulator import BearingSimulator, SimulatorConfig
from vibration.errors import DatasetError, ProtocolError
from vibration.protocol import Hello, Samples, encode_frame

RATE = 4000.0
SIM = SimulatorConfig(sample_rate=RATE, axes=2, fault="inner", severity=0.4, seed=9)


def _chunks(n_samples: int, **config: object) -> list:
    sensor = VirtualSensor(VirtualSensorConfig(**config), SimulatedSource(SIM))  # type: ignore[arg-type]
    return list(sensor.chunks(max_samples=n_samples))


def _feed_all(session: CaptureSession, chunks: list, t0: float = 100.0) -> None:
    for c in chunks:
        session.feed(c.data, t0 + c.due_s)


def test_capture_session_records_every_delivered_sample_and_marks_gaps(tmp_path):
    chunks = _chunks(100 * 300, samples_per_frame=100, corrupt=0.05, drop=0.03, seed=2)
    chunks.append(_chunks(100 * 301, samples_per_frame=100)[-1])  # a clean last frame
    session = CaptureSession(CaptureConfig(out=tmp_path, name="run", label="inner"), "test://")
    _feed_all(session, chunks)
    result = session.finish(seconds=1.0, end_reason="time")

    lost = [c for c in chunks if c.fate != "ok"]
    corrupted = sum(c.fate == "corrupt" for c in chunks)
    assert len(lost) > 5
    assert result.crc_errors == corrupted
    assert result.dropped_frames == len(lost)
    assert result.missing_samples == 100 * len(lost)
    assert result.samples == 100 * 301 - result.missing_samples

    rec = open_recording(result.path)
    assert rec.meta.complete and rec.meta.label == "inner" and rec.meta.source == "test://"
    assert rec.meta.sample_rate == RATE and rec.meta.axes == 2
    assert rec.meta.hello is not None and rec.meta.hello["device_id"] == "vsensor-1"
    assert rec.meta.counters["crc_errors"] == corrupted
    assert rec.meta.counters["missing_samples"] == result.missing_samples
    # every segment is exactly the simulator's output at its place in time
    truth = BearingSimulator(SIM).generate_int16(100 * 301)
    data = rec.samples()
    position = 0  # index into the truth: skip whole lost frames before each segment
    for start, stop in rec.segments():
        while not np.array_equal(data[start : start + 10], truth[position : position + 10]):
            position += 100
            assert position < len(truth)
        np.testing.assert_array_equal(data[start:stop], truth[position : position + stop - start])
        position += stop - start
    # one gap per run of lost frames, exactly where the run starts
    runs = [k for k, c in enumerate(chunks) if c.fate != "ok" and chunks[k - 1].fate == "ok"]
    assert len(rec.meta.gaps) == result.gaps == len(runs)


def test_capture_session_without_hello_takes_the_rate_from_the_device_clock(tmp_path):
    chunks = [c for c in _chunks(100 * 40, samples_per_frame=100) if c.kind != "hello"]
    config = CaptureConfig(out=tmp_path, name="r", hello_wait_s=0.5, scale=0.25, units="mg")
    session = CaptureSession(config)
    _feed_all(session, chunks[:5], t0=0.0)
    assert session.writer is None  # waiting for a HELLO
    session.tick(10.0)
    assert session.writer is not None
    _feed_all(session, chunks[5:], t0=10.0)
    # a HELLO arriving later fills in what the fallbacks guessed
    session.feed(encode_frame(99, _hello()), 20.0)
    result = session.finish(seconds=1.0, end_reason="time")
    rec = open_recording(result.path)
    assert rec.meta.sample_rate == pytest.approx(RATE)
    assert rec.meta.samples == 4000 and rec.meta.scale == 0.5 and rec.meta.units == "g"
    assert rec.meta.sensor_id == "late-hello"


def _hello(axes: int = 2) -> Hello:
    return Hello(axes, Hello.FLAG_STREAMS, 100, RATE, 0.5, "g", "late-hello", "fw")


def test_capture_session_marks_a_reboot_as_a_gap(tmp_path):
    first = _chunks(1000, samples_per_frame=100)
    second = _chunks(500, samples_per_frame=100)  # the device restarts: seq and clock at 0
    session = CaptureSession(CaptureConfig(out=tmp_path, name="r"))
    _feed_all(session, first)
    _feed_all(session, second, t0=200.0)
    result = session.finish(seconds=1.0, end_reason="time")
    rec = open_recording(result.path)
    assert rec.meta.samples == 1500 and result.missing_samples == 0
    assert rec.segments() == [(0, 1000), (1000, 1500)]


def test_capture_session_refuses_a_stream_that_changes_axes(tmp_path):
    session = CaptureSession(CaptureConfig(out=tmp_path, name="r"))
    _feed_all(session, _chunks(500, samples_per_frame=100))
    with pytest.raises(ProtocolError, match="changed from 2 to 1 axes"):
        session.feed(encode_frame(50, Samples(10**6, np.zeros((10, 1), np.int16))), 300.0)
    result = session.finish(seconds=1.0, end_reason="stopped")
    assert result.samples == 500


def test_capture_session_with_no_samples_leaves_nothing(tmp_path):
    session = CaptureSession(CaptureConfig(out=tmp_path / "ds", name="r"), "loop://")
    session.feed(encode_frame(0, _hello()), 1.0)  # a HELLO alone creates the recording...
    assert session.writer is not None
    with pytest.raises(ProtocolError, match="no samples received from loop://"):
        session.finish(seconds=2.0, end_reason="time")
    assert list((tmp_path / "ds").iterdir()) == []  # ...and it is removed again


def _loop_port_sending(data: bytes) -> serial.SerialBase:
    """A ``loop://`` port with a sender thread writing ``data`` into it (its queue is small)."""
    port = serial.serial_for_url("loop://", timeout=0.05, do_not_open=True)
    port.open()
    threading.Thread(target=port.write, args=(data,), daemon=True).start()
    return port


def test_capture_reads_a_loop_url(tmp_path):
    chunks = _chunks(100 * 50, samples_per_frame=100)
    port = _loop_port_sending(b"".join(c.data for c in chunks))
    progress = []
    result = capture(  # 1.25 s of samples at 4 kHz: all 5000 sent
        port, 1.25, CaptureConfig(out=tmp_path, label="inner"), on_progress=progress.append
    )
    port.close()
    assert result.end_reason == "time" and result.mode == "binary"
    assert result.samples == 5000 and result.crc_errors == 0 and result.dropped_frames == 0
    assert result.name.startswith("vsensor-1-")
    rec = open_recording(result.path)
    np.testing.assert_array_equal(rec.samples(), BearingSimulator(SIM).generate_int16(5000))
    assert rec.meta.extra["capture"]["port"] == "loop://"
    assert progress and progress[-1].samples == 5000


def test_capture_keeps_a_partial_frame_out(tmp_path):
    data = b"".join(c.data for c in _chunks(1000, samples_per_frame=100))
    port = _loop_port_sending(data[:-30])  # the last frame is cut
    result = capture(port, 0.3, CaptureConfig(out=tmp_path, name="r"))
    port.close()
    assert result.samples == 900 and result.tail_bytes > 0
    assert open_recording(result.path).meta.complete


def test_capture_refuses_a_taken_name_before_reading(tmp_path):
    (tmp_path / "r").mkdir()
    port = serial.serial_for_url("loop://", timeout=0.05, do_not_open=True)
    port.open()
    with pytest.raises(DatasetError, match="already exists"):
        capture(port, 5.0, CaptureConfig(out=tmp_path, name="r"))
    port.close()


def test_capture_cli_bad_port_is_one_error_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "ds"
    code = main(["capture", "--port", str(tmp_path / "nope"), "--seconds", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        f"tinypdm: error: could not open port {str(tmp_path / 'nope')!r}: No such file or directory"
    ]
    assert not out.exists()


@pytest.mark.parametrize("url", ["foo://bar", "socket://127.0.0.1:1"])
def test_capture_cli_bad_url_is_one_error_line(tmp_path, capsys, url):
    code = main(["capture", "--port", url, "--seconds", "1", "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"tinypdm: error: could not open port {url!r}: ")
    assert not (tmp_path / "ds").exists()


def test_capture_cli_json_over_a_loop_url_with_no_data(tmp_path, capsys):
    code = main(["capture", "--port", "loop://", "--seconds", "0.2", "--out", str(tmp_path)])
    assert code == 1
    assert "no samples received from loop://" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_capture_config_rejects_bad_values(tmp_path):
    with pytest.raises(DatasetError):
        CaptureConfig(out=tmp_path, name="../x")
    with pytest.raises(ValueError, match="scale"):
        CaptureConfig(out=tmp_path, scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        CaptureConfig(out=tmp_path, mode="hex")
    assert json.loads(json.dumps(CaptureConfig(out=tmp_path).__dict__, default=str))


def test_capture_session_text_stream_cuts_around_refused_lines(tmp_path):
    config = CaptureConfig(out=tmp_path, name="txt", mode="ascii", rate_wait_s=0.0)
    session = CaptureSession(config)
    feeds = [b"1\n2\n", b"3\n4\n", b"5\n6\n", b"x\n", b"7\n8\n", b"9\nbad\n10\n", b"11\n12\n"]
    for k, data in enumerate(feeds):
        session.feed(data, 50.0 + 0.01 * k)
    result = session.finish(seconds=0.1, end_reason="time")
    rec = open_recording(result.path)
    assert rec.samples()[:, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert rec.meta.gaps == (6, 9)  # each refused line is one lost sample, at its place
    assert result.missing_samples == 1 + 1
    assert rec.meta.counters["line_errors"] == 2
    assert rec.meta.sample_rate == pytest.approx(200.0, rel=0.05)  # ~2 lines every 10 ms

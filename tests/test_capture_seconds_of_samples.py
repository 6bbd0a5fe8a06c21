"""``capture --seconds S`` records S x rate samples, backlog queued in the pty included."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from tests.test_capture_pty import _finish, _simulate, _truth
from vibration.acquisition.capture import CaptureConfig, capture
from vibration.acquisition.serial_link import open_port
from vibration.app.cli import main
from vibration.data.dataset import open_recording

pytestmark = pytest.mark.slow


def test_capture_seconds_records_seconds_times_rate_despite_a_backlog(tmp_path):
    link = tmp_path / "tty"
    sim = _simulate(link, "--rate", "12000", "--seed", "4")  # streams before capture reads
    port = open_port(str(link))
    try:
        deadline = time.monotonic() + 30
        while port.in_waiting < 4000:  # the pty's queue (4 KiB) is full
            assert time.monotonic() < deadline, "the sensor does not stream"
            time.sleep(0.01)
        time.sleep(1.0)  # the scenario: the sensor streams on while nobody reads
        result = capture(port, 2.0, CaptureConfig(out=tmp_path / "ds", name="rec"))
    finally:
        port.close()
    sim.send_signal(signal.SIGTERM)
    _finish(sim)

    assert result.end_reason == "time" and result.sample_rate == 12000.0
    assert result.samples == 24000 and result.gaps == 0 and result.dropped_frames == 0
    assert result.seconds < 2.0  # the backlog made it quicker than real time
    rec = open_recording(result.path)
    assert rec.meta.samples == 24000 and rec.meta.complete
    truth = _truth(12000.0, 4, 12000 * 30)
    data = rec.samples()
    starts = [k for k in range(0, len(truth) - len(data), 256) if (truth[k] == data[0]).all()]
    assert any(np.array_equal(truth[k : k + len(data)], data) for k in starts)


def test_capture_help_says_what_seconds_records(capsys):
    assert main(["capture", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "S x rate samples" in text

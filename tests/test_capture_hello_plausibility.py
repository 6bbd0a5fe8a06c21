"""Crafted binary streams over a real pty: HELLOs with a NaN/Inf or implausible rate are
counted and ignored, an implausible rate from the device clock is one clear error, and
the accepted range (``vibration.data.dataset.validation``) is the one documented."""

from __future__ import annotations

import numpy as np
import pytest

from tests._pty_feeder import PtyFeeder
from vibration.acquisition.capture import CaptureConfig, capture
from vibration.acquisition.serial_link import open_port
from vibration.app.cli import main
from vibration.data.dataset import open_recording
from vibration.data.dataset.validation import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from vibration.errors import ProtocolError
from vibration.protocol import Hello, Samples, encode_frame

pytestmark = pytest.mark.slow

RATE = 4000.0
SPF = 100


def _hello(rate: float) -> Hello:
    return Hello(1, Hello.FLAG_STREAMS, SPF, rate, 0.5, "g", "crafted", "fw1")


def _stream(
    n_frames: int, bad_hellos: dict[int, float], *, us_per_frame: float, hello: float | None
) -> tuple[np.ndarray, list[tuple[bytes, float]]]:
    """``n_frames`` SAMPLES frames (a HELLO first if ``hello``), a HELLO with the given rate
    before frame ``k`` for each ``k`` in ``bad_hellos``; 4 frames per 0.1 s write."""
    data = np.random.default_rng(5).integers(-3000, 3000, size=(n_frames * SPF, 1))
    seq = 0
    wire: list[bytes] = []
    if hello is not None:
        wire.append(encode_frame(seq, _hello(hello)))
        seq += 1
    for k in range(n_frames):
        if k in bad_hellos:
            wire.append(encode_frame(seq, _hello(bad_hellos[k])))
            seq += 1
        block = data[k * SPF : (k + 1) * SPF].astype(np.int16)
        wire.append(encode_frame(seq, Samples(round(k * us_per_frame), block)))
        seq += 1
    chunks = [(b"".join(wire[i : i + 4]), 0.1) for i in range(0, len(wire), 4)]
    return data, chunks


def _capture(tmp_path, chunks, **config):
    feeder = PtyFeeder(tmp_path / "tty", chunks)
    feeder.start()
    port = open_port(str(tmp_path / "tty"))
    try:
        return capture(port, 60.0, CaptureConfig(out=tmp_path / "ds", name="rec", **config))
    finally:
        port.close()
        feeder.join(30)
        assert feeder.error is None


@pytest.mark.parametrize(
    "bad",
    [
        {10: float("nan"), 30: float("inf")},
        {10: 1e-30, 20: 1e30, 30: 0.5, 40: 2e6},
    ],
    ids=["nan-inf", "out-of-range"],
)
def test_capture_hello_with_a_bad_rate_is_counted_and_ignored(tmp_path, bad):
    data, chunks = _stream(50, bad, us_per_frame=SPF * 1e6 / RATE, hello=RATE)
    result = _capture(tmp_path, chunks)

    assert result.end_reason == "link closed"
    assert result.samples == 50 * SPF and result.gaps == 0 and result.crc_errors == 0
    assert result.sample_rate == RATE
    assert result.counters["bad_hellos"] == len(bad)
    rec = open_recording(result.path)
    assert rec.meta.complete and rec.meta.sample_rate == RATE
    assert rec.meta.counters["bad_hellos"] == len(bad)
    assert rec.meta.hello is not None and rec.meta.hello["sample_rate_hz"] == RATE
    np.testing.assert_array_equal(rec.samples(), data)
    assert not (tmp_path / "ds" / "rec.part").exists()


def test_capture_implausible_device_clock_rate_is_one_clear_error(tmp_path):
    # no HELLO; the device clock advances 1 µs per 100-sample frame: "100 MHz"
    _, chunks = _stream(30, {}, us_per_frame=1.0, hello=None)
    with pytest.raises(ProtocolError, match=r"100 MHz .*outside .*1 Hz \.\. 1 MHz"):
        _capture(tmp_path, chunks, hello_wait_s=0.3)
    assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").iterdir())


def test_capture_implausible_first_hello_falls_back_to_the_device_clock(tmp_path):
    data, chunks = _stream(30, {}, us_per_frame=SPF * 1e6 / RATE, hello=1e30)
    result = _capture(tmp_path, chunks, hello_wait_s=0.3)
    assert result.samples == 30 * SPF and result.sample_rate == pytest.approx(RATE)
    assert result.counters["bad_hellos"] == 1
    np.testing.assert_array_equal(open_recording(result.path).samples(), data)


def test_capture_cli_refuses_an_implausible_rate(tmp_path, capsys):
    for rate in ("1e-30", "1e300", "2e6"):
        code = main(
            ["capture", "--port", "loop://", "--seconds", "1", "--out", str(tmp_path / "ds"),
             "--rate", rate]
        )  # fmt: skip
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and "1 Hz .. 1 MHz" in err[-1] and "Traceback" not in "".join(err)
    assert not (tmp_path / "ds").exists()
    assert (MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ) == (1.0, 1e6)
    with pytest.raises(ValueError, match=r"1 Hz \.\. 1 MHz"):
        CaptureConfig(out=tmp_path, rate=1e-30)

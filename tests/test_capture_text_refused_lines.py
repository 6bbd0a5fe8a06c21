"""Text streams with refused lines, read over a real pty: only the refused lines are lost,
each one a counted gap of exactly one sample."""

from __future__ import annotations

import numpy as np
import pytest

from tests._pty_feeder import PtyFeeder
from vibration.acquisition.capture import CaptureConfig, capture
from vibration.acquisition.serial_link import open_port
from vibration.data.dataset import open_recording

pytestmark = pytest.mark.slow

_RATE = 4000  # lines per second
_PER_CHUNK = 40  # lines written every 10 ms


def _text_with_nans(n_good: int, every: int, seed: int) -> tuple[np.ndarray, list[bytes]]:
    values = np.random.default_rng(seed).integers(-2000, 2000, size=n_good)
    lines: list[bytes] = []
    for k, v in enumerate(values.tolist()):
        lines.append(b"%d\n" % v)
        if (k + 1) % every == 0 and k + 1 < n_good:
            lines.append(b"nan\n")  # refused: a sample slot lost
    return values, lines


@pytest.mark.parametrize("every", [500, 100], ids=["nan-per-500", "nan-per-100"])
def test_capture_text_refused_lines_lose_only_themselves(tmp_path, every):
    values, lines = _text_with_nans(10_000, every, seed=11)
    n_bad = 10_000 // every - 1
    chunks = [
        (b"".join(lines[i : i + _PER_CHUNK]), _PER_CHUNK / _RATE)
        for i in range(0, len(lines), _PER_CHUNK)
    ]
    feeder = PtyFeeder(tmp_path / "tty", chunks)
    feeder.start()
    port = open_port(str(tmp_path / "tty"))
    try:
        result = capture(port, 60.0, CaptureConfig(out=tmp_path / "ds", sensor_id="uno"))
    finally:
        port.close()
    feeder.join(30)
    assert feeder.error is None

    assert result.mode == "ascii" and result.end_reason == "link closed"
    assert result.samples == 10_000
    assert result.gaps == n_bad and result.missing_samples == n_bad
    assert result.crc_errors == n_bad  # text mode: refused lines
    rec = open_recording(result.path)
    assert rec.meta.counters["line_errors"] == n_bad
    assert rec.meta.counters["missing_samples"] == n_bad
    assert rec.meta.gaps == tuple(range(every, 10_000, every))
    np.testing.assert_array_equal(rec.samples()[:, 0], values)
    assert result.sample_rate == pytest.approx(_RATE, rel=0.1)  # arrival times, loaded CI

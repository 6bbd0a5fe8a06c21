"""The envelope spectrum finds a bearing's modulation frequency; defect lines from geometry."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.spectra import (
    amplitude_spectrum,
    bearing_info,
    defect_frequencies,
    envelope_band,
    envelope_spectrum,
)
from vibration.data.bearing import BearingGeometry

FS = 12_000.0


def _impacts(seed: int, rate_hz: float, n: int = 8192) -> np.ndarray:
    """A 3.2 kHz resonance struck at ``rate_hz``, under a strong 30 Hz shaft tone and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    x = 4.0 * np.sin(2 * np.pi * 30.0 * t)  # the shaft: more energy than the impacts
    ring = np.exp(-t[:120] * 1500.0) * np.sin(2 * np.pi * 3200.0 * t[:120])
    for t0 in np.arange(0.0, t[-1], 1.0 / rate_hz):
        i = round(float(t0) * FS)
        m = min(120, n - i)
        x[i : i + m] += ring[:m]
    return x + rng.normal(0.0, 0.05, n)


def test_envelope_spectrum_finds_the_modulation_frequency() -> None:
    x = _impacts(seed=1, rate_hz=107.36)  # BPFO of a 6205 at 1797 rpm
    lo, hi = envelope_band(x, FS)
    assert lo <= 3200.0 <= hi  # the resonance band, not the 30 Hz shaft tone
    env = envelope_spectrum(x, FS)
    assert env.band_hz == (lo, hi)
    resolution = FS / len(x)
    assert env.peak_hz(20.0, 500.0) == pytest.approx(107.36, abs=resolution)
    # the plain spectrum is dominated by the shaft
    assert amplitude_spectrum(x, FS).peak_hz(1.0) == pytest.approx(30.0, abs=resolution)


def test_amplitude_spectrum_reads_a_sine_amplitude() -> None:
    t = np.arange(4096) / FS
    spec = amplitude_spectrum(0.7 * np.sin(2 * np.pi * 1500.0 * t), FS)
    assert spec.peak_hz() == pytest.approx(1500.0, abs=FS / 4096)
    assert spec.amplitude.max() == pytest.approx(0.7, rel=0.02)


def test_spectra_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="n >= 16"):
        amplitude_spectrum(np.zeros(4), FS)
    with pytest.raises(ValueError, match="fs"):
        amplitude_spectrum(np.zeros(64), 0.0)
    with pytest.raises(ValueError, match="band"):
        envelope_spectrum(np.zeros(256), FS, band=(100.0, 7000.0))


def test_bearing_info_and_defect_frequencies() -> None:
    info = bearing_info(
        {
            "bearing": {
                "n_balls": 9,
                "ball_diameter_mm": 7.94,
                "pitch_diameter_mm": 39.04,
                "speed_rpm": 1797,
            }
        }
    )
    assert info is not None and info.speed_rpm == 1797.0
    f = defect_frequencies(info.geometry, 1797.0)
    assert f["bpfo"] == pytest.approx(3.585 * 1797 / 60, rel=1e-3)
    assert f["bpfi"] == pytest.approx(5.415 * 1797 / 60, rel=1e-3)
    assert info.geometry == BearingGeometry()
    assert bearing_info({}) is None
    assert bearing_info({"bearing": {"n_balls": 2}}) is None
    assert bearing_info(None) is None

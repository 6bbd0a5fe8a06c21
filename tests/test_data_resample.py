"""One resampler (vibration.data.resample) for the importers and replayed recordings."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vibration.acquisition.virtual_sensor import load_replay
from vibration.data.dataset import write_recording
from vibration.data.resample import resample
from vibration.errors import DatasetError

# sqrt(2)/2 of 1000 Hz: the closest fraction with terms <= 1000 is 408/577, 1.5e-6 off
_ASKED = 1000.0 * 0.7071067811865476


def test_resample_reports_the_rate_it_really_made():
    x = np.zeros((1000, 1))
    y, rate = resample(x, 1000.0, _ASKED)
    assert Fraction(_ASKED / 1000.0).limit_denominator(1000) == Fraction(408, 577)
    assert rate == pytest.approx(1000.0 * 408 / 577, rel=1e-12)
    assert abs(rate - _ASKED) / _ASKED > 1e-6
    assert abs(len(y) - 1000 * 408 / 577) <= 1


def test_resample_keeps_the_signal_when_the_rates_agree():
    x = np.ones((10, 2))
    y, rate = resample(x, 100.0, 100.0)
    assert y is x and rate == 100.0


def test_resample_out_of_range_ratio_is_a_dataset_error():
    with pytest.raises(DatasetError, match="ratio out of range"):
        resample(np.zeros((10, 1)), 1.0, 5000.0)


def test_replay_of_a_recording_reports_the_rate_it_really_has(tmp_path):
    rng = np.random.default_rng(7)
    data = rng.integers(-1000, 1000, size=(4000, 1)).astype(np.int16)
    write_recording(tmp_path / "ds", "r", data, sample_rate=1000.0, scale=0.001)
    source, _ = load_replay(tmp_path / "ds" / "r", rate=_ASKED)
    assert source.sample_rate == pytest.approx(1000.0 * 408 / 577, rel=1e-12)
    assert source.sample_rate != _ASKED


def test_replay_out_of_range_ratio_is_a_dataset_error(tmp_path):
    data = np.zeros((100, 1), np.int16)
    write_recording(tmp_path / "ds", "r", data, sample_rate=1.0, scale=0.001)
    with pytest.raises(DatasetError):
        load_replay(tmp_path / "ds" / "r", rate=5000.0)

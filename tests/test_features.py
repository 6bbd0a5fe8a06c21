"""vibration.learning.features against the formulas of docs/features.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibration.learning.features import (
    FeatureConfig,
    band_bin_edges,
    extract_features,
    frame_windows,
    hann_periodic,
    window_features,
    window_starts,
)


def _spec_features(x: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """docs/features.md written out literally: loops, an explicit DFT, no FFT."""
    n, fs = config.window, config.sample_rate
    d = x - sum(x) / n
    m2 = float(np.sum(d**2) / n)
    m4 = float(np.sum(d**4) / n)
    rms = math.sqrt(m2)
    kurtosis = m4 / m2**2 if m2 else 0.0
    crest = float(np.max(np.abs(d))) / rms if rms else 0.0
    w = np.array([0.5 - 0.5 * math.cos(2 * math.pi * i / n) for i in range(n)])
    k = np.arange(n // 2 + 1)[:, None]
    t = np.arange(n)[None, :]
    y = np.sum(d * w * np.exp(-2j * math.pi * k * t / n), axis=1)
    f_high = config.f_high_frac * fs / 2
    edges = []
    for j in range(config.n_bands + 1):
        e = config.f_low_hz + j * (f_high - config.f_low_hz) / config.n_bands
        edges.append(max(1, round(e * n / fs)))  # Python's round: half to even
    for j in range(1, len(edges)):
        edges[j] = max(edges[j], edges[j - 1] + 1)
    bands = [
        2 / (n * np.sum(w**2)) * np.sum(np.abs(y[edges[j] : edges[j + 1]]) ** 2)
        for j in range(config.n_bands)
    ]
    logs = [math.log10(e + config.eps) for e in bands]
    return np.array([*logs, math.log10(m2 + config.eps), kurtosis, crest])


def test_features_config_defaults_follow_spec():
    config = FeatureConfig()
    assert config.to_dict() == {
        "sample_rate": 12000.0,
        "window": 1024,
        "hop": 512,
        "n_bands": 16,
        "f_low_hz": 0.0,
        "f_high_frac": 0.8,
        "axis": 0,
        "eps": 1e-12,
    }
    assert config.n_features == 19
    assert len(config.feature_names) == 19
    assert config.feature_names[-3:] == ["log_m2", "kurtosis", "crest"]
    assert FeatureConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 1000},
        {"window": 32},
        {"window": 8192},
        {"hop": 0},
        {"n_bands": 0},
        {"f_high_frac": 0.0},
        {"f_high_frac": 1.5},
        {"f_low_hz": 4800.0},
        {"f_low_hz": -1.0},
        {"eps": 0.0},
        {"sample_rate": -12000.0},
        {"sample_rate": math.inf},
        {"axis": -1},
        {"window": 64, "n_bands": 40},
        {"window": 512.0},
        {"hop": True},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_features_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FeatureConfig(**kwargs)


def test_features_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown FeatureConfig fields"):
        FeatureConfig.from_dict({**FeatureConfig().to_dict(), "bands": 8})


def test_features_band_bin_edges_follow_spec():
    edges = band_bin_edges(FeatureConfig())
    # 16 bands of 300 Hz up to 4800 Hz; bin width 12000/1024 Hz; DC excluded.
    expected = [max(1, round(j * 300 * 1024 / 12000)) for j in range(17)]
    assert edges.tolist() == expected
    assert edges[0] == 1 and edges[-1] == 410
    # Edges follow the rate: the same layout in bins at twice the rate and window.
    doubled = band_bin_edges(FeatureConfig(sample_rate=24000.0, window=2048))
    assert np.all(np.abs(doubled - 2 * edges) <= 1)


def test_features_band_bin_edges_give_every_band_a_bin():
    config = FeatureConfig(window=64, n_bands=30, f_high_frac=1.0)
    edges = band_bin_edges(config)
    assert np.all(np.diff(edges) >= 1)
    assert edges[0] >= 1 and edges[-1] <= 33


def test_features_hann_is_periodic():
    w = hann_periodic(8)
    assert w[0] == 0.0 and w[4] == pytest.approx(1.0)
    assert np.allclose(w[1:4], w[7:4:-1])


def test_features_window_starts_cover_each_segment():
    config = FeatureConfig(window=64, hop=32)
    assert window_starts(64, config).tolist() == [0]
    assert window_starts(63, config).tolist() == []
    assert window_starts(200, config).tolist() == [0, 32, 64, 96, 128]


def test_features_frame_windows_never_straddle_gaps():
    config = FeatureConfig(window=64, hop=48)
    x = np.arange(1000, dtype=np.float64)
    segments = [(0, 150), (150, 160), (160, 1000)]
    windows = frame_windows(x, config, segments)
    starts = window_starts(x.size, config, segments)
    assert windows.shape == (starts.size, 64)
    for start, w in zip(starts, windows, strict=True):
        assert np.array_equal(w, x[start : start + 64])
        inside = [a <= start and start + 64 <= b for a, b in segments]
        assert sum(inside) == 1
    # Each segment starts its own grid.
    assert starts[:2].tolist() == [0, 48] and starts[2] == 160


def test_features_frame_windows_rejects_bad_segments():
    with pytest.raises(ValueError, match="segment"):
        frame_windows(np.zeros(100), FeatureConfig(window=64), [(50, 200)])


@pytest.mark.parametrize(
    "config",
    [
        FeatureConfig(),
        FeatureConfig(sample_rate=1000.0, window=256, n_bands=8, f_low_hz=10.0),
        FeatureConfig(sample_rate=48000.0, window=64, n_bands=12, f_high_frac=1.0),
    ],
    ids=["default", "1kHz-256", "48kHz-64"],
)
def test_features_window_features_match_the_spec_formulas(config):
    rng = np.random.default_rng(7)
    x = rng.normal(0.1, 0.5, size=(3, config.window)) + np.sin(np.arange(config.window))
    ours = window_features(x, config)
    for row, window in zip(ours, x, strict=True):
        np.testing.assert_allclose(row, _spec_features(window, config), rtol=1e-9, atol=1e-9)


def test_features_sine_energy_lands_in_its_band():
    config = FeatureConfig()
    edges = band_bin_edges(config)
    k = int(edges[5] + 3)  # a bin well inside band 5
    amplitude = 0.7
    t = np.arange(config.window)
    x = amplitude * np.sin(2 * np.pi * k * t / config.window)
    f = window_features(x[None, :], config)[0]
    bands = 10 ** f[: config.n_bands]
    assert bands[5] == pytest.approx(amplitude**2 / 2, rel=1e-9)
    assert np.all(np.delete(bands, 5) < 1e-11)
    assert f[16] == pytest.approx(math.log10(amplitude**2 / 2), rel=1e-9)
    assert f[17] == pytest.approx(1.5, rel=1e-9)  # Pearson kurtosis of a sine
    assert f[18] == pytest.approx(math.sqrt(2), rel=1e-9)  # crest factor of a sine


def test_features_white_noise_bands_sum_to_m2():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2.0, size=(400, 1024))
    full = FeatureConfig(f_high_frac=1.0)
    f = window_features(x, full)
    ratio = np.sum(10 ** f[:, :16], axis=1) / 10 ** f[:, 16]
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.01)
    # The default layout stops at 0.8 Nyquist: 80 % of a white spectrum.
    f = window_features(x, FeatureConfig())
    ratio = np.sum(10 ** f[:, :16], axis=1) / 10 ** f[:, 16]
    assert np.mean(ratio) == pytest.approx(0.8, abs=0.01)
    assert np.mean(f[:, 17]) == pytest.approx(3.0, abs=0.1)  # Gaussian kurtosis


def test_features_constant_window_gives_floor_values():
    config = FeatureConfig(window=64)
    f = window_features(np.full((1, 64), 3.0), config)[0]
    assert np.all(f[:17] == pytest.approx(math.log10(config.eps)))
    assert f[17] == 0.0 and f[18] == 0.0


def test_features_ignore_a_dc_offset():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 1024))
    config = FeatureConfig()
    np.testing.assert_allclose(
        window_features(x + 5.0, config), window_features(x, config), atol=1e-9
    )


@settings(max_examples=25, deadline=None)
@given(gain=st.floats(min_value=1e-2, max_value=1e3), seed=st.integers(0, 2**16))
def test_features_scale_with_gain_like_the_math_says(gain, seed):
    config = FeatureConfig(window=256, n_bands=8)
    x = np.random.default_rng(seed).normal(size=(1, 256))
    a, b = window_features(x, config)[0], window_features(gain * x, config)[0]
    np.testing.assert_allclose(b[:9], a[:9] + 2 * math.log10(gain), atol=1e-6)
    np.testing.assert_allclose(b[9:], a[9:], rtol=1e-9)


def test_features_extract_features_reads_the_configured_axis():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4096, 3))
    config = FeatureConfig(axis=2)
    np.testing.assert_array_equal(
        extract_features(x, config), extract_features(x[:, 2], FeatureConfig())
    )
    assert extract_features(x, config).shape == (7, 19)
    with pytest.raises(ValueError, match="axis 3"):
        extract_features(x, FeatureConfig(axis=3))


def test_features_window_features_rejects_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        window_features(np.zeros((2, 100)), FeatureConfig())

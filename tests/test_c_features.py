"""Parity rung 4a: the C float32 features against vibration.features (numpy float64).

Tolerance: ``|c - ref| <= 1e-4 * max(|ref|, 1)`` per value. Relative for values of
magnitude >= 1 (kurtosis, crest, most log10 powers); absolute 1e-4 below, where a
relative bound is meaningless (a log10 band power crossing 0, i.e. E_j near 1 unit^2:
1e-4 in log10 is 0.023 % of the power).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_export.codegen import FirmwareSpec
from firmware_export.host_build import HostLibrary, build_host_library
from firmware_export.sources import write_c_sources
from firmware_export.testing import random_int8_model, synthetic_windows
from tests.conftest import require_tool
from vibration.features import FeatureConfig, frame_windows, window_features

TOL = 1e-4

CONFIGS = {
    "default": FeatureConfig(),
    "w64": FeatureConfig(window=64, hop=32, n_bands=8),
    "w256_many_bands": FeatureConfig(window=256, hop=256, n_bands=40, f_high_frac=1.0),
    "w4096_f_low": FeatureConfig(window=4096, hop=1024, n_bands=24, f_low_hz=100.0),
    "rate_48k": FeatureConfig(sample_rate=48000.0, window=2048, n_bands=12),
}


def _host(tmp: Path, config: FeatureConfig) -> HostLibrary:
    require_tool("gcc", "gcc")
    spec = FirmwareSpec(
        model=random_int8_model(config.n_features),
        feature_config=config,
        feature_mean=np.zeros(config.n_features),
        feature_scale=np.ones(config.n_features),
        threshold=1.0,
    )
    write_c_sources(tmp / "src", spec)
    return HostLibrary(build_host_library(tmp / "src", tmp / "build"))


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def built(request, tmp_path_factory):
    config = CONFIGS[request.param]
    return config, _host(tmp_path_factory.mktemp(request.param), config)


def _error(c: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(c.astype(np.float64) - ref) / np.maximum(np.abs(ref), 1.0)


def _windows(config: FeatureConfig, seed: int) -> np.ndarray:
    """float32 windows as a sensor gives them: int16 codes times a float32 scale."""
    rng = np.random.default_rng(seed)
    codes = np.concatenate(
        [
            synthetic_windows(config, 40, seed=seed),
            np.clip(
                rng.normal(0, 1, (40, config.window)) * rng.uniform(1, 12000, (40, 1)),
                -32768,
                32767,
            ).astype(np.int16),
            rng.integers(-32768, 32768, (4, config.window)).astype(np.int16),  # full scale
            np.full((2, config.window), 1234, np.int16),  # DC only
        ]
    )
    codes[-1, config.window // 3] += 1  # one LSB spike on DC
    scales = rng.choice(np.array([1e-4, 1e-3, 0.0123, 1.0], np.float32), size=(len(codes), 1))
    return codes.astype(np.float32) * scales


def test_c_features_match_numpy_reference(built):
    config, host = built
    w = _windows(config, seed=7)
    c, stats = host.features(w)
    ref = window_features(w.astype(np.float64), config)
    err = _error(c, ref)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= TOL, f"max error {err.max():.3g} at window {worst[0]} feature {worst[1]}"
    # The returned statistics are the vector's own: rms^2 = m2, kurtosis, crest.
    nb = config.n_bands
    np.testing.assert_allclose(
        np.log10(stats[:, 1].astype(np.float64) + config.eps), c[:, nb], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(stats[:, 3], c[:, nb + 1])
    np.testing.assert_array_equal(stats[:, 4], c[:, nb + 2])


def test_c_features_constant_window_has_zero_statistics(built):
    config, host = built
    w = np.full((3, config.window), 0.037, np.float32) * np.array([[1], [0], [-250]], np.float32)
    c, stats = host.features(w)
    nb = config.n_bands
    np.testing.assert_array_equal(stats[:, 1], 0.0)  # m2
    np.testing.assert_array_equal(c[:, nb + 1 :], 0.0)  # kurtosis, crest
    np.testing.assert_allclose(c[:, : nb + 1], np.log10(config.eps), rtol=1e-6)


def test_c_features_rfft_matches_numpy(tmp_path):
    """The packed real FFT, through the band powers of single tones and of noise."""
    config = FeatureConfig(window=512, n_bands=255, f_high_frac=1.0)
    host = _host(tmp_path, config)
    rng = np.random.default_rng(3)
    n = config.window
    t = np.arange(n)
    tones = np.array([np.cos(2 * np.pi * k * t / n + rng.uniform(0, 6)) for k in (1, 7, 100, 255)])
    w = np.concatenate([tones, rng.normal(0, 1, (8, n))]).astype(np.float32)
    c, _ = host.features(w)
    ref = window_features(w.astype(np.float64), config)
    assert _error(c, ref)[:, 40:-3].max() <= TOL  # bands far from the leakage floor


@pytest.mark.slow
def test_c_features_match_on_real_cwru_windows(cwru_dir, tmp_path):
    from vibration.dataset import quantize
    from vibration.importers import read_signal

    config = FeatureConfig()
    host = _host(tmp_path, config)
    files = [
        "normal_0_97.mat",
        "12k_Drive_End_IR007_0_105.mat",
        "12k_Drive_End_B021_2_224.mat",
        "12k_Drive_End_OR014@6_1_202.mat",
    ]
    worst = 0.0
    for name in files:
        path = cwru_dir / name
        if not path.exists():
            continue
        signal = read_signal(path, variable="DE").samples[:, 0]
        codes, scale = quantize(signal)
        physical = codes.astype(np.float32) * np.float32(scale)
        windows = frame_windows(physical, config).astype(np.float32)
        c, _ = host.features(windows)
        worst = max(worst, float(_error(c, window_features(windows, config)).max()))
    assert worst <= TOL

"""ISO 10816-3 velocity RMS and zone, in Python (vibration.learning.severity) and in the C
pipeline: a pure tone of known acceleration gives the theoretical velocity within 2 %, C
equals Python within float32 rounding, zones change on each boundary, units map alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import random_int8_model
from firmware_export.runtime.host_build import RESULT_COL as COL
from firmware_export.runtime.host_build import HostLibrary, build_host_library
from tests.support import require_tool
from vibration.learning.features import FeatureConfig, frame_windows
from vibration.learning.severity import (
    ISO_10816_3_LIMITS,
    iso_zone,
    units_to_ms2,
    velocity_bins,
    velocity_rms,
)

CONFIG = FeatureConfig()  # 1024 samples at 12 kHz: bins of 11.7 Hz
GROUP, FOUNDATION = 1, "rigid"


def _tone(f_hz: float, amp: float, n: int, phase: float = 0.3, noise: float = 0.0, seed=0):
    t = np.arange(n) / CONFIG.sample_rate
    rng = np.random.default_rng(seed)
    return amp * np.sin(2 * np.pi * f_hz * t + phase) + noise * rng.normal(0, 1, n)


def _theory_mm_s(f_hz: float, amp_ms2: float) -> float:
    return amp_ms2 / (2 * math.pi * f_hz) / math.sqrt(2) * 1000.0


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    require_tool("gcc", "gcc")
    tmp = tmp_path_factory.mktemp("severity")
    rng = np.random.default_rng(0)
    spec = FirmwareSpec(
        model=random_int8_model(CONFIG.n_features, (8,), seed=2),
        feature_config=CONFIG,
        feature_mean=rng.normal(0, 1, CONFIG.n_features),
        feature_scale=rng.uniform(0.5, 2, CONFIG.n_features),
        threshold=5.0,
        units="m/s2",
        iso_group=GROUP,
        foundation=FOUNDATION,
    )
    write_c_sources(tmp / "src", spec)
    return HostLibrary(build_host_library(tmp / "src", tmp / "build"))


def test_severity_velocity_bins_cover_10_hz_to_1_khz():
    assert velocity_bins(CONFIG) == (1, 85)  # 11.7 Hz .. 996 Hz
    assert velocity_bins(FeatureConfig.for_rate(3200.0)) == (1, 80)  # 12.5 Hz .. 1000 Hz
    low = FeatureConfig(sample_rate=2000.0, window=64, hop=32)
    assert velocity_bins(low) == (1, 31)  # capped below the Nyquist bin


@pytest.mark.parametrize("phase", np.linspace(0, np.pi, 8, endpoint=False).tolist())
def test_severity_80_hz_tone_gives_theoretical_velocity_in_python(phase):
    amp = 5.0  # m/s^2
    x = _tone(80.0, amp, CONFIG.window, phase=phase, noise=0.01)
    v = velocity_rms(x[None, :], CONFIG)[0] * units_to_ms2("m/s2") * 1000.0
    assert v == pytest.approx(_theory_mm_s(80.0, amp), rel=0.02)


def test_severity_80_hz_tone_gives_theoretical_velocity_in_c(lib):
    amp, scale = 4.0, 1e-3  # m/s^2, m/s^2 per LSB
    x = _tone(80.0, amp, 20 * CONFIG.hop + CONFIG.window, noise=0.01)
    codes = np.round(x / scale).astype(np.int16)
    pipe = lib.pipeline()
    pipe.set_scale(scale)
    rows = pipe.push(codes)
    theory = _theory_mm_s(80.0, amp)
    np.testing.assert_allclose(rows[:, COL["velocity_rms_mm_s"]], theory, rtol=0.02)
    # and the C equals the float64 reference on the same windows to float32 rounding
    windows = frame_windows(codes.astype(np.float32) * np.float32(scale), CONFIG)
    ref = velocity_rms(windows, CONFIG) * 1000.0
    np.testing.assert_allclose(rows[:, COL["velocity_rms_mm_s"]], ref, rtol=1e-5)
    assert (rows[:, COL["iso_zone"]] == 3).all()  # 5.6 mm/s: zone C for group 1 rigid (4.5 .. 7.1)


def test_severity_c_velocity_matches_python_on_noise_and_tones(lib):
    rng = np.random.default_rng(5)
    windows = np.concatenate(
        [
            rng.normal(0, 1, (20, CONFIG.window)) * rng.uniform(0.01, 10, (20, 1)),
            np.stack([_tone(f, 3.0, CONFIG.window, noise=0.1) for f in (12, 30, 250, 990, 3000)]),
        ]
    ).astype(np.float32)
    _, stats = lib.features(windows)
    ref = velocity_rms(windows, CONFIG)
    np.testing.assert_allclose(stats[:, 5], ref, rtol=1e-5)


@pytest.mark.parametrize("boundary", [0, 1, 2], ids=["A/B", "B/C", "C/D"])
def test_severity_zone_changes_on_each_boundary_in_c_and_python(lib, boundary):
    limits = ISO_10816_3_LIMITS[(GROUP, FOUNDATION)]
    x = _tone(80.0, 1.0, CONFIG.window + CONFIG.hop)
    codes = np.round(x / 1e-3).astype(np.int16)
    unit = lib.pipeline()
    unit.set_scale(1e-3)
    v_unit = unit.push(codes)[:, 11] / 1e-3  # mm/s per (m/s^2 per LSB): velocity is linear
    for side, factor in (("below", 0.999), ("above", 1.001)):
        pipe = lib.pipeline()
        pipe.set_scale(float(limits[boundary] * factor / v_unit[0]))
        rows = pipe.push(codes)
        expected = boundary + 1 if side == "below" else boundary + 2
        assert rows[0, COL["iso_zone"]] == expected, side
        assert iso_zone(rows[:1, 11], limits).tolist() == [expected]


def test_severity_zone_reference_on_the_boundary_and_nan():
    limits = ISO_10816_3_LIMITS[(2, "rigid")]
    assert limits == (1.4, 2.8, 4.5)
    v = [0.0, 1.4, np.nextafter(1.4, 2), 2.8, 4.5, 4.6, np.nan]
    assert iso_zone(v, limits).tolist() == [1, 1, 2, 2, 3, 4, 0]
    with pytest.raises(ValueError, match="increasing"):
        iso_zone([1.0], (2.0, 1.0, 3.0))


@pytest.mark.parametrize("units", ["g", "m/s2", "m/s^2", "mg", "G", "", "m/s", "gg"])
def test_severity_units_map_alike_in_c_and_python(lib, units):
    expected = units_to_ms2(units)
    got = lib.units_to_ms2(units)
    if math.isnan(expected):
        assert got == 0.0  # the C's "unknown"
    else:
        assert got == pytest.approx(expected, rel=1e-7)


def test_severity_unknown_units_give_nan_velocity_and_no_zone(lib):
    pipe = lib.pipeline()
    pipe.set_units("counts")
    rows = pipe.push(np.round(_tone(80.0, 1000.0, CONFIG.window)).astype(np.int16))
    assert math.isnan(rows[0, COL["velocity_rms_mm_s"]]) and rows[0, COL["iso_zone"]] == 0
    pipe.set_units("g")
    rows = pipe.push(np.zeros(CONFIG.hop, np.int16))
    assert not math.isnan(rows[0, COL["velocity_rms_mm_s"]])

"""Tachless shaft speed: accuracy of the reference, and C (tinypdm_speed.c) against it.

Parity tolerance (docs/features.md, "Shaft speed (tachless)"): the decimated samples are
bit-identical (same float32 operations in the same order); the estimate differs only
through the FFT (numpy's float64 in the reference, the library's float32 radix-4 on the
device), i.e. in the 7th digit of the log spectrum. So C and Python must report the same
speed to 0.01 % on every estimate except where two comb candidates tie to that precision;
at most 1 % of the estimates may differ (none did on the signals below).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import random_int8_model
from firmware_export.runtime.host_build import RESULT_COL as COL
from firmware_export.runtime.host_build import RESULT_FIELDS, HostLibrary, build_host_library
from tests.support import require_tool
from vibration.data.simulator import BearingSimulator, SimulatorConfig
from vibration.learning.features import FeatureConfig, frame_windows
from vibration.learning.speed import (
    SpeedConfig,
    decimate,
    speed_plan,
    speed_track,
    window_speeds,
)

UESTC = Path("/work/shared/data/uestc")
REL = 1e-4


def _host(tmp: Path, config: FeatureConfig, speed: SpeedConfig | None = None) -> HostLibrary:
    require_tool("gcc", "gcc")
    spec = FirmwareSpec(
        model=random_int8_model(config.n_features),
        feature_config=config,
        feature_mean=(0.0,) * config.n_features,
        feature_scale=(1.0,) * config.n_features,
        threshold=1.0,
        speed=speed or SpeedConfig(),
    )
    write_c_sources(tmp / "src", spec)
    return HostLibrary(build_host_library(tmp / "src", tmp / "build"))


def _simulated(rpm: float, fault: str, seconds: float, seed: int, fs: float = 12000.0):
    sim = BearingSimulator(
        SimulatorConfig(sample_rate=fs, rpm=rpm, fault=fault, severity=0.6, seed=seed)
    )
    codes = sim.generate_int16(int(fs * seconds))[:, 0]
    return (codes.astype(np.float32) * np.float32(sim.config.scale)).astype(np.float32)


def _agree(c: np.ndarray, py: np.ndarray) -> np.ndarray:
    both_nan = np.isnan(c) & np.isnan(py)
    return both_nan | (np.abs(c - py) <= REL * np.abs(py))


@pytest.fixture(scope="module")
def host12k(tmp_path_factory):
    return _host(tmp_path_factory.mktemp("speed12k"), FeatureConfig())


@pytest.mark.parametrize("rpm", [420.0, 900.0, 1797.0, 2900.0, 3500.0], ids=lambda r: f"{r:g}rpm")
@pytest.mark.parametrize("fault", ["none", "outer", "inner"])
def test_speed_reference_within_two_percent_on_the_simulator(rpm, fault):
    """Healthy: generic 300-3600 rpm search. Faulty: a nameplate range (+-25 %), because a
    strong defect tone has its own harmonic series (outer race: 3.58 x shaft at 900 rpm)
    that the generic range lets the comb lock onto (docs/features.md)."""
    config = FeatureConfig()
    x = _simulated(rpm, fault, 10.0, seed=7)
    speed = SpeedConfig() if fault == "none" else SpeedConfig(0.75 * rpm, 1.25 * rpm)
    rep = window_speeds(x, config, speed)
    after = rep[~np.isnan(rep)]
    assert after.size > 0.85 * rep.size
    err = np.abs(after / rpm - 1.0)
    # 1 Hz bins: one bin at the 3rd harmonic is 1/(3 f0), 4 % at 420 rpm, 0.6 % at 3500
    assert np.median(err) < 0.02, f"median {np.median(err):.3%}"
    assert np.max(err) < (0.06 if rpm < 600 else 0.02), f"worst {np.max(err):.3%}"


def test_speed_reference_is_nan_during_warm_up_and_causal():
    config, speed = FeatureConfig(), SpeedConfig()
    plan = speed_plan(config, speed)
    x = _simulated(1500.0, "none", 4.0, seed=1)
    rep = window_speeds(x, config, speed)
    last = np.arange(rep.size) * config.hop + config.window - 1
    assert np.all(np.isnan(rep[last < plan.buffer * plan.q - 1]))
    assert np.all(np.isfinite(rep[last >= plan.buffer * plan.q - 1]))
    # causal: the speeds of a prefix are the prefix of the speeds
    cut = x[: 2 * plan.buffer * plan.q + 777]
    head = window_speeds(cut, config, speed)
    np.testing.assert_array_equal(head, rep[: head.size])
    assert head.size == frame_windows(cut, config).shape[0]


def test_speed_config_round_trips_and_validates():
    s = SpeedConfig(rpm_min=900.0, rpm_max=1860.0)
    assert SpeedConfig.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match="rpm_min < rpm_max"):
        SpeedConfig(rpm_min=2000.0, rpm_max=1000.0)
    with pytest.raises(ValueError, match="unknown SpeedConfig keys"):
        SpeedConfig.from_dict({"rpm_min": 1.0, "tacho": 2})
    with pytest.raises(ValueError, match="power of two"):
        SpeedConfig(buffer=1000)


def test_speed_disabled_when_the_buffer_exceeds_the_window():
    config = FeatureConfig(window=256, hop=128)
    assert not speed_plan(config, SpeedConfig()).enabled
    rep = window_speeds(_simulated(1500.0, "none", 3.0, seed=2), config, SpeedConfig())
    assert rep.size > 0 and np.all(np.isnan(rep))


@pytest.mark.parametrize("fs", [12000.0, 20000.0, 25600.0, 48000.0])
def test_speed_c_decimator_is_bit_exact(tmp_path, fs):
    config = FeatureConfig.for_rate(fs)
    host = _host(tmp_path, config)
    plan = speed_plan(config, SpeedConfig())
    x = _simulated(1500.0, "inner", 2.0, seed=9, fs=fs)
    c = host.speed_decimate(x)
    py = decimate(decimate(x, plan.taps1, plan.r), plan.taps, plan.q2)
    assert c.size == py.size == x.size // plan.q
    np.testing.assert_array_equal(c.view(np.int32), py.view(np.int32))


@pytest.mark.parametrize("rpm", [600.0, 1797.0, 3300.0], ids=lambda r: f"{r:g}rpm")
def test_speed_c_matches_reference_on_simulated_signals(host12k, rpm):
    config, speed = FeatureConfig(), SpeedConfig()
    x = _simulated(rpm, "inner", 12.0, seed=3)
    c = host12k.speed(x)
    at, raw, _ = speed_track(x, config, speed)
    np.testing.assert_array_equal(c.at, at)
    ok = _agree(c.raw, raw)
    assert np.mean(ok) >= 0.99, (c.raw[~ok], raw[~ok])
    py_win = window_speeds(x, config, speed)
    assert c.window_rpm.shape == py_win.shape
    assert np.mean(_agree(c.window_rpm, py_win)) >= 0.99


def test_speed_c_pipeline_reports_the_same_speed(host12k):
    config = FeatureConfig()
    sim = BearingSimulator(SimulatorConfig(rpm=1200.0, seed=5))
    codes = sim.generate_int16(12000 * 5)[:, 0]
    x = codes.astype(np.float32) * np.float32(0.001)
    pipe = host12k.pipeline()  # scale TINYPDM_SAMPLE_SCALE = 0.001
    rows = pipe.push(codes)
    py = window_speeds(x, config, SpeedConfig())
    assert rows.shape == (py.size, len(RESULT_FIELDS))
    assert np.mean(_agree(rows[:, COL["speed_rpm"]], py)) >= 0.99
    assert np.isnan(rows[0, COL["speed_rpm"]]) and np.isfinite(rows[-1, COL["speed_rpm"]])
    # the pipeline's block push is the same arithmetic as sample-by-sample pushes
    np.testing.assert_array_equal(rows[:, COL["speed_rpm"]], host12k.speed(x).window_rpm)


def test_speed_c_external_speed_overrides(host12k):
    x = _simulated(1500.0, "none", 3.0, seed=4)
    c = host12k.speed(x, external_rpm=1234.5)
    assert np.all(c.window_rpm == np.float32(1234.5))
    assert np.isfinite(c.reported[-1]) and abs(c.reported[-1] / 1500.0 - 1) < 0.02


def test_speed_c_decimated_rate_and_band_follow_the_sample_rate(tmp_path):
    config = FeatureConfig.for_rate(20000.0)
    host = _host(tmp_path, config)
    plan = speed_plan(config, SpeedConfig())
    cfg = host.speed_config
    assert (
        (cfg["q"], cfg["buffer"], cfg["harmonics"])
        == (20, 1024, 5)
        == (
            plan.q,
            plan.buffer,
            plan.harmonics,
        )
    )
    assert cfg["max_bin"] * cfg["rate_hz"] / cfg["buffer"] <= cfg["rate_hz"] / 3


@pytest.mark.skipif(not UESTC.is_dir(), reason="UESTC data set not present")
def test_speed_c_matches_reference_on_uestc(tmp_path):
    import scipy.io

    config = FeatureConfig.for_rate(20000.0)
    host = _host(tmp_path, config)
    x = np.asarray(scipy.io.loadmat(UESTC / "B_1200_1.mat")["Data"], np.float64).ravel()
    x32 = x.astype(np.float32)
    c = host.speed(x32)
    at, raw, _ = speed_track(x32, config, SpeedConfig())
    np.testing.assert_array_equal(c.at, at)
    assert np.mean(_agree(c.raw, raw)) >= 0.99
    assert np.mean(_agree(c.window_rpm, window_speeds(x32, config, SpeedConfig()))) >= 0.99


def test_speed_reports_nothing_on_a_femto_length_snapshot():
    """A 0.1 s snapshot (2560 samples at 25.6 kHz, 98 decimated) never fills the 1024-sample
    buffer: every window is NaN (unknown), there is no snapshot-length fallback."""
    config = FeatureConfig.for_rate(25600.0)
    snap = _simulated(1800.0, "none", 0.1, seed=6, fs=25600.0)
    assert snap.size == 2560
    rep = window_speeds(snap, config, SpeedConfig())
    assert rep.size >= 1 and np.all(np.isnan(rep))


def test_speed_c_external_speed_set_and_cleared(host12k):
    import ctypes

    lib = host12k._lib
    lib.tinypdm_speed_init.argtypes = [ctypes.c_void_p]
    lib.tinypdm_speed_set_external.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.tinypdm_speed_rpm.argtypes = [ctypes.c_void_p]
    lib.tinypdm_speed_rpm.restype = ctypes.c_float
    mem = np.zeros(host12k.sizeof("speed") + 16, np.uint8)
    s = ctypes.c_void_p((mem.ctypes.data + 15) // 16 * 16)
    lib.tinypdm_speed_init(s)
    assert np.isnan(lib.tinypdm_speed_rpm(s))  # warming up, no external speed
    lib.tinypdm_speed_set_external(s, 1480.0)
    assert lib.tinypdm_speed_rpm(s) == np.float32(1480.0)
    for back in (float("nan"), 0.0, -5.0):  # CONTROL command 1 with <= 0 or NaN
        lib.tinypdm_speed_set_external(s, 1480.0)
        lib.tinypdm_speed_set_external(s, back)
        assert np.isnan(lib.tinypdm_speed_rpm(s))


def test_speed_export_reads_the_model_json_speed_section(tmp_path):
    import json
    from types import SimpleNamespace

    from firmware_export.errors import ExportError
    from firmware_export.exporter.bundle import _speed_config
    from vibration.learning.model_dir import _speed_attributes

    assert _speed_config(SimpleNamespace()) == SpeedConfig()  # an older model: the defaults
    wanted = SpeedConfig(rpm_min=900.0, rpm_max=1860.0)
    n = FeatureConfig().n_features
    for key in ("estimator", "config"):  # m12's model.json key, the shared API's name
        doc = {"envelope_rpm": [1000, 1800], "u0": 7.0, "slope": [0.0] * n, key: wanted.to_dict()}
        doc = json.loads(json.dumps(doc))
        det = SimpleNamespace(**_speed_attributes(doc, n))
        assert _speed_config(det) == wanted
    bad = dict(wanted.to_dict(), rpm_max=100.0)
    with pytest.raises(ExportError, match="bad speed section"):
        _speed_config(SimpleNamespace(speed_config_=bad))


def test_speed_constants_are_generated_from_the_spec(tmp_path):
    from firmware_export.exporter.codegen import generate_sources

    config = FeatureConfig()
    spec = FirmwareSpec(
        model=random_int8_model(config.n_features),
        feature_config=config,
        feature_mean=(0.0,) * config.n_features,
        feature_scale=(1.0,) * config.n_features,
        threshold=1.0,
        speed=SpeedConfig(rpm_min=900.0, rpm_max=1860.0),
    )
    header = generate_sources(spec)["tinypdm_model_config.h"]
    plan = speed_plan(config, spec.speed)
    assert "#define TINYPDM_SPEED_ENABLED 1" in header
    assert f"#define TINYPDM_SPEED_CAND_FIRST {plan.cand_first} " in header
    assert f"#define TINYPDM_SPEED_N_CAND {plan.n_cand}\n" in header
    assert "#define TINYPDM_SPEED_R 4 " in header and "#define TINYPDM_SPEED_Q2 3 " in header
    small = FeatureConfig(window=256, hop=128)
    off = FirmwareSpec(
        model=random_int8_model(small.n_features),
        feature_config=small,
        feature_mean=(0.0,) * small.n_features,
        feature_scale=(1.0,) * small.n_features,
        threshold=1.0,
    )
    text = generate_sources(off)["tinypdm_model_config.h"]
    assert "#define TINYPDM_SPEED_ENABLED 0 /* off (buffer 1024 exceeds" in text


@pytest.mark.parametrize("rpm", [900.0, 1797.0, 3000.0], ids=lambda r: f"{r:g}rpm")
def test_speed_slow_sensor_configuration_within_two_percent(rpm):
    """6 kHz (window 512): the default 1024-sample buffer is off; 512 samples at 500 Hz
    keep 1 s and 1 Hz bins (docs/features.md)."""
    config = FeatureConfig.for_rate(6000.0)
    assert not speed_plan(config, SpeedConfig()).enabled
    speed = SpeedConfig(buffer=512, hop=256, decimated_rate_hz=500.0)
    x = _simulated(rpm, "none", 10.0, seed=2, fs=6000.0)
    rep = window_speeds(x, config, speed)
    after = rep[~np.isnan(rep)]
    assert after.size > 0.8 * rep.size
    assert np.max(np.abs(after / rpm - 1.0)) < 0.02


def test_speed_c_pipeline_control_sets_and_clears_external_speed(host12k):
    """CONTROL command 1 reaches the pipeline's estimator: the windows report the external
    speed with flag bit 1 (FLAG_EXTERNAL_SPEED); value 0 goes back to the estimate."""
    codes = BearingSimulator(SimulatorConfig(rpm=1200.0, seed=5)).generate_int16(12000 * 3)[:, 0]
    ref = host12k.pipeline().push(codes)
    pipe = host12k.pipeline()
    assert pipe.control(1, 1480.0) is True
    rows = pipe.push(codes)
    assert np.all(rows[:, COL["speed_rpm"]] == np.float32(1480.0))
    assert np.all(rows[:, COL["flags"]].astype(int) & 2 == 2)
    assert pipe.control(1, 0.0) is True and pipe.control(9, 0.0) is False
    pipe2 = host12k.pipeline()
    pipe2.control(1, 1480.0)
    pipe2.control(1, float("nan"))
    rows2 = pipe2.push(codes)
    np.testing.assert_array_equal(rows2[:, COL["speed_rpm"]], ref[:, COL["speed_rpm"]])
    assert np.all(rows2[:, COL["flags"]].astype(int) & 2 == 0)

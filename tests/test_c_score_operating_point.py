"""The C standardisation across operating points: speed-conditioned mean, one-sided inputs
and score, the speed envelope (unknown operating point), against the Python reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import random_int8_model
from firmware_export.runtime.host_build import RESULT_COL as COL
from firmware_export.runtime.host_build import HostLibrary, build_host_library
from firmware_export.runtime.scorer import Standardisation, reference_scores
from firmware_export.runtime.tflite_model import read_tflite
from tests.support import require_tool
from vibration.learning.features import FeatureConfig, frame_windows
from vibration.learning.thresholds import (
    FLAG_UNKNOWN_OP,
    STATE_ALARM,
    STATE_UNKNOWN,
    AlarmPolicy,
    alarm_lifecycle,
)

DATA = Path(__file__).parent / "data"
CONFIG = FeatureConfig(window=256, hop=96, n_bands=16)
POLICY = AlarmPolicy(k=2, n=4)
ENVELOPE = (800.0, 1800.0)
U0 = float(np.float32(np.log(1200.0)))
Z_MAX = 4.0


BLOB = (DATA / "golden_dense_pc.tflite").read_bytes()  # 19 -> 12 -> 6 -> 12 -> 19, int8


def _speed_spec(rng: np.random.Generator) -> FirmwareSpec:
    n = CONFIG.n_features
    return FirmwareSpec(
        model=read_tflite(BLOB),
        feature_config=CONFIG,
        feature_mean=rng.normal(-2, 1, n),
        feature_scale=rng.uniform(0.3, 1.0, n),
        threshold=8.0,
        alarm_k=POLICY.k,
        alarm_n=POLICY.n,
        sample_scale=0.002,
        feature_slope=rng.normal(0, 1.5, n),
        speed_u0=U0,
        speed_envelope=ENVELOPE,
        one_sided=True,
        z_max=Z_MAX,
    )


def _std(spec: FirmwareSpec) -> Standardisation:
    f32 = np.float32
    return Standardisation(
        mean=np.asarray(spec.feature_mean, f32).astype(np.float64),
        scale=np.asarray(spec.feature_scale, f32).astype(np.float64),
        slope=np.asarray(spec.feature_slope, f32).astype(np.float64),
        u0=float(f32(spec.speed_u0)),
        envelope=ENVELOPE,
        one_sided=True,
        z_max=Z_MAX,
    )


@pytest.fixture(scope="module")
def speed_host(tmp_path_factory):
    require_tool("gcc", "gcc")
    tmp = tmp_path_factory.mktemp("speed")
    spec = _speed_spec(np.random.default_rng(3))
    write_c_sources(tmp / "src", spec)
    return HostLibrary(build_host_library(tmp / "src", tmp / "build")), spec, tmp / "src"


def _signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    level = np.repeat(rng.choice([50.0, 400.0, 3000.0], size=n // 500 + 1), 500)[:n]
    return np.clip(rng.normal(0, 1, n) * level, -32768, 32767).astype(np.int16)


def _speeds(n: int, seed: int) -> np.ndarray:
    """Speeds across and beyond the envelope, some NaN, as float32 values (pushed as
    external speeds, NaN gives the window back to the tachless estimate, which finds no
    shaft in these noise signals: NaN, unknown)."""
    rng = np.random.default_rng(seed)
    rpm = np.exp(rng.uniform(np.log(600.0), np.log(2400.0), n))
    rpm[rng.random(n) < 0.1] = np.nan
    return rpm.astype(np.float32).astype(np.float64)


def test_c_generated_header_carries_speed_and_one_sided_constants(speed_host):
    _, _, src = speed_host
    header = (src / "tinypdm_model_config.h").read_text()
    for line in (
        "#define TINYPDM_SPEED_AWARE 1",
        "#define TINYPDM_SPEED_CONDITIONED 1",
        "#define TINYPDM_ONE_SIDED 1",
        "#define TINYPDM_Z_MAX 4.0f",
        "#define TINYPDM_SPEED_ENVELOPE_LO_RPM 800.0f",
        "#define TINYPDM_SPEED_ENVELOPE_HI_RPM 1800.0f",
    ):
        assert line in header, line
    assert f"#define TINYPDM_SPEED_U0 {float(np.float32(U0)):.9g}f" in header
    assert (
        "tinypdm_feature_slope[TINYPDM_N_FEATURES] = TINYPDM_FEATURE_SLOPE_INIT"
        in (src / "model_data.c").read_text()
    )


def test_c_speed_conditioned_one_sided_score_matches_python_reference(speed_host):
    lib, spec, _ = speed_host
    rng = np.random.default_rng(4)
    windows = (rng.normal(0, 1, (400, CONFIG.window)) * rng.uniform(0.01, 3, (400, 1))).astype(
        np.float32
    )
    c_feats, _ = lib.features(windows)
    rpm = _speeds(len(windows), seed=5)
    trace = lib.score_features(c_feats, rpm)
    std = _std(spec)
    m = spec.model
    ref, q_in, q_out = reference_scores(
        c_feats.astype(np.float64),
        mean=std.mean,
        scale=std.scale,
        tflite=BLOB,
        input_scale=m.input_scale,
        input_zero_point=m.input_zero_point,
        output_scale=m.output_scale,
        output_zero_point=m.output_zero_point,
        standardisation=std,
        speed_rpm=rpm,
    )
    # z+ in [0, z_max], float32 steps vs float64: within 1e-5 relative (ln in float32)
    assert trace.z.min() >= 0.0 and trace.z.max() <= Z_MAX
    assert np.any(trace.z == 0.0) and np.any(trace.z == np.float32(Z_MAX))  # both clips hit
    z_ref = std.inputs(c_feats.astype(np.float64), rpm)
    np.testing.assert_allclose(trace.z, z_ref, rtol=1e-5, atol=1e-5)
    same = np.all(trace.q_in == q_in, axis=1)
    assert same.mean() > 0.95
    np.testing.assert_array_equal(trace.q_out[same], q_out[same])
    np.testing.assert_allclose(trace.scores[same], ref[same], rtol=1e-5)
    np.testing.assert_array_equal(trace.scores > np.float32(8.0), ref > np.float32(8.0))
    # the speed matters: the same windows at another speed score differently
    other = lib.score_features(c_feats, np.full(len(c_feats), 1700.0))
    assert np.mean(other.scores != trace.scores) > 0.5
    # unknown speed (NaN, <= 0): the mean at u0, as the Python reference
    nan = lib.score_features(c_feats, np.full(len(c_feats), np.nan))
    at_u0 = lib.score_features(c_feats, np.full(len(c_feats), np.float32(np.exp(U0))))
    np.testing.assert_allclose(nan.scores, at_u0.scores, rtol=1e-5)
    np.testing.assert_array_equal(lib.score_features(c_feats).scores, nan.scores)


def test_c_pipeline_out_of_envelope_windows_are_unknown_never_over_never_alarm(speed_host):
    lib, spec, _ = speed_host
    samples = _signal(40000, seed=6)
    n_windows = (len(samples) - CONFIG.window) // CONFIG.hop + 1
    rpm = _speeds(n_windows, seed=7)
    rows = lib.pipeline().push_at_speeds(samples, rpm)
    assert len(rows) == n_windows
    np.testing.assert_array_equal(rows[:, COL["speed_rpm"]], rpm.astype(np.float32))
    unknown = rows[:, COL["state"]] == STATE_UNKNOWN
    flags = rows[:, COL["flags"]].astype(int)
    np.testing.assert_array_equal(unknown, (flags & FLAG_UNKNOWN_OP) > 0)
    with np.errstate(invalid="ignore"):
        expected_unknown = ~((rpm >= ENVELOPE[0]) & (rpm <= ENVELOPE[1]))
    np.testing.assert_array_equal(unknown, expected_unknown)
    assert 0.2 < unknown.mean() < 0.8
    over, alarm = rows[:, COL["over"]] > 0, rows[:, COL["alarm"]] > 0
    assert not over[unknown].any() and not alarm[unknown].any()
    scores = rows[:, COL["score"]]
    thr = np.float32(spec.threshold)
    assert (scores[unknown] > thr).any()  # scores over the threshold were not counted
    np.testing.assert_array_equal(over, (scores > thr) & ~unknown)
    # unknown windows do not advance the alarm lifecycle: state 3, the rest as the known alone
    states = alarm_lifecycle(scores, spec.threshold, POLICY, unknown=unknown)
    np.testing.assert_array_equal(rows[:, COL["state"]], states)
    np.testing.assert_array_equal(alarm, states == STATE_ALARM)
    assert alarm.any()
    naive = alarm_lifecycle(np.where(unknown, 0.0, scores), spec.threshold, POLICY)
    assert not np.array_equal(alarm, naive == STATE_ALARM)  # unknown counted as "under"
    # a window's score is the batch score at its speed
    physical = samples.astype(np.float32) * np.float32(spec.sample_scale)
    feats, _ = lib.features(frame_windows(physical, CONFIG).astype(np.float32))
    np.testing.assert_array_equal(scores, lib.score_features(feats, rpm).scores)


def test_c_pipeline_set_speed_zero_or_negative_falls_back_to_the_estimate(speed_host):
    """<= 0 or NaN clears the external speed; the estimate of a fresh pipeline is still
    warming up (NaN), so the windows are of unknown operating point."""
    lib, _, _ = speed_host
    samples = _signal(CONFIG.window + 3 * CONFIG.hop, seed=8)
    for value in (0.0, -1200.0, np.nan):
        pipe = lib.pipeline()
        pipe.set_speed(value)
        rows = pipe.push(samples)
        assert np.all(np.isnan(rows[:, COL["speed_rpm"]]))
        assert np.all(rows[:, COL["state"]] == STATE_UNKNOWN)
    pipe = lib.pipeline()  # a fresh pipeline's speed is unknown
    assert np.all(pipe.push(samples)[:, COL["state"]] == STATE_UNKNOWN)
    pipe.set_speed(1000.0)
    assert not np.any(pipe.push(samples)[:, COL["state"]] == STATE_UNKNOWN)


def _two_sided_spec() -> FirmwareSpec:
    """The spec tests/data/c_pipeline_two_sided_golden.npy was made with (pre-change C)."""
    rng = np.random.default_rng(12)
    return FirmwareSpec(
        model=random_int8_model(CONFIG.n_features, (10, 5), seed=12),
        feature_config=CONFIG,
        feature_mean=rng.normal(-2, 1, CONFIG.n_features),
        feature_scale=rng.uniform(0.5, 2, CONFIG.n_features),
        threshold=30.0,
        alarm_k=2,
        alarm_n=4,
        sample_scale=0.002,
    )


def test_c_pipeline_two_sided_model_scores_exactly_as_before(tmp_path):
    """An old (two-sided, speed-unaware) model: bit-identical to the library before speed
    conditioning (golden rows made with that library), whatever speed is set."""
    require_tool("gcc", "gcc")
    spec = _two_sided_spec()
    write_c_sources(tmp_path / "src", spec)
    header = (tmp_path / "src" / "tinypdm_model_config.h").read_text()
    assert "#define TINYPDM_ONE_SIDED 0" in header and "#define TINYPDM_SPEED_AWARE 0" in header
    lib = HostLibrary(build_host_library(tmp_path / "src", tmp_path / "build"))
    g = np.random.default_rng(13)
    level = np.repeat(g.choice([50.0, 400.0, 3000.0], size=30000 // 500 + 1), 500)[:30000]
    samples = np.clip(g.normal(0, 1, 30000) * level, -32768, 32767).astype(np.int16)
    golden = np.load(DATA / "c_pipeline_two_sided_golden.npy")
    rows = lib.pipeline().push(samples)
    # sample_index .. over (the alarm column was the k-of-n ring; the lifecycle replaced it)
    np.testing.assert_array_equal(rows[:, :7], golden[:, :7])
    assert not np.any(rows[:, COL["state"]] == STATE_UNKNOWN)
    at_speed = lib.pipeline().push_at_speeds(samples, np.full(len(golden), 5000.0))
    np.testing.assert_array_equal(at_speed[:, :7], golden[:, :7])
    assert not np.any(at_speed[:, COL["state"]] == STATE_UNKNOWN)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"feature_slope": [0.0] * 3}, "feature_slope must hold 19", id="slope-len"),
        pytest.param({"feature_slope": [float("nan")] * 19}, "feature_slope", id="slope-nan"),
        pytest.param({"speed_envelope": (1800.0, 800.0)}, "speed_envelope", id="envelope"),
        pytest.param({"speed_envelope": (0.0, 800.0)}, "speed_envelope", id="envelope-0"),
        pytest.param({"z_max": 0.0}, "z_max", id="z-max"),
        pytest.param({"speed_u0": float("inf")}, "speed_u0", id="u0"),
    ],
)
def test_c_spec_refuses_bad_operating_point_constants(kwargs, match):
    spec = dict(
        model=random_int8_model(CONFIG.n_features, (4,), seed=1),
        feature_config=CONFIG,
        feature_mean=np.zeros(CONFIG.n_features),
        feature_scale=np.ones(CONFIG.n_features),
        threshold=1.0,
    )
    with pytest.raises(ValueError, match=match):
        FirmwareSpec(**spec, **kwargs)


def test_c_spec_without_slope_is_not_speed_conditioned():
    base = dict(
        model=random_int8_model(CONFIG.n_features, (4,), seed=1),
        feature_config=CONFIG,
        feature_mean=np.zeros(CONFIG.n_features),
        feature_scale=np.ones(CONFIG.n_features),
        threshold=1.0,
    )
    assert not FirmwareSpec(**base).speed_conditioned
    assert not FirmwareSpec(**base, feature_slope=np.zeros(CONFIG.n_features)).speed_conditioned
    assert FirmwareSpec(**base, feature_slope=np.eye(CONFIG.n_features)[0]).speed_conditioned

"""Export of a speed-conditioned, one-sided model: manifest, generated constants, parity
ladder on the speed sweep, host C = Python scorer, Cortex-M4 budget.

The model is fitted on simulated healthy bearings at four shaft speeds (the mean of every
feature follows ln(speed)); speeds are the true ones, as a tach input would give them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from firmware_export.exporter.bundle import ExportOptions, export_bundle, verify_bundle
from firmware_export.runtime.scorer import Int8Scorer
from tests.conftest import require_tool
from vibration.learning.features import FeatureConfig, frame_windows, window_features

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]

CONFIG = FeatureConfig()  # window 1024 at 12 kHz: the tachless estimator is on
SPEEDS = (900.0, 1200.0, 1500.0, 1800.0)
N_SAMPLES = 512 * 90


def _recording(rpm: float, seed: int, n: int = N_SAMPLES):
    from vibration.data.simulator import BearingSimulator, SimulatorConfig

    sim = BearingSimulator(SimulatorConfig(rpm=rpm, seed=seed, speed_variation=0.0))
    return sim.generate_int16(n)[:, 0], sim.config.scale


@pytest.fixture(scope="module")
def speed_model(tmp_path_factory):
    from vibration.learning.detector import AutoencoderDetector
    from vibration.learning.model_dir import save_model_dir

    require_tool("gcc", "gcc")
    root = tmp_path_factory.mktemp("speedmodel")
    feats, speeds, groups = [], [], []
    for g, rpm in enumerate(SPEEDS):
        codes, scale = _recording(rpm, seed=g)
        f = window_features(
            frame_windows(codes.astype(np.float32) * np.float32(scale), CONFIG), CONFIG
        )
        feats.append(f)
        speeds.append(np.full(len(f), rpm))
        groups.append(np.full(len(f), g))
    X, rpm, grp = np.concatenate(feats), np.concatenate(speeds), np.concatenate(groups)
    det = AutoencoderDetector(hidden=(12, 6), epochs=25, random_state=0)
    det.fit(X, speed=rpm, groups=grp)
    assert det.speed_aware and np.any(det.speed_slope_) and det.one_sided
    held = det._held_out_mask(grp, len(X))
    save_model_dir(
        root / "model",
        det,
        CONFIG,
        {"label": "normal", "seed": 0},
        features=X,
        speeds=rpm,
        held_out=held,
    )
    out = root / "fw"
    manifest = export_bundle(root / "model", out, options=ExportOptions(sample_scale=scale))
    return root / "model", out, manifest, det


def test_export_speed_model_manifest_and_header_carry_the_operating_point(speed_model):
    _, out, manifest, det = speed_model
    speed = manifest["speed"]
    assert speed["conditioned"] is True
    lo, hi = speed["envelope_rpm"]
    assert lo == pytest.approx(det.speed_envelope_[0], rel=1e-6)
    assert hi == pytest.approx(det.speed_envelope_[1], rel=1e-6)
    np.testing.assert_allclose(speed["slope"], det.speed_slope_, rtol=1e-6, atol=1e-7)
    assert speed["u0"] == pytest.approx(det.speed_u0_, rel=1e-6)
    assert manifest["scoring"]["one_sided"] is True
    assert manifest["scoring"]["z_max"] == pytest.approx(det.z_max)
    header = (out / "src" / "tinypdm_model_config.h").read_text()
    assert "#define TINYPDM_SPEED_AWARE 1" in header
    assert "#define TINYPDM_SPEED_CONDITIONED 1" in header
    assert "#define TINYPDM_ONE_SIDED 1" in header
    assert (out / "reference" / "windows.npz").is_file()
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["speed"] == speed


def test_export_speed_model_parity_ladder_passes_on_the_speed_sweep(speed_model):
    _, out, manifest, _ = speed_model
    rungs = {r["rung"]: r for r in manifest["parity"]}
    assert all(r["passed"] for r in rungs.values()), rungs
    r4 = rungs[4]
    assert r4["speed_sweep"] is True
    assert r4["windows_unknown_operating_point"] > 0
    assert r4["decision_mismatches"] == 0
    assert r4["max_score_rel_diff"] <= 1e-4
    # verify re-runs the ladder from the bundle alone (manifest standardisation)
    assert all(r.passed for r in verify_bundle(out))


def test_export_speed_model_host_c_equals_python_scorer(speed_model):
    _, out, manifest, det = speed_model
    c = Int8Scorer(out)
    ref = Int8Scorer(out, engine="tflm")
    lo, hi = manifest["speed"]["envelope_rpm"]
    codes, scale = _recording(1350.0, seed=9, n=512 * 70)
    n = (len(codes) - CONFIG.window) // CONFIG.hop + 1
    rpm = np.geomspace(lo * 0.8, hi * 1.2, n)
    rpm[5::11] = np.nan
    a = c.score_windows(codes, scale=scale, speed_rpm=rpm)
    b = ref.score_windows(codes, scale=scale, speed_rpm=rpm)
    assert len(a) == len(b) == n
    np.testing.assert_array_equal(a.unknown_op, b.unknown_op)
    assert a.unknown_op.any() and not a.unknown_op.all()
    np.testing.assert_array_equal(a.over, b.over)
    np.testing.assert_array_equal(a.alarm, b.alarm)
    assert not a.over[a.unknown_op].any() and not a.alarm[a.unknown_op].any()
    # the merged SCORE v2 fields: lifecycle state (3 where unknown), flags (unknown,
    # external speed), velocity, zone and top features agree between the engines
    np.testing.assert_array_equal(a.state, b.state)
    np.testing.assert_array_equal(a.flags, b.flags)
    np.testing.assert_array_equal(a.state == 3, a.unknown_op)
    np.testing.assert_array_equal((a.flags & 2) > 0, ~np.isnan(rpm))  # external speed
    np.testing.assert_allclose(a.velocity_rms_mm_s, b.velocity_rms_mm_s, rtol=1e-4)
    np.testing.assert_array_equal(a.iso_zone, b.iso_zone)
    assert np.mean(np.all(a.top_features == b.top_features, axis=1)) > 0.9
    np.testing.assert_allclose(a.score, b.score, rtol=1e-3)
    np.testing.assert_array_equal(
        a.speed_rpm[~np.isnan(rpm)], rpm[~np.isnan(rpm)].astype(np.float32)
    )
    # the int8 score follows the float detector's speed-conditioned score
    physical = codes.astype(np.float32) * np.float32(scale)
    f = window_features(frame_windows(physical, CONFIG), CONFIG)
    known = ~a.unknown_op
    float_scores = det.anomaly_score(f[known], rpm[known])
    assert np.corrcoef(np.log(float_scores), np.log(a.score[known]))[0, 1] > 0.9


def test_export_speed_model_fits_the_cortex_m4_budget(speed_model):
    _, _, manifest, _ = speed_model
    sizes = manifest["sizes"]
    if sizes["flash_bytes"] is None:
        pytest.skip(f"not measured: {sizes['reason']}")
    assert sizes["flash_bytes"] <= 32 * 1024
    # 8 KB before the tachless speed estimator; issue 12 allows 12 KB for its 1 s
    # decimated buffer (tests/test_qemu_sensor.py). The operating point adds 16-32 bytes.
    assert sizes["ram_bytes"] <= 12 * 1024
    assert manifest["instructions_per_window"] <= 200_000


def test_export_speed_model_scores_on_the_devices_own_speed_estimate(speed_model):
    """No external speed: the C pipeline's tachless estimate (= window_speeds) conditions
    the score; windows while it warms up (NaN) are of unknown operating point."""
    _, out, manifest, _ = speed_model
    assert "#define TINYPDM_SPEED_ENABLED 1" in (out / "src" / "tinypdm_model_config.h").read_text()
    c = Int8Scorer(out)
    ref = Int8Scorer(out, engine="tflm")
    codes, scale = _recording(1350.0, seed=10, n=512 * 70)
    a = c.score_windows(codes, scale=scale)
    b = ref.score_windows(codes, scale=scale)
    np.testing.assert_allclose(a.speed_rpm, b.speed_rpm, rtol=1e-4)  # NaN where both NaN
    known = np.isfinite(a.speed_rpm)
    assert known.sum() > 20 and np.isnan(a.speed_rpm[0])  # the estimate warms up first
    np.testing.assert_allclose(a.speed_rpm[known], 1350.0, rtol=0.03)
    np.testing.assert_array_equal(a.unknown_op, ~known)
    np.testing.assert_array_equal(a.unknown_op, b.unknown_op)
    np.testing.assert_array_equal(a.over, b.over)
    np.testing.assert_array_equal(a.alarm, b.alarm)
    np.testing.assert_allclose(a.score, b.score, rtol=1e-3)
    assert manifest["parity"][3]["speed_mismatches"] == 0

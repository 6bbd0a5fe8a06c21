"""The C alarm lifecycle (tinypdm_alarm_step) against the Python AlarmLifecycle: random
score sequences with unknown windows and acknowledgements give identical state and flag
sequences; the pipeline reports states, latches and acknowledges (also from a CONTROL
frame), and unknown-operating-point windows do not advance it."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import random_int8_model
from firmware_export.runtime.host_build import RESULT_COL as COL
from firmware_export.runtime.host_build import HostLibrary, build_host_library
from tests.support import require_tool
from vibration.learning.features import FeatureConfig
from vibration.learning.thresholds import (
    FLAG_LATCHED,
    STATE_ALARM,
    STATE_UNKNOWN,
    AlarmLifecycle,
    AlarmPolicy,
)

CONFIG = FeatureConfig(window=128, hop=64, n_bands=4)
POLICIES = {
    "default": AlarmPolicy(),
    "latch": AlarmPolicy(k=2, n=3, clear_ratio=0.7, clear_windows=3, latch=True),
    "min-on": AlarmPolicy(k=1, n=2, clear_ratio=1.0, clear_windows=1, min_on_windows=5),
    "long": AlarmPolicy(k=5, n=64, clear_ratio=0.5, clear_windows=300, min_on_windows=2),
}


def _build(tmp, policy: AlarmPolicy, threshold: float, **extra) -> HostLibrary:
    rng = np.random.default_rng(0)
    spec = FirmwareSpec(
        model=random_int8_model(CONFIG.n_features, (6,), seed=1),
        feature_config=CONFIG,
        feature_mean=rng.normal(0, 1, CONFIG.n_features),
        feature_scale=rng.uniform(0.5, 2, CONFIG.n_features),
        threshold=threshold,
        alarm_k=policy.k,
        alarm_n=policy.n,
        alarm_clear_ratio=policy.clear_ratio,
        alarm_clear_windows=policy.clear_windows,
        alarm_min_on_windows=policy.min_on_windows,
        alarm_latch=policy.latch,
        **extra,
    )
    write_c_sources(tmp / "src", spec)
    return HostLibrary(build_host_library(tmp / "src", tmp / "build"))


def _python(policy, threshold, scores, unknown, ack):
    machine = AlarmLifecycle(policy, threshold)
    states, flags = [], []
    for s, u, a in zip(scores.tolist(), unknown.tolist(), ack.tolist(), strict=True):
        if a:
            machine.acknowledge()
        states.append(machine.step(s, u))
        flags.append(machine.flags)
    return np.array(states, np.uint8), np.array(flags, np.uint8)


@pytest.mark.parametrize("name", list(POLICIES))
def test_c_alarm_lifecycle_matches_python_bit_for_bit(tmp_path, name):
    require_tool("gcc", "gcc")
    policy, threshold = POLICIES[name], 3.28
    lib = _build(tmp_path, policy, threshold)
    clear = policy.clear_level(threshold)
    thr32 = float(np.float32(threshold))
    rng = np.random.default_rng(7)
    n_over = n_alarm = 0
    for seed in range(20):
        n = 3000
        # regimes of normal, near-threshold and fault scores, plus exact boundary values
        level = np.repeat(rng.choice([0.3, 0.9, 1.05, 2.0], size=n // 50 + 1), 50)[:n]
        scores = (thr32 * level * np.exp(rng.normal(0, 0.1, n))).astype(np.float32)
        edge = rng.random(n) < 0.03
        scores[edge] = rng.choice(np.array([thr32, clear], np.float32), size=int(edge.sum()))
        unknown = rng.random(n) < (0.02 if seed % 2 else 0.2)
        ack = rng.random(n) < 0.01
        c_states, c_flags = lib.alarm_run(scores, threshold, unknown, ack)
        p_states, p_flags = _python(policy, threshold, scores.astype(np.float64), unknown, ack)
        np.testing.assert_array_equal(c_states, p_states, err_msg=f"seed {seed}")
        np.testing.assert_array_equal(c_flags, p_flags, err_msg=f"seed {seed}")
        assert np.all(c_states[unknown] == STATE_UNKNOWN)
        n_over += int(np.sum(c_states == 1))
        n_alarm += int(np.sum(c_states == STATE_ALARM))
    assert n_alarm > 0 and (n_over > 0 or policy.k == 1)  # k = 1: every over raises


def test_c_pipeline_latched_alarm_acknowledged_by_control_frame(tmp_path):
    require_tool("gcc", "gcc")
    policy = AlarmPolicy(k=1, n=1, clear_windows=1, latch=True)
    lib = _build(tmp_path, policy, threshold=1e-3)  # every noisy window is over
    pipe = lib.pipeline()
    pipe.set_scale(1.0)
    rng = np.random.default_rng(3)
    loud = rng.normal(0, 3000, 64 * 10).astype(np.int16)
    rows = pipe.push(loud)
    assert (rows[:, COL["state"]] == STATE_ALARM).all()
    assert (rows[:, COL["flags"]] == FLAG_LATCHED).all()
    rows = pipe.push(np.zeros(64 * 4, np.int16))
    assert (rows[:, COL["alarm"]] == 1).all()  # still in alarm, latched
    # CONTROL command 2 from the host, decoded by the C decoder, acknowledges
    wire = lib.encode_control(0, 2, 0.0)
    dec = lib.decoder()
    frames = dec.feed(wire)
    assert [f[0] for f in frames] == [5]
    assert dec.control() == (2, 0.0)
    assert pipe.acknowledge() is True
    assert pipe.acknowledge() is False
    # what happens after the release is the lifecycle's rule (compared bit for bit above)
    states, flags = lib.alarm_run([2.0, 0.0, 0.0, 0.0], 1e-3 * 10, acknowledge=[0, 0, 1, 0])
    assert states.tolist() == [2, 2, 0, 0] and flags.tolist() == [FLAG_LATCHED, FLAG_LATCHED, 0, 0]


def test_c_pipeline_unknown_operating_point_does_not_advance(tmp_path):
    require_tool("gcc", "gcc")
    policy = AlarmPolicy(k=2, n=2, clear_windows=1)
    # a speed-aware model: the envelope check (m12) marks the operating point unknown
    lib = _build(tmp_path, policy, threshold=1e-3, speed_envelope=(1000.0, 2000.0))
    rng = np.random.default_rng(4)
    loud = rng.normal(0, 3000, 64 * 3).astype(np.int16)
    pipe = lib.pipeline()
    pipe.set_scale(1.0)
    pipe.set_speed(1500.0)  # inside the envelope
    rows = pipe.push(loud[:128])  # the first window: over, no alarm yet (k = 2)
    assert rows[:, COL["state"]].tolist() == [1]
    pipe.set_speed(2500.0)  # outside: unknown operating point
    rows = pipe.push(loud[128:])
    assert rows[:, COL["state"]].tolist() == [STATE_UNKNOWN]
    assert rows[:, COL["over"]].tolist() == [0] and rows[:, COL["alarm"]].tolist() == [0]
    assert rows[:, COL["flags"]].tolist() == [1 | 2]  # FLAG_UNKNOWN_OP, FLAG_EXTERNAL_SPEED
    pipe.set_speed(1500.0)
    rows = pipe.push(rng.normal(0, 3000, 64).astype(np.int16))
    assert rows[:, COL["state"]].tolist() == [STATE_ALARM]  # the 2nd known over window raises

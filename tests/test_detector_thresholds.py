"""vibration.learning.thresholds: threshold rule, held-out split and the k-of-n alarm policy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibration.learning.thresholds import (
    AlarmPolicy,
    alarm_onsets,
    apply_alarm_policy,
    calibrate_threshold,
    held_out_split,
)


def _ring_buffer_alarm(over, k, n):
    """The firmware's algorithm (tinypdm_score.h): a ring of n flags, alarm at >= k."""
    ring, pos, count, out = [0] * n, 0, 0, []
    for flag in over:
        count += int(flag) - ring[pos]
        ring[pos] = int(flag)
        pos = (pos + 1) % n
        out.append(count >= k)
    return out


@settings(max_examples=60, deadline=None)
@given(
    over=st.lists(st.booleans(), max_size=80),
    n=st.integers(1, 9),
    data=st.data(),
)
def test_detector_alarm_policy_matches_the_firmware_ring(over, n, data):
    k = data.draw(st.integers(1, n))
    alarm = apply_alarm_policy(np.array(over, dtype=bool), AlarmPolicy(k, n))
    assert alarm.dtype == np.bool_
    assert alarm.tolist() == _ring_buffer_alarm(over, k, n)


def test_detector_alarm_policy_needs_k_of_n():
    over = np.array([1, 1, 0, 0, 0, 1, 0, 1, 1, 0], dtype=bool)
    alarm = apply_alarm_policy(over, AlarmPolicy(3, 5))
    assert alarm.tolist() == [False] * 8 + [True, True]
    assert alarm_onsets(alarm) == 1
    assert alarm_onsets(np.array([True, False, True, True])) == 2
    assert alarm_onsets(np.zeros(0, dtype=bool)) == 0


@pytest.mark.parametrize(("k", "n"), [(0, 5), (6, 5), (1, 0), (1, 65), (1.5, 3)])
def test_detector_alarm_policy_rejects_bad_k_n(k, n):
    with pytest.raises(ValueError, match="AlarmPolicy"):
        AlarmPolicy(k, n)


def test_detector_threshold_rule_on_lognormal_scores():
    rng = np.random.default_rng(0)
    scores = np.exp(rng.normal(0.0, 0.5, size=5000))
    threshold = calibrate_threshold(scores, 0.999, 1.0)
    # Log-normal data: the fit lands on the true 99.9 % quantile exp(3.09 * 0.5) = 4.69.
    assert threshold == pytest.approx(np.exp(3.0902 * 0.5), rel=0.05)
    assert calibrate_threshold(scores, 0.999, 1.5) == pytest.approx(1.5 * threshold)


def test_detector_threshold_rule_extrapolates_from_few_scores():
    rng = np.random.default_rng(1)
    scores = np.exp(rng.normal(0.0, 0.5, size=15))
    threshold = calibrate_threshold(scores, 0.999, 1.0)
    assert threshold > scores.max()  # beyond what 15 windows can show
    # Never below the empirical quantile, whatever the shape.
    spiky = np.array([1.0] * 14 + [50.0])
    assert calibrate_threshold(spiky, 0.999, 1.0) >= np.quantile(spiky, 0.999)


@pytest.mark.parametrize(
    ("scores", "quantile", "margin", "match"),
    [
        ([], 0.99, 1.0, "at least one"),
        ([1.0, np.nan], 0.99, 1.0, "non-finite"),
        ([1.0], 1.0, 1.0, "quantile"),
        ([1.0], 0.9, 0.5, "margin"),
    ],
)
def test_detector_threshold_rule_rejects_bad_arguments(scores, quantile, margin, match):
    with pytest.raises(ValueError, match=match):
        calibrate_threshold(scores, quantile, margin)


def test_detector_held_out_split_takes_the_last_part():
    assert held_out_split(100, 0.25) == 75
    assert held_out_split(2, 0.25) == 1
    assert held_out_split(3, 0.9) == 1
    with pytest.raises(ValueError, match="at least 2"):
        held_out_split(1, 0.25)
    with pytest.raises(ValueError, match="fraction"):
        held_out_split(10, 0.0)

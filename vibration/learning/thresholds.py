"""Thresholds on anomaly scores and the alarm policy.

Every detector in tinypdm (the autoencoder and the baselines) picks its threshold with
:func:`calibrate_threshold` from scores of *held-out normal* windows only, and turns
per-window decisions into alarms with :func:`apply_alarm_policy`. The firmware
reproduces the alarm policy in C (``docs/model.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AlarmPolicy",
    "alarm_onsets",
    "apply_alarm_policy",
    "blocked_holdout",
    "calibrate_threshold",
    "held_out_split",
    "min_held_out",
]

HOLDOUT_BLOCKS = 8
"""Blocks per recording for :func:`blocked_holdout`."""

# Scores are floored here before the logarithm of the tail fit (scores are >= 0).
_SCORE_FLOOR = 1e-12


@dataclass(frozen=True)
class AlarmPolicy:
    """Alarm while at least ``k`` of the last ``n`` windows are over the threshold.

    Parameters
    ----------
    k : int
        Windows over the threshold needed, 1 <= k <= n.
    n : int
        Length of the look-back, in windows (1..64).
    """

    k: int = 3
    n: int = 5

    def __post_init__(self) -> None:
        for name in ("k", "n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"AlarmPolicy.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if not 1 <= self.n <= 64:
            raise ValueError(f"AlarmPolicy.n must be in 1..64, got {self.n!r}")
        if not 1 <= self.k <= self.n:
            raise ValueError(f"AlarmPolicy.k must be in 1..n={self.n}, got {self.k!r}")


def apply_alarm_policy(over: ArrayLike, policy: AlarmPolicy) -> NDArray[np.bool_]:
    """Alarm state after each window.

    ``alarm[i]`` is true when at least ``policy.k`` of windows ``i - n + 1 .. i`` are over
    the threshold; windows before the first count as not over (the firmware starts with
    an all-false ring buffer of ``n`` flags).

    Parameters
    ----------
    over : array_like of shape (n_windows,), bool
        Whether each window's score exceeds the threshold, in time order.
    policy : AlarmPolicy

    Returns
    -------
    alarm : ndarray of shape (n_windows,), bool
    """
    flags = np.asarray(over)
    if flags.ndim != 1:
        raise ValueError(f"over must have shape (n_windows,), got shape {flags.shape!r}")
    counts = np.cumsum(flags.astype(np.int64))
    lagged = np.concatenate([np.zeros(policy.n, dtype=np.int64), counts])[: counts.size]
    return np.asarray((counts - lagged) >= policy.k, dtype=np.bool_)


def alarm_onsets(alarm: ArrayLike) -> int:
    """Number of alarms raised: rising edges of the alarm state (from an idle start)."""
    state = np.asarray(alarm, dtype=np.bool_)
    if state.ndim != 1:
        raise ValueError(f"alarm must have shape (n_windows,), got shape {state.shape!r}")
    return int(np.count_nonzero(state[1:] & ~state[:-1]) + (1 if state.size and state[0] else 0))


def calibrate_threshold(scores: ArrayLike, quantile: float, margin: float) -> float:
    """Threshold from anomaly scores of held-out normal windows.

    ``threshold = margin * max(q_empirical, q_lognormal)``: the ``quantile`` of the
    held-out scores, taken as the larger of the empirical quantile and the quantile of a
    log-normal fitted to them. Reconstruction errors of normal windows are positive and
    right-skewed (about chi-square), so their logarithm is close to Gaussian; the fit
    extrapolates the tail from the few held-out windows a short recording gives, where
    the empirical quantile alone would be no more than the largest score seen. ``margin``
    (>= 1) covers the estimation error and slow drift of the machine's normal state.

    Parameters
    ----------
    scores : array_like of shape (n_held_out,)
        Anomaly scores (>= 0, higher is worse) of normal windows the detector was not
        trained on.
    quantile : float
        Target quantile in (0, 1), e.g. 0.999 for about one window in a thousand.
    margin : float
        Multiplier >= 1.

    Returns
    -------
    threshold : float
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size < 1:
        raise ValueError("calibrate_threshold needs at least one held-out score, got none")
    if not np.all(np.isfinite(s)):
        raise ValueError("calibrate_threshold got non-finite scores")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    if not margin >= 1.0:
        raise ValueError(f"margin must be >= 1, got {margin!r}")
    empirical = float(np.quantile(s, quantile))
    logs = np.log(np.maximum(s, _SCORE_FLOOR))
    spread = float(np.std(logs, ddof=1)) if s.size > 1 else 0.0
    lognormal = float(np.exp(np.mean(logs) + NormalDist().inv_cdf(quantile) * spread))
    return margin * max(empirical, lognormal)


def held_out_split(n_samples: int, fraction: float) -> int:
    """Index where the held-out (last, in time order) part of ``n_samples`` begins.

    At least one sample is held out and at least one is kept for training.

    Parameters
    ----------
    n_samples : int
        >= 2.
    fraction : float
        Share held out, in (0, 1).

    Returns
    -------
    start : int
        Training samples are ``[:start]``, held-out ones ``[start:]``.
    """
    if n_samples < 2:
        raise ValueError(f"need at least 2 samples to hold some out, got {n_samples!r}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    n_held = min(max(1, round(fraction * n_samples)), n_samples - 1)
    return n_samples - n_held


def blocked_holdout(groups: ArrayLike, fraction: float) -> NDArray[np.bool_]:
    """Held-out windows spread over the training period and over every recording.

    Each recording's windows (``groups``, in time order within a recording) are cut into
    :data:`HOLDOUT_BLOCKS` contiguous blocks; ``round(fraction * 8)`` of them (at least
    one) are held out, evenly spaced and away from the edges (a quarter: blocks 2 and 6,
    counting from 0). Contiguous blocks keep neighbouring, nearly identical windows on one
    side, so held-out scores are those of unseen data; spreading the blocks makes running-in,
    drift and transients anywhere in the training period raise the threshold instead of
    hiding in the training part. A recording too short for blocks lends its last window.

    Parameters
    ----------
    groups : array_like of shape (n_windows,)
        Recording of each window.
    fraction : float
        Share held out, in (0, 1).

    Returns
    -------
    held : ndarray of shape (n_windows,), bool
        At least one window held out and at least one kept.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"groups must have shape (n_windows >= 2,), got shape {g.shape!r}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    n_held = min(HOLDOUT_BLOCKS - 1, max(1, round(fraction * HOLDOUT_BLOCKS)))
    chosen = {int((i + 0.5) * HOLDOUT_BLOCKS / n_held) for i in range(n_held)}
    held = np.zeros(g.size, dtype=np.bool_)
    for label in np.unique(g):
        idx = np.flatnonzero(g == label)
        block = (np.arange(idx.size) * HOLDOUT_BLOCKS) // idx.size
        held[idx[np.isin(block, list(chosen))]] = True
    if not held.any():
        held[-1] = True
    if held.all():
        held[0] = False
    return held


def min_held_out(quantile: float) -> int:
    """Held-out windows needed before a threshold at ``quantile`` rests on data: ``3 / (1 - q)``.

    With fewer, not even three held-out windows are expected beyond the quantile, so the
    threshold comes from the fitted tail, not from observation (3000 for q = 0.999).
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    return int(np.ceil(3.0 / (1.0 - quantile) - 1e-9))

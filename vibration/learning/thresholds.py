"""Thresholds on anomaly scores and the alarm policy.

Every detector in tinypdm (the autoencoder and the baselines) picks its threshold with
:func:`calibrate_threshold` from scores of *held-out normal* windows only, and turns
per-window decisions into alarms with :func:`alarm_lifecycle` (raise on k of the last n
windows over, clear with hysteresis, optional minimum on-time and latching; the plain
k-of-n state without the clearing rules is :func:`apply_alarm_policy`). The firmware
runs the same state machine in C (``tinypdm_alarm_step``; ``docs/model.md``), and the
parity ladder holds the two to identical state sequences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vibration.validation import is_integer

__all__ = [
    "FLAG_EXTERNAL_SPEED",
    "FLAG_LATCHED",
    "FLAG_UNKNOWN_OP",
    "STATE_ALARM",
    "STATE_OK",
    "STATE_OVER",
    "STATE_UNKNOWN",
    "AlarmLifecycle",
    "AlarmPolicy",
    "alarm_lifecycle",
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

#: Window states of the alarm lifecycle (the SCORE v2 ``state`` byte).
STATE_OK = 0
STATE_OVER = 1
STATE_ALARM = 2
STATE_UNKNOWN = 3
#: Bits of the SCORE v2 ``flags`` byte that the lifecycle sets.
FLAG_UNKNOWN_OP = 1
FLAG_LATCHED = 4
#: SCORE v2 ``flags`` bit 1: the window's speed is external (CONTROL command 1 or a tach).
FLAG_EXTERNAL_SPEED = 2
# Counters saturate here, as the firmware's uint16 counters do.
_COUNT_MAX = 65535


@dataclass(frozen=True)
class AlarmPolicy:
    """When an alarm is raised and when it clears.

    Raised when at least ``k`` of the last ``n`` windows are over the threshold; cleared
    once the score has stayed below ``clear_ratio * threshold`` for ``clear_windows``
    windows in a row, the alarm has lasted at least ``min_on_windows`` windows and, with
    ``latch``, it has been acknowledged. See :class:`AlarmLifecycle`.

    Parameters
    ----------
    k : int
        Windows over the threshold needed, 1 <= k <= n.
    n : int
        Length of the look-back, in windows (1..64).
    clear_ratio : float
        Clear level as a fraction of the threshold, in (0, 1] (hysteresis).
    clear_windows : int
        Consecutive windows below the clear level that clear the alarm (1..65535).
    min_on_windows : int
        Shortest alarm, in windows (0..65535; 0 and 1: no minimum).
    latch : bool
        The alarm stays until acknowledged (CONTROL command 2), even when the score has
        returned to normal.
    """

    k: int = 3
    n: int = 5
    clear_ratio: float = 0.8
    clear_windows: int = 20
    min_on_windows: int = 0
    latch: bool = False

    def __post_init__(self) -> None:
        for name in ("k", "n", "clear_windows", "min_on_windows"):
            value = getattr(self, name)
            if not is_integer(value):
                raise ValueError(f"AlarmPolicy.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if not 1 <= self.n <= 64:
            raise ValueError(f"AlarmPolicy.n must be in 1..64, got {self.n!r}")
        if not 1 <= self.k <= self.n:
            raise ValueError(f"AlarmPolicy.k must be in 1..n={self.n}, got {self.k!r}")
        ratio = self.clear_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float | np.floating):
            raise ValueError(f"AlarmPolicy.clear_ratio must be a number, got {ratio!r}")
        if not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f"AlarmPolicy.clear_ratio must be in (0, 1], got {ratio!r}")
        object.__setattr__(self, "clear_ratio", float(ratio))
        if not 1 <= self.clear_windows <= _COUNT_MAX:
            raise ValueError(
                f"AlarmPolicy.clear_windows must be in 1..{_COUNT_MAX}, got {self.clear_windows!r}"
            )
        if not 0 <= self.min_on_windows <= _COUNT_MAX:
            raise ValueError(
                f"AlarmPolicy.min_on_windows must be in 0..{_COUNT_MAX}, "
                f"got {self.min_on_windows!r}"
            )
        if not isinstance(self.latch, bool | np.bool_):
            raise ValueError(f"AlarmPolicy.latch must be a bool, got {self.latch!r}")
        object.__setattr__(self, "latch", bool(self.latch))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``model.json`` / ``manifest.json`` ``alarm_policy``)."""
        return {
            "k": self.k,
            "n": self.n,
            "clear_ratio": self.clear_ratio,
            "clear_windows": self.clear_windows,
            "min_on_windows": self.min_on_windows,
            "latch": self.latch,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AlarmPolicy:
        """Inverse of :meth:`to_dict`; keys a file written before them lacks get defaults."""
        unknown = set(doc) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown alarm policy keys: got {sorted(unknown)!r}")
        return cls(**doc)

    def clear_level(self, threshold: float) -> float:
        """``clear_ratio * threshold`` as the firmware computes it (float32 product)."""
        return float(np.float32(threshold) * np.float32(self.clear_ratio))


class AlarmLifecycle:
    """The alarm state machine, one window at a time (the firmware's ``tinypdm_alarm_t``).

    Per window with a known operating point:

    * ``over = score > threshold``, ``below = score < clear level`` (float32 threshold and
      clear level, as on the device); ``over`` enters a ring of the last ``n`` decisions.
    * idle: the alarm is raised when the ring holds at least ``k`` overs (this window
      reports the alarm; with ``latch`` it is latched).
    * in alarm: ``below`` windows in a row are counted (any other window restarts the
      count); the alarm clears on the window where the count reaches ``clear_windows``,
      provided it has been reported for at least ``min_on_windows`` windows and is not
      latched. Clearing empties the ring, so a new alarm needs ``k`` fresh overs.

    A window with an unknown operating point changes nothing and reports
    :data:`STATE_UNKNOWN`. :meth:`acknowledge` releases a latch; the alarm then clears on
    the next window that satisfies the clearing rule (at once if the score already stayed
    low long enough).

    Parameters
    ----------
    policy : AlarmPolicy
    threshold : float
    """

    def __init__(self, policy: AlarmPolicy, threshold: float) -> None:
        self.policy = policy
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        """Idle, empty ring (the firmware's ``tinypdm_alarm_init``)."""
        self._ring = [False] * self.policy.n
        self._pos = 0
        self._n_over = 0
        self._below_run = 0
        self._on_count = 0
        self.active = False
        self.latched = False

    @property
    def flags(self) -> int:
        """:data:`FLAG_LATCHED` while a latched alarm awaits acknowledgement, else 0."""
        return FLAG_LATCHED if self.latched else 0

    def acknowledge(self) -> bool:
        """Release a latched alarm; True when one was latched."""
        was = self.latched
        self.latched = False
        return was

    def step(self, score: float, unknown: bool = False) -> int:
        """Advance by one window; return its state (``STATE_*``)."""
        if unknown:
            return STATE_UNKNOWN
        p = self.policy
        thr = float(np.float32(self.threshold))
        over = bool(score > thr)
        below = bool(score < p.clear_level(thr))
        self._n_over += int(over) - int(self._ring[self._pos])
        self._ring[self._pos] = over
        self._pos = (self._pos + 1) % p.n
        if self.active:
            self._below_run = min(self._below_run + 1, _COUNT_MAX) if below else 0
            if (
                not self.latched
                and self._below_run >= p.clear_windows
                and self._on_count >= p.min_on_windows
            ):
                self.active = False
                self._ring = [False] * p.n
                self._n_over = 0
                self._below_run = 0
                self._on_count = 0
            else:
                self._on_count = min(self._on_count + 1, _COUNT_MAX)
        elif self._n_over >= p.k:
            self.active = True
            self.latched = p.latch
            self._on_count = 1
            self._below_run = 0
        if self.active:
            return STATE_ALARM
        return STATE_OVER if over else STATE_OK


def alarm_lifecycle(
    scores: ArrayLike,
    threshold: float,
    policy: AlarmPolicy,
    unknown: ArrayLike | None = None,
    acknowledge: ArrayLike | None = None,
) -> NDArray[np.uint8]:
    """State of every window under the alarm lifecycle (:class:`AlarmLifecycle`).

    Parameters
    ----------
    scores : array_like of shape (n_windows,)
        Anomaly scores in time order.
    threshold : float
    policy : AlarmPolicy
    unknown : array_like of shape (n_windows,), bool, optional
        Windows whose operating point is unknown: reported :data:`STATE_UNKNOWN`, the
        state machine does not advance.
    acknowledge : array_like of shape (n_windows,), bool, optional
        An acknowledgement arrives just before window ``i``.

    Returns
    -------
    states : ndarray of shape (n_windows,), uint8
        ``STATE_OK``, ``STATE_OVER``, ``STATE_ALARM`` or ``STATE_UNKNOWN``; the alarm is
        active where ``states == STATE_ALARM``.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must have shape (n_windows,), got shape {s.shape!r}")
    flags = []
    for name, value in (("unknown", unknown), ("acknowledge", acknowledge)):
        a = np.zeros(s.shape, bool) if value is None else np.asarray(value, dtype=np.bool_)
        if a.shape != s.shape:
            raise ValueError(f"{name} must have shape {s.shape!r}, got shape {a.shape!r}")
        flags.append(a.tolist())
    machine = AlarmLifecycle(policy, threshold)
    out = np.empty(s.shape, dtype=np.uint8)
    for i, (score, unk, ack) in enumerate(zip(s.tolist(), *flags, strict=True)):
        if ack:
            machine.acknowledge()
        out[i] = machine.step(score, unk)
    return out


def apply_alarm_policy(over: ArrayLike, policy: AlarmPolicy) -> NDArray[np.bool_]:
    """The plain k-of-n state after each window (no hysteresis, no latch).

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

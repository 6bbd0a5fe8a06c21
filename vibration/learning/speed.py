"""Tachless shaft speed: the float32 reference of the firmware's estimator.

Pure numpy, no I/O. ``firmware_export/c/tinypdm_speed.c`` runs the same arithmetic on the
device; ``docs/features.md`` ("Shaft speed (tachless)") gives the math and the physics of
every constant. Outline, per raw sample of the scored axis (physical units):

1. **Decimate** by ``q = max(1, round(fs / decimated_rate_hz)) = r * q2`` in two stages,
   both in transposed polyphase form (products rounded to float32 and summed in time
   order from 0, exactly as the C does): a triangle of ``2 r - 1`` taps by ``r``
   (2 multiply-adds per raw sample; :func:`first_stage_factor`), then a Hamming-windowed
   sinc of ``10 q2`` taps (cut-off at the decimated Nyquist) by ``q2``.
2. **Buffer** the last ``buffer`` decimated samples (1024 at about 1 kHz: about 1 s,
   1 Hz bins). Every ``hop`` decimated samples once the buffer is full:
3. mean removed, periodic Hann window, real FFT, ``L[k] = log10(|Y[k]|^2 + 1e-30)`` for
   the bins the comb reads;
4. **harmonic-comb contrast** on a grid of candidate fundamentals ``a / H`` bins
   (``a`` integer, ``H`` harmonics)::

       S(a) = sum_h L[round(h a / H)] - sum_h L[round((h - 1/2) a / H)],  h = 1..H

5. argmax; **octave checks**: the winner moves up to ``2 a`` when its odd harmonics are
   not lines, then down to ``a / 3`` or ``a / 2`` when that contrast is at least
   ``subharmonic_ratio`` of the best and its own harmonics are lines (``line_db``);
   **refinement**: least-squares fundamental from the parabola-interpolated peaks of the
   harmonics that are lines (two passes), else a parabola through the contrast;
6. the reported speed is the **median** of the last ``median`` estimates (NaN until the
   first estimate, i.e. during the first ``buffer * q`` raw samples).

Everything up to the FFT is bit-identical to the C; the FFT (numpy's float64 here, the
library's float32 radix-4 on the device) differs by rounding, so the log spectra differ
in the 7th digit and C and Python agree except where two candidates tie to that
precision (``tests/test_speed_parity.py`` states the tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .features import FeatureConfig, window_starts

__all__ = [
    "LOG_FLOOR",
    "TAPS_PER_PHASE",
    "SpeedConfig",
    "SpeedPlan",
    "decimate",
    "decimator_taps",
    "estimate_buffer",
    "first_stage_factor",
    "speed_plan",
    "speed_track",
    "triangle_taps",
    "window_speeds",
]

TAPS_PER_PHASE = 10
"""Decimator taps per polyphase branch ``K`` (filter length ``L = K q``)."""

BAND_FRACTION = 1.0 / 3.0
"""Highest frequency the comb may use, as a fraction of the decimated rate.

A Hamming-windowed sinc of ``K q`` taps has a transition band about ``3.3 / K`` of the
decimated rate wide, centred on the decimated Nyquist: with K = 10 it passes up to
0.335 fs_d and stops (about -53 dB) from 0.665 fs_d, whose alias lands at 0.335 fs_d.
Below ``fs_d / 3`` nothing aliased is left above the filter's stop-band floor."""

LOG_FLOOR = np.float32(1e-30)
"""Added to ``|Y|^2`` before the logarithm: below any real signal's float32 power."""


@dataclass(frozen=True)
class SpeedConfig:
    """The tachless speed estimator's constants (generated into the firmware header).

    Parameters
    ----------
    rpm_min, rpm_max : float
        Search range in rpm: the machine's nameplate speed range, not a learned value.
    harmonics : int
        Harmonics ``H`` in the comb (fewer when ``H * rpm_max / 60`` would exceed a third
        of the decimated rate).
    decimated_rate_hz : float
        Target rate after decimation; the factor is ``round(sample_rate / this)``.
    buffer : int
        Decimated samples per estimate (a power of two, at most the feature window).
    hop : int
        Decimated samples between estimates (1..buffer).
    median : int
        Estimates in the running median (1..15).
    subharmonic_ratio : float
        A sub-harmonic ``f0/3`` or ``f0/2`` wins when its contrast is at least this
        fraction of the best (0 < r <= 1) **and** its own harmonics (those that are
        not multiples of 3 or 2) stand on average ``line_db`` above their half-way
        neighbours.
    line_db : float
        Contrast, dB of power, that makes a spectral line (> 0).
    """

    rpm_min: float = 300.0
    rpm_max: float = 3600.0
    harmonics: int = 5
    decimated_rate_hz: float = 1000.0
    buffer: int = 1024
    hop: int = 512
    median: int = 5
    subharmonic_ratio: float = 0.8
    line_db: float = 10.0

    def __post_init__(self) -> None:
        for name in ("harmonics", "buffer", "hop", "median"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"SpeedConfig.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("rpm_min", "rpm_max", "decimated_rate_hz", "subharmonic_ratio", "line_db"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(f"SpeedConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ValueError(f"SpeedConfig.{name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not 0.0 < self.rpm_min < self.rpm_max:
            raise ValueError(
                f"need 0 < rpm_min < rpm_max, got rpm_min={self.rpm_min!r} rpm_max={self.rpm_max!r}"
            )
        if not 1 <= self.harmonics <= 16:
            raise ValueError(f"harmonics must be in 1..16, got {self.harmonics!r}")
        if self.decimated_rate_hz <= 0:
            raise ValueError(f"decimated_rate_hz must be > 0, got {self.decimated_rate_hz!r}")
        if not 64 <= self.buffer <= 4096 or self.buffer & (self.buffer - 1):
            raise ValueError(f"buffer must be a power of two in 64..4096, got {self.buffer!r}")
        if not 1 <= self.hop <= self.buffer:
            raise ValueError(f"hop must be in 1..buffer, got {self.hop!r}")
        if not 1 <= self.median <= 15:
            raise ValueError(f"median must be in 1..15, got {self.median!r}")
        if self.line_db <= 0:
            raise ValueError(f"line_db must be > 0, got {self.line_db!r}")
        if not 0.0 < self.subharmonic_ratio <= 1.0:
            raise ValueError(f"subharmonic_ratio must be in (0, 1], got {self.subharmonic_ratio!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``from_dict`` inverts it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeedConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SpeedConfig keys: {unknown!r}")
        return cls(**dict(data))


@dataclass(frozen=True, eq=False)
class SpeedPlan:
    """The integer and float32 constants one (FeatureConfig, SpeedConfig) pair implies.

    Attributes
    ----------
    enabled : bool
        False when ``buffer > window`` (the estimate's FFT runs in the pipeline's
        ``window``-float work buffer) or the rate cannot cover ``rpm_max``: every speed is
        then NaN.
    reason : str
        Why it is disabled ("" when enabled).
    q : int
        Decimation factor ``r * q2``.
    rate_d : float
        Decimated rate ``fs / q``, Hz.
    r, q2 : int
        Stage factors: a triangle by ``r`` (1: no first stage), then the sinc by ``q2``.
    taps1 : ndarray of shape (2 r,), float32
        First stage, time order: ``[0, 1, 2, .., r, .., 2, 1] / r^2``.
    taps : ndarray of shape (q2 * TAPS_PER_PHASE,), float32
        Second stage (:func:`decimator_taps`), time order (oldest sample first).
    harmonics : int
        Harmonics actually used.
    cand_first, n_cand : int
        Candidates ``a = cand_first .. cand_first + n_cand - 1`` in units of 1/H bin.
    max_bin : int
        Highest FFT bin the comb reads (the refinement reads up to ``max_bin + 2``).
    rpm_per_step : numpy.float32
        rpm of one candidate step (``60 fs_d / (buffer H)``).
    """

    enabled: bool
    reason: str
    q: int
    rate_d: float
    r: int
    q2: int
    taps1: NDArray[np.float32]
    taps: NDArray[np.float32]
    harmonics: int
    cand_first: int
    n_cand: int
    max_bin: int
    rpm_per_step: np.float32
    rpm_per_bin: np.float32
    buffer: int
    hop: int
    median: int
    ratio: np.float32
    line_decades: np.float32


def decimator_taps(q: int) -> NDArray[np.float32]:
    """Hamming-windowed sinc, ``TAPS_PER_PHASE * q`` taps, cut-off ``fs / (2 q)``, DC gain 1.

    ``q == 1`` gives the single tap 1 (no filter: the sensor's own anti-alias filter
    protects the band).
    """
    if q < 1:
        raise ValueError(f"q must be >= 1, got {q!r}")
    if q == 1:
        return np.ones(1, dtype=np.float32)
    n = TAPS_PER_PHASE * q
    t = np.arange(n) - (n - 1) / 2.0
    h = np.sinc(t / q) * (0.54 - 0.46 * np.cos(2.0 * np.pi * np.arange(n) / (n - 1)))
    return (h / h.sum()).astype(np.float32)


def triangle_taps(r: int) -> NDArray[np.float32]:
    """First decimation stage: a triangle of ``2 r - 1`` taps (two cascaded ``r``-sample
    boxcars, response ``sinc^2``, nulls at multiples of ``fs / r``), led by one 0 tap to
    make ``2 r`` (two polyphase branches). Exact in float32 for ``r <= 5``."""
    if r == 1:
        return np.ones(1, dtype=np.float32)
    tri = np.concatenate([[0.0], np.arange(1, r + 1), np.arange(r - 1, 0, -1)]) / (r * r)
    return tri.astype(np.float32)


def first_stage_factor(q: int) -> int:
    """Largest ``r`` in 5..2 dividing ``q`` with ``q / r >= 3``, else 1 (single stage).

    ``q / r >= 3`` keeps the band the comb uses (below ``fs_d / 3``) at most a ninth of
    the intermediate rate, where the triangle's images are at least 35 dB down.
    """
    for r in (5, 4, 3, 2):
        if q % r == 0 and q // r >= 3:
            return r
    return 1


def speed_plan(config: FeatureConfig, speed: SpeedConfig) -> SpeedPlan:
    """Derive the estimator's constants (disabled, with a reason, when they cannot work)."""
    q = max(1, round(config.sample_rate / speed.decimated_rate_hz))
    r = first_stage_factor(q)
    rate_d = config.sample_rate / q
    df = rate_d / speed.buffer
    f_min, f_max = speed.rpm_min / 60.0, speed.rpm_max / 60.0
    band = BAND_FRACTION * rate_d
    harmonics = min(speed.harmonics, math.floor(band / f_max))
    reason = ""
    if speed.buffer > config.window:
        reason = f"buffer {speed.buffer} exceeds the feature window {config.window}"
    if harmonics < 1:
        reason = (
            f"rpm_max {speed.rpm_max:g} ({f_max:g} Hz) is above a third of the decimated "
            f"rate {rate_d:g} Hz"
        )
        harmonics = 1
    cand_first = max(1, math.ceil(f_min / df * harmonics))
    cand_last = math.floor(f_max / df * harmonics)
    if cand_last - cand_first + 1 < 3 and not reason:
        reason = (
            f"speed range {speed.rpm_min:g}..{speed.rpm_max:g} rpm spans fewer than 3 "
            f"candidates at {df:g} Hz bins"
        )
    if reason:
        cand_first, cand_last = 1, 3
    n_cand = cand_last - cand_first + 1
    max_bin = (2 * harmonics * cand_last + harmonics) // (2 * harmonics)
    return SpeedPlan(
        enabled=not reason,
        reason=reason,
        q=q,
        rate_d=rate_d,
        r=r,
        q2=q // r,
        taps1=triangle_taps(r),
        taps=decimator_taps(q // r),
        harmonics=harmonics,
        cand_first=cand_first,
        n_cand=n_cand,
        max_bin=max_bin,
        rpm_per_step=np.float32(60.0 * df / harmonics),
        rpm_per_bin=np.float32(60.0 * df),
        buffer=speed.buffer,
        hop=speed.hop,
        median=speed.median,
        ratio=np.float32(speed.subharmonic_ratio),
        line_decades=np.float32(speed.line_db / 10.0),
    )


def decimate(x: ArrayLike, taps: ArrayLike, q: int) -> NDArray[np.float32]:
    """Decimated outputs ``y[m]`` exactly as the C computes them.

    ``y[m] = sum_j taps[j] * x[(m + 1) q - L + j]`` (samples before 0 are 0), each product
    rounded to float32 and added in order of ``j`` to a float32 accumulator starting at 0.
    Output ``m`` is complete when raw sample ``(m + 1) q - 1`` has been pushed.

    Parameters
    ----------
    x : array_like of shape (n,), converted to float32
    taps : array_like of shape (L,), float32, L a multiple of q
    q : int

    Returns
    -------
    y : ndarray of shape (n // q,), float32
    """
    xs = np.asarray(x, dtype=np.float32)
    g = np.asarray(taps, dtype=np.float32)
    n_taps = g.shape[0]
    m = xs.shape[0] // q
    pad = np.concatenate([np.zeros(n_taps - q, dtype=np.float32), xs[: m * q]])
    acc = np.zeros(m, dtype=np.float32)
    for j in range(n_taps):
        acc = acc + g[j] * pad[j : j + m * q : q]
    return acc


def _comb_bins(plan: SpeedPlan) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    a = np.arange(plan.cand_first, plan.cand_first + plan.n_cand, dtype=np.int64)
    h = np.arange(1, plan.harmonics + 1, dtype=np.int64)[:, None]
    two_h = 2 * plan.harmonics
    on = (2 * h * a + plan.harmonics) // two_h  # round(h a / H), half up
    off = ((2 * h - 1) * a + plan.harmonics) // two_h  # round((h - 1/2) a / H)
    return on, off


def _hann_f32(n: int, window: int) -> NDArray[np.float32]:
    """The C's periodic Hann: 0.5 -+ 0.5 * cos table (float32, stride window / n)."""
    half = n // 2
    stride = window // n
    cos = np.cos(2.0 * np.pi * (np.arange(half) * stride) / window).astype(np.float32)
    first = np.float32(0.5) + np.float32(-0.5) * cos
    second = np.float32(0.5) + np.float32(0.5) * cos
    return np.concatenate([first, second]).astype(np.float32)


def estimate_buffer(
    buf: ArrayLike, plan: SpeedPlan, window: int
) -> tuple[float, NDArray[np.float32]]:
    """One estimate from ``buffer`` decimated samples (oldest first).

    Returns
    -------
    rpm : float
        NaN when no candidate has positive contrast (e.g. a silent buffer).
    contrast : ndarray of shape (n_cand,), float32
    """
    x = np.asarray(buf, dtype=np.float32)
    n = x.shape[0]
    mean = np.cumsum(x, dtype=np.float32)[-1] * np.float32(1.0 / n)
    d = (x - mean) * _hann_f32(n, window)
    y = np.fft.rfft(d.astype(np.float64))
    power = (y.real.astype(np.float32) ** 2 + y.imag.astype(np.float32) ** 2).astype(np.float32)
    logp = np.log10((power[: plan.max_bin + 3] + LOG_FLOOR).astype(np.float64)).astype(np.float32)
    on, off = _comb_bins(plan)
    s_on = np.zeros(plan.n_cand, dtype=np.float32)
    s_off = np.zeros(plan.n_cand, dtype=np.float32)
    for i in range(plan.harmonics):
        s_on = s_on + logp[on[i]]
        s_off = s_off + logp[off[i]]
    s = (s_on - s_off).astype(np.float32)
    return _pick(s, logp, plan), s


def _own_lines(logp: NDArray[np.float32], a: int, d: int, plan: SpeedPlan) -> bool:
    """Do the harmonics of candidate ``a`` that are not multiples of ``d`` stand out?

    Their summed contrast (in harmonic order, float32) must reach ``line_decades`` per
    harmonic: the lines only a sub-harmonic fundamental explains must be there.
    """
    two_h = 2 * plan.harmonics
    total = np.float32(0.0)
    count = 0
    for h in range(1, plan.harmonics + 1):
        if h % d:
            on = (2 * h * a + plan.harmonics) // two_h
            off = ((2 * h - 1) * a + plan.harmonics) // two_h
            total = np.float32(total + np.float32(logp[on] - logp[off]))
            count += 1
    return bool(total >= np.float32(count) * plan.line_decades)


def _pick(s: NDArray[np.float32], logp: NDArray[np.float32], plan: SpeedPlan) -> float:
    n_cand = plan.n_cand
    k = int(np.argmax(s))
    if not s[k] > 0:
        return math.nan
    a = plan.cand_first + k
    if 2 * a < plan.cand_first + n_cand and not _own_lines(logp, a, 2, plan):
        # the winner's odd harmonics are empty: it is half the true speed
        lo = max(2 * a - plan.cand_first - 2, 0)
        hi = min(2 * a - plan.cand_first + 2, n_cand - 1)
        kl = lo + int(np.argmax(s[lo : hi + 1]))
        if _own_lines(logp, plan.cand_first + kl, 2, plan):
            k = kl
    for d in (3, 2):
        a = plan.cand_first + k
        kd = (2 * a + d) // (2 * d) - plan.cand_first
        if kd >= 0 and s[kd] >= plan.ratio * s[k]:
            lo, hi = max(kd - 2, 0), min(kd + 2, n_cand - 1)
            kl = lo + int(np.argmax(s[lo : hi + 1]))
            if _own_lines(logp, plan.cand_first + kl, d, plan):
                k = kl
    a = plan.cand_first + k
    refined = _refine(logp, a, plan)
    if not math.isnan(refined):
        return refined
    delta = np.float32(0.0)
    if 0 < k < n_cand - 1:
        a_, b_, c_ = s[k - 1], s[k], s[k + 1]
        den = (a_ - np.float32(2.0) * b_) + c_
        if den < 0:
            delta = np.float32(0.5) * (a_ - c_) / den
            delta = np.float32(min(max(delta, -1.0), 1.0))
    pos = np.float32(a) + delta
    return float(np.float32(pos * plan.rpm_per_step))


def _refine(logp: NDArray[np.float32], a: int, plan: SpeedPlan) -> float:
    """Least-squares fundamental from the interpolated peaks of the harmonics that are lines.

    Two passes, the first centred on candidate ``a`` (``f0 = a / H`` bins), the second on
    the first's result. For each h: the largest of bins ``round(h f0) + (-1, 0, 1)``, a
    parabola through the log power at it and its neighbours (vertex offset clamped to
    +-1 bin), kept when it stands ``line_decades`` above bin ``round((h - 1/2) f0)``;
    ``f0 = sum h p_h / sum h^2`` bins (p_h / h weighted by h^2: its error shrinks as 1/h).
    NaN when the first pass keeps no harmonic.
    """
    f0 = np.float32(a) / np.float32(plan.harmonics)
    result = math.nan
    for _ in range(2):
        f1 = _refine_pass(logp, f0, plan)
        if math.isnan(f1):
            break
        f0 = np.float32(f1)
        result = float(np.float32(f0 * plan.rpm_per_bin))
    return result


def _round_bin(x: np.float32) -> int:
    return int(np.floor(np.float32(x + np.float32(0.5))))


def _refine_pass(logp: NDArray[np.float32], f0: np.float32, plan: SpeedPlan) -> float:
    num = np.float32(0.0)
    den = np.float32(0.0)
    top = plan.max_bin + 1
    for h in range(1, plan.harmonics + 1):
        b = _round_bin(np.float32(np.float32(h) * f0))
        off = _round_bin(np.float32(np.float32(h - 0.5) * f0))
        if b < 2 or b + 1 > top or off < 0:
            continue
        best = b - 1
        for j in (b, b + 1):
            if logp[j] > logp[best]:
                best = j
        if not logp[best] - logp[off] >= plan.line_decades:
            continue
        left, mid, right = logp[best - 1], logp[best], logp[best + 1]
        curv = (left - np.float32(2.0) * mid) + right
        shift = np.float32(0.0)
        if curv < 0:
            shift = np.float32(0.5) * (left - right) / curv
            shift = np.float32(min(max(shift, -1.0), 1.0))
        peak = np.float32(best) + shift
        num = np.float32(num + np.float32(np.float32(h) * peak))
        den = np.float32(den + np.float32(h * h))
    if den == 0:
        return math.nan
    return float(np.float32(num / den))


def _median_f32(values: list[float]) -> float:
    finite = sorted(v for v in values if not math.isnan(v))
    if not finite:
        return math.nan
    m = len(finite)
    if m % 2:
        return finite[m // 2]
    return float((np.float32(finite[m // 2 - 1]) + np.float32(finite[m // 2])) * np.float32(0.5))


def speed_track(
    x: ArrayLike, config: FeatureConfig, speed: SpeedConfig
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Every estimate of a contiguous signal.

    Parameters
    ----------
    x : array_like of shape (n,)
        One axis, physical units (converted to float32, as the device holds them).
    config : FeatureConfig
    speed : SpeedConfig

    Returns
    -------
    at : ndarray of shape (n_est,), int64
        Raw sample index after which estimate ``j`` is reported.
    raw : ndarray of shape (n_est,), float64
        The single-buffer estimates, rpm (NaN: no contrast).
    reported : ndarray of shape (n_est,), float64
        The running median the device reports from then on, rpm.
    """
    plan = speed_plan(config, speed)
    xs = np.asarray(x, dtype=np.float32)
    if xs.ndim != 1:
        raise ValueError(f"x must have shape (n,), got shape {xs.shape!r}")
    empty = np.zeros(0, dtype=np.float64)
    if not plan.enabled:
        return np.zeros(0, dtype=np.int64), empty, empty
    y = decimate(decimate(xs, plan.taps1, plan.r), plan.taps, plan.q2)
    ends = np.arange(plan.buffer, y.shape[0] + 1, plan.hop, dtype=np.int64)
    raw = np.array(
        [estimate_buffer(y[e - plan.buffer : e], plan, config.window)[0] for e in ends],
        dtype=np.float64,
    )
    reported = np.array(
        [_median_f32(list(raw[max(0, j - plan.median + 1) : j + 1])) for j in range(len(raw))],
        dtype=np.float64,
    )
    return ends * plan.q - 1, raw, reported


def window_speeds(x: ArrayLike, config: FeatureConfig, speed: SpeedConfig) -> NDArray[np.float64]:
    """The speed (rpm) the device reports with each window of one contiguous segment.

    Parameters
    ----------
    x : array_like of shape (n_samples,)
        One axis, physical units, one contiguous segment.
    config : FeatureConfig
        Window grid (:func:`~vibration.learning.features.frame_windows`) and sample rate.
    speed : SpeedConfig

    Returns
    -------
    rpm : ndarray of shape (n_windows,), float64
        Causal: uses samples up to each window's last sample only. NaN while the estimator
        warms up (the first ``buffer * q`` samples) and everywhere when the plan is
        disabled (``speed.buffer > config.window``).
    """
    xs = np.asarray(x, dtype=np.float32)
    starts = window_starts(xs.shape[0], config)
    out = np.full(starts.shape[0], np.nan, dtype=np.float64)
    at, _, reported = speed_track(xs, config, speed)
    if at.size == 0 or starts.size == 0:
        return out
    last = starts + config.window - 1
    idx = np.searchsorted(at, last, side="right") - 1
    ok = idx >= 0
    out[ok] = reported[idx[ok]]
    return out

"""Window features: the float64 reference of ``docs/features.md``.

Pure numpy, no I/O. The C firmware computes the same vector in float32 from the same
:class:`FeatureConfig`; any change here must change ``docs/features.md`` in the same step.

Per window of ``N`` samples of one axis (physical units) the vector is::

    [log10(E_0 + eps), ..., log10(E_{B-1} + eps), log10(m2 + eps), kurtosis, crest]

with ``E_j`` the mean-square power of the mean-removed, periodic-Hann-windowed signal in
spectral band ``j``, ``m2`` the variance of the window, ``kurtosis`` Pearson's (3 for
Gaussian noise) and ``crest`` the peak-to-RMS ratio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vibration.validation import is_integer, is_number

__all__ = [
    "SCALE_FLOOR",
    "WINDOW_SECONDS",
    "FeatureConfig",
    "band_bin_edges",
    "extract_features",
    "frame_windows",
    "hann_periodic",
    "window_features",
    "window_starts",
]

SCALE_FLOOR = 1e-6
"""Smallest standard deviation used to standardise a feature (``docs/features.md``)."""

WINDOW_SECONDS = 1024 / 12000.0
"""Window duration :meth:`FeatureConfig.for_rate` aims at (the default's, 85.3 ms)."""


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that turns a window of samples into a feature vector.

    The single source of truth for the host and the firmware (generated into
    ``tinypdm_model_config.h``). See ``docs/features.md`` for the exact math.

    Parameters
    ----------
    sample_rate : float
        Hz, of the recording / sensor.
    window : int
        Samples per window ``N``: a power of two in 64..4096.
    hop : int
        Samples between window starts (>= 1).
    n_bands : int
        Number of spectral bands (>= 1); each holds at least one DFT bin.
    f_low_hz : float
        Lower edge of the first band in Hz (the DC bin is always excluded).
    f_high_frac : float
        Upper edge of the last band as a fraction of Nyquist, in (0, 1].
    axis : int
        Which axis of a multi-axis recording feeds the model.
    eps : float
        Floor inside the logarithms, physical units squared (> 0).
    """

    sample_rate: float = 12000.0
    window: int = 1024
    hop: int = 512
    n_bands: int = 16
    f_low_hz: float = 0.0
    f_high_frac: float = 0.8
    axis: int = 0
    eps: float = 1e-12

    def __post_init__(self) -> None:
        for name in ("window", "hop", "n_bands", "axis"):
            value = getattr(self, name)
            if not is_integer(value):
                raise ValueError(f"FeatureConfig.{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("sample_rate", "f_low_hz", "f_high_frac", "eps"):
            value = getattr(self, name)
            if not is_number(value):
                raise ValueError(f"FeatureConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ValueError(f"FeatureConfig.{name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0 Hz, got {self.sample_rate!r}")
        if not 64 <= self.window <= 4096 or self.window & (self.window - 1):
            raise ValueError(f"window must be a power of two in 64..4096, got {self.window!r}")
        if self.hop < 1:
            raise ValueError(f"hop must be >= 1 sample, got {self.hop!r}")
        if self.n_bands < 1:
            raise ValueError(f"n_bands must be >= 1, got {self.n_bands!r}")
        if not 0.0 < self.f_high_frac <= 1.0:
            raise ValueError(f"f_high_frac must be in (0, 1], got {self.f_high_frac!r}")
        if not 0.0 <= self.f_low_hz < self.f_high_hz:
            raise ValueError(
                f"f_low_hz must be in [0, {self.f_high_hz:g}) Hz for this rate, "
                f"got {self.f_low_hz!r}"
            )
        if self.axis < 0:
            raise ValueError(f"axis must be >= 0, got {self.axis!r}")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps!r}")
        last = int(band_bin_edges(self)[-1])
        if last > self.window // 2 + 1:
            raise ValueError(
                f"{self.n_bands} bands of at least one bin do not fit below "
                f"{self.f_high_hz:g} Hz with window {self.window}: reduce n_bands"
            )

    @classmethod
    def for_rate(cls, sample_rate: float, **overrides: Any) -> FeatureConfig:
        """The default configuration scaled to a sample rate.

        The window keeps about the same *duration* as the default (1024 samples at
        12 kHz, 85 ms: two to three shaft turns of a 1500-3000 rpm machine): the power
        of two nearest to ``WINDOW_SECONDS * sample_rate``, clamped to 64..4096; the hop
        is half a window. Band edges already follow the rate.

        Parameters
        ----------
        sample_rate : float
            Hz.
        **overrides
            Any other field (or ``window``/``hop`` to bypass the scaling).
        """
        rate = float(sample_rate)
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"sample_rate must be a finite number > 0, got {sample_rate!r}")
        exponent = round(math.log2(WINDOW_SECONDS * rate))
        window = int(2 ** min(12, max(6, exponent)))
        fields_ = {"sample_rate": rate, "window": window, "hop": window // 2, **overrides}
        return cls(**fields_)

    @property
    def f_high_hz(self) -> float:
        """Upper edge of the last band in Hz."""
        return self.f_high_frac * self.sample_rate / 2.0

    @property
    def n_features(self) -> int:
        """Length of the feature vector: ``n_bands + 3``."""
        return self.n_bands + 3

    @property
    def feature_names(self) -> list[str]:
        """Names of the features in vector order (band ranges in Hz from the edges)."""
        edges = band_bin_edges(self) * self.sample_rate / self.window
        bands = [
            f"log_band_{j:02d}_{edges[j]:.0f}_{edges[j + 1]:.0f}hz" for j in range(self.n_bands)
        ]
        return [*bands, "log_m2", "kurtosis", "crest"]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FeatureConfig fields {unknown!r}")
        return cls(**dict(data))


def band_bin_edges(config: FeatureConfig) -> NDArray[np.int64]:
    """DFT bin edges of the bands.

    Parameters
    ----------
    config : FeatureConfig

    Returns
    -------
    edges : ndarray of shape (n_bands + 1,), int64
        Band ``j`` holds bins ``edges[j] <= k < edges[j + 1]``; edges are >= 1 (no DC) and
        strictly increasing.
    """
    n, fs = config.window, config.sample_rate
    f_high = config.f_high_frac * fs / 2.0
    j = np.arange(config.n_bands + 1, dtype=np.float64)
    hz = config.f_low_hz + j * (f_high - config.f_low_hz) / config.n_bands
    edges = np.maximum(1, np.round(hz * n / fs)).astype(np.int64)  # np.round: half to even
    for i in range(1, edges.size):
        edges[i] = max(edges[i], edges[i - 1] + 1)
    return edges


def hann_periodic(n: int) -> NDArray[np.float64]:
    """Periodic Hann window ``w[i] = 0.5 - 0.5 cos(2 pi i / n)``, shape (n,)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def frame_windows(
    x: ArrayLike,
    config: FeatureConfig,
    segments: Sequence[tuple[int, int]] | None = None,
) -> NDArray[np.float64]:
    """Cut a signal into windows of ``config.window`` samples every ``config.hop``.

    Parameters
    ----------
    x : array_like of shape (n,)
        One axis, physical units.
    config : FeatureConfig
    segments : sequence of (start, stop) or None
        Contiguous stretches of ``x`` (no gap inside). Windows never straddle a segment
        boundary; each segment starts its own window grid. None: all of ``x`` is one segment.

    Returns
    -------
    windows : ndarray of shape (n_windows, window), float64
        In time order; ``n_windows`` may be 0.
    """
    signal = np.asarray(x, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"x must have shape (n,), got shape {signal.shape!r}")
    starts = window_starts(signal.shape[0], config, segments)
    return signal[starts[:, None] + np.arange(config.window)]


def window_starts(
    n: int,
    config: FeatureConfig,
    segments: Sequence[tuple[int, int]] | None = None,
) -> NDArray[np.int64]:
    """First sample of every window :func:`frame_windows` cuts, shape (n_windows,)."""
    if segments is None:
        segments = [(0, n)]
    starts: list[NDArray[np.int64]] = []
    for segment in segments:
        start, stop = (int(v) for v in segment)
        if not 0 <= start <= stop <= n:
            raise ValueError(f"segment must satisfy 0 <= start <= stop <= {n}, got {segment!r}")
        last = stop - config.window
        if last >= start:
            starts.append(np.arange(start, last + 1, config.hop, dtype=np.int64))
    if not starts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(starts)


def window_features(windows: ArrayLike, config: FeatureConfig) -> NDArray[np.float64]:
    """Feature vectors of windows, exactly as ``docs/features.md`` defines them.

    Parameters
    ----------
    windows : array_like of shape (n_windows, window)
        Physical units.
    config : FeatureConfig

    Returns
    -------
    features : ndarray of shape (n_windows, n_bands + 3), float64
        ``[log10 band powers..., log10(m2 + eps), kurtosis, crest]`` per window.
    """
    w = np.asarray(windows, dtype=np.float64)
    n = config.window
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"windows must have shape (n_windows, {n}), got shape {w.shape!r}")
    d = w - w.mean(axis=1, keepdims=True)
    m2 = np.mean(d * d, axis=1)
    m4 = np.mean(d**4, axis=1)
    rms = np.sqrt(m2)
    peak = np.max(np.abs(d), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kurtosis = np.where(m2 > 0, m4 / (m2 * m2), 0.0)
        crest = np.where(rms > 0, peak / rms, 0.0)
    hann = hann_periodic(n)
    spectrum = np.fft.rfft(d * hann, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    edges = band_bin_edges(config)
    # Sum of bins b_j..b_{j+1}-1 per band through a cumulative sum over bins.
    cumulative = np.concatenate([np.zeros((len(d), 1)), np.cumsum(power, axis=1)], axis=1)
    band_sums = cumulative[:, edges[1:]] - cumulative[:, edges[:-1]]
    bands = band_sums * (2.0 / (n * float(np.sum(hann * hann))))
    out = np.empty((len(d), config.n_features), dtype=np.float64)
    out[:, : config.n_bands] = np.log10(bands + config.eps)
    out[:, config.n_bands] = np.log10(m2 + config.eps)
    out[:, config.n_bands + 1] = kurtosis
    out[:, config.n_bands + 2] = crest
    return out


def extract_features(
    x: ArrayLike,
    config: FeatureConfig,
    segments: Sequence[tuple[int, int]] | None = None,
) -> NDArray[np.float64]:
    """Windows and features of a whole signal.

    Parameters
    ----------
    x : array_like of shape (n,) or (n, axes)
        Physical units; with several axes, column ``config.axis`` is used.
    config : FeatureConfig
    segments : sequence of (start, stop) or None
        See :func:`frame_windows`.

    Returns
    -------
    features : ndarray of shape (n_windows, n_bands + 3), float64
    """
    signal = np.asarray(x, dtype=np.float64)
    if signal.ndim == 2:
        if config.axis >= signal.shape[1]:
            raise ValueError(
                f"axis {config.axis} does not exist in a signal of shape {signal.shape!r}"
            )
        signal = signal[:, config.axis]
    elif signal.ndim != 1:
        raise ValueError(f"x must have shape (n,) or (n, axes), got shape {signal.shape!r}")
    return window_features(frame_windows(signal, config, segments), config)

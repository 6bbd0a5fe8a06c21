"""From recordings on disk to feature windows, and the time-ordered splits.

A recording is read in physical units, one axis (``FeatureConfig.axis``), cut into windows
that never straddle a gap, and turned into feature vectors (:mod:`vibration.learning.features`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from vibration.data.dataset import Recording, iter_recordings
from vibration.errors import ModelError
from vibration.learning.features import FeatureConfig, window_features, window_starts
from vibration.learning.severity import units_to_ms2, velocity_rms

if TYPE_CHECKING:
    from vibration.learning.speed import SpeedConfig

__all__ = [
    "RATE_TOLERANCE",
    "RecordingWindows",
    "check_sample_rate",
    "common_sample_rate",
    "load_windows",
    "recording_sha256",
    "recording_windows",
    "stack_features",
]

RATE_TOLERANCE = 0.01
"""Largest relative difference between a recording's sample rate and the model's.

Rates estimated from a text stream wander by a fraction of a percent; at 1 % the band
edges move by less than one DFT bin for windows up to 4096 samples at the top band."""


_CHUNK_WINDOWS = 2048  # windows per feature batch: bounded memory for hour-long recordings


@dataclass(frozen=True)
class RecordingWindows:
    """Feature vectors of one recording.

    Attributes
    ----------
    name : str
    label : str or None
    path : str
    sha256 : str
        SHA-256 of the recording's samples (``meta.json``'s, or computed for a ``.part``).
    sample_rate : float
        Hz, of the recording.
    starts : ndarray of shape (n_windows,), int64
        First sample of each window.
    features : ndarray of shape (n_windows, n_features), float64
    velocity_mm_s : ndarray of shape (n_windows,), float64, or None
        ISO 10816 velocity RMS of each window (10 Hz - 1 kHz) in mm/s, as the device
        computes it (:mod:`vibration.learning.severity`); NaN when the recording's units
        have no known conversion to m/s²; None when not computed.
    speeds : ndarray of shape (n_windows,), float64, or None
        Shaft speed in rpm that the device's estimator reports with each window (NaN
        while it warms up after a gap); None when not estimated.
    start_s : ndarray of shape (n_windows,), float64, or None
        Time of each window's first sample, seconds from the recording's start, with the
        segments timed by :meth:`Recording.segment_times` (a snapshot series by its
        clocks). None: ``starts / sample_rate``.
    segment : ndarray of shape (n_windows,), int64, or None
        Index of the segment (:meth:`Recording.segments`) each window lies in.
    duration_s : float or None
        The recording's duration, :meth:`Recording.duration_s`.
    extra : dict
        The recording's ``extra`` metadata (``rpm``, ``load``, ...).
    flat : bool
        Every sample of the recording's axis has the same value (all zeros, say): a dead
        or disconnected sensor, nothing to learn from.
    """

    name: str
    label: str | None
    path: str
    sha256: str
    sample_rate: float
    starts: NDArray[np.int64] = field(repr=False)
    features: NDArray[np.float64] = field(repr=False)
    speeds: NDArray[np.float64] | None = field(default=None, repr=False)
    velocity_mm_s: NDArray[np.float64] | None = field(default=None, repr=False)
    start_s: NDArray[np.float64] | None = field(default=None, repr=False)
    segment: NDArray[np.int64] | None = field(default=None, repr=False)
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, hash=False)
    flat: bool = False

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.features.shape[0])

    def times(self, config: FeatureConfig) -> NDArray[np.float64]:
        """Time of each window's last sample, seconds from the recording's start."""
        if self.start_s is not None:
            return self.start_s + config.window / self.sample_rate
        return (self.starts + config.window) / self.sample_rate

    def hours(self, config: FeatureConfig) -> float:
        """Time the windows cover when scored every hop, hours (0 for no window)."""
        return self.n_windows * config.hop / self.sample_rate / 3600.0


def recording_sha256(recording: Recording) -> str:
    """SHA-256 hex of the recording's samples (from ``meta.json`` when complete)."""
    if recording.meta.sha256:
        return recording.meta.sha256
    return hashlib.sha256(np.ascontiguousarray(recording.samples()).tobytes()).hexdigest()


def check_sample_rate(recording: Recording, config: FeatureConfig) -> None:
    """Refuse a recording whose rate or axes do not fit the feature configuration.

    Raises
    ------
    ModelError
        The rate differs from ``config.sample_rate`` by more than :data:`RATE_TOLERANCE`,
        or the recording lacks ``config.axis``.
    """
    rate = recording.meta.sample_rate
    if abs(rate - config.sample_rate) > RATE_TOLERANCE * config.sample_rate:
        raise ModelError(
            f"recording {recording.name!r} is sampled at {rate:g} Hz but the model expects "
            f"{config.sample_rate:g} Hz; resample it (tinypdm import --rate) or train a model "
            "for this rate"
        )
    if config.axis >= recording.meta.axes:
        raise ModelError(
            f"recording {recording.name!r} has {recording.meta.axes} axis/axes; the model "
            f"reads axis {config.axis}"
        )


def recording_windows(
    recording: Recording,
    config: FeatureConfig,
    speed: SpeedConfig | None = None,
    *,
    velocity: bool = False,
) -> RecordingWindows:
    """Cut one recording into windows and compute their features.

    Parameters
    ----------
    recording : Recording
    config : FeatureConfig
    speed : SpeedConfig or None
        Also estimate each window's shaft speed as the device does (the estimator restarts
        at every gap, like a device after a reboot); None: no speeds.
    velocity : bool
        Also compute each window's velocity RMS in mm/s (``velocity_mm_s``).

    Returns
    -------
    RecordingWindows
        Possibly with no window (a recording shorter than one window).

    Raises
    ------
    ModelError
        See :func:`check_sample_rate`.
    """
    check_sample_rate(recording, config)
    raw = recording.samples()[:, config.axis]  # memory-mapped int16
    scale = np.float32(recording.meta.scale)
    starts = window_starts(raw.shape[0], config, recording.segments())
    features = np.empty((starts.size, config.n_features), dtype=np.float64)
    offsets = np.arange(config.window)
    vel = np.empty(starts.size, dtype=np.float64) if velocity else None
    to_mm_s = units_to_ms2(recording.meta.units) * 1000.0
    for first in range(0, starts.size, _CHUNK_WINDOWS):
        chunk = starts[first : first + _CHUNK_WINDOWS]
        # Physical units exactly as Recording.physical() (float32 scale * int16).
        windows = raw[chunk[:, None] + offsets].astype(np.float32) * scale
        features[first : first + chunk.size] = window_features(windows, config)
        if vel is not None:
            vel[first : first + chunk.size] = velocity_rms(windows, config) * to_mm_s
    speeds = (
        None if speed is None else _segment_speeds(raw, scale, starts, recording, config, speed)
    )
    segments = recording.segments()
    bounds = np.array([a for a, _ in segments], dtype=np.int64)
    segment = np.searchsorted(bounds, starts, side="right").astype(np.int64) - 1
    seg_times = np.asarray(recording.segment_times(), dtype=np.float64)
    rate = recording.meta.sample_rate
    start_s = (
        seg_times[segment] + (starts - bounds[segment]) / rate
        if starts.size
        else np.zeros(0, dtype=np.float64)
    )
    return RecordingWindows(
        name=recording.name,
        label=recording.meta.label,
        path=str(recording.path),
        sha256=recording_sha256(recording),
        sample_rate=rate,
        starts=starts,
        features=features,
        speeds=speeds,
        velocity_mm_s=vel,
        start_s=start_s,
        segment=segment,
        duration_s=recording.duration_s(),
        extra=dict(recording.meta.extra),
        flat=bool(raw.size) and int(raw.min()) == int(raw.max()),
    )


def _segment_speeds(
    raw: NDArray[np.int16],
    scale: np.float32,
    starts: NDArray[np.int64],
    recording: Recording,
    config: FeatureConfig,
    speed: SpeedConfig,
) -> NDArray[np.float64]:
    from vibration.learning.speed import window_speeds

    out = np.full(starts.size, np.nan)
    for first, stop in recording.segments():
        inside = (starts >= first) & (starts + config.window <= stop)
        if not inside.any():
            continue
        x = raw[first:stop].astype(np.float32) * scale
        est = window_speeds(x, config, speed)
        out[np.flatnonzero(inside)] = est[: np.count_nonzero(inside)]
    return out


def common_sample_rate(recordings: Iterable[Recording]) -> float:
    """The one sample rate of several recordings.

    Raises
    ------
    ModelError
        No recording, or rates that differ by more than :data:`RATE_TOLERANCE`.
    """
    rates = {r.name: r.meta.sample_rate for r in recordings}
    if not rates:
        raise ModelError("no recordings")
    lo, hi = min(rates.values()), max(rates.values())
    if hi - lo > RATE_TOLERANCE * lo:
        listing = ", ".join(f"{name} {rate:g} Hz" for name, rate in sorted(rates.items()))
        raise ModelError(
            f"recordings have different sample rates ({listing}); train one model per rate"
        )
    return float(np.median(list(rates.values())))


def load_windows(
    paths: Sequence[str | os.PathLike[str]],
    config: FeatureConfig | None = None,
    *,
    label: str | None = None,
    speed: SpeedConfig | None = None,
    velocity: bool = False,
) -> tuple[FeatureConfig, list[RecordingWindows], list[Recording]]:
    """Features of every recording under ``paths`` (dataset or recording directories).

    Parameters
    ----------
    paths : sequence of path
    config : FeatureConfig or None
        None: :meth:`FeatureConfig.for_rate` at the recordings' common sample rate.
    label : str or None
        Keep only recordings with this label; None keeps all.
    speed : SpeedConfig or None
        Estimate each window's shaft speed too (:func:`recording_windows`).

    Returns
    -------
    config : FeatureConfig
        The configuration used.
    windows : list of RecordingWindows
        Kept recordings, in the order found (dataset directories sorted by name).
    skipped : list of Recording
        Recordings left out because of their label.

    Raises
    ------
    ModelError
        No recording kept, rates that differ or do not match ``config``.
    DatasetError
        A path is not a dataset or recording, or a recording is damaged.
    """
    recordings = list(iter_recordings(list(paths)))
    kept = [r for r in recordings if label is None or r.meta.label == label]
    skipped = [r for r in recordings if not (label is None or r.meta.label == label)]
    if not kept:
        found = sorted({str(r.meta.label) for r in recordings})
        what = "recordings" if label is None else f"recordings labelled {label!r}"
        raise ModelError(f"no {what} in {[str(p) for p in paths]} (labels found: {found})")
    if config is None:
        config = FeatureConfig.for_rate(common_sample_rate(kept))
    windows = [recording_windows(r, config, speed, velocity=velocity) for r in kept]
    return config, windows, skipped


def stack_speeds(windows: Sequence[RecordingWindows]) -> NDArray[np.float64] | None:
    """Speeds of several recordings, one after the other, or None if any lacks them."""
    if not windows or any(w.speeds is None for w in windows):
        return None
    return np.concatenate([np.asarray(w.speeds) for w in windows])


def stack_groups(windows: Sequence[RecordingWindows]) -> NDArray[np.int64]:
    """Index of the recording of every window of :func:`stack_features`."""
    return np.concatenate(
        [np.full(w.n_windows, i, dtype=np.int64) for i, w in enumerate(windows)]
        or [np.zeros(0, dtype=np.int64)]
    )


def stack_features(windows: Sequence[RecordingWindows], n_features: int) -> NDArray[np.float64]:
    """Feature vectors of several recordings, one after the other, shape (n, n_features)."""
    if not windows:
        return np.zeros((0, n_features))
    return np.concatenate([w.features for w in windows], axis=0)

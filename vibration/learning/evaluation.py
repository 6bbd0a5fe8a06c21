"""Evaluate a model directory on recordings: detection, false alarms, AUC, baselines.

Definitions (``docs/model.md``), per recording and per detector (the autoencoder and
every baseline, each with its own threshold):

* ``detection_rate``: share of the recording's judged windows whose score is over the
  threshold, whatever the label (judged: not of unknown operating point, see below; null
  when the detector judged none).
* ``false_alarm_rate``: the same share, for recordings labelled normal only (null otherwise).
* ``alarms``: alarms raised under the alarm policy (rising edges of the k-of-n state,
  starting idle), applied to the recording's windows in time order across its segments
  (a snapshot series is one sequence), and ``alarms_per_hour`` = alarms / the recording's
  duration in hours (a snapshot series: wall-clock time, not the windows' time).
* ``alarm_onsets``: time of each alarm onset, seconds from the recording's start (the end
  of the window that raised it); ``first_alarm_s`` the first, ``lasting_alarm_s`` the onset
  of the alarm still active at the last window (null when none: the run-to-failure lead
  time is ``duration_s - lasting_alarm_s``); ``chattering_episodes``: runs of onsets in which
  every onset is the third within 60 s (:func:`chattering_episodes`).
* Windows the scorer marks as an *unknown operating point* (:class:`WindowInfo`) are
  neither over nor under: they do not advance the alarm policy and show no alarm;
  ``unknown_operating_point_rate`` is their share (0.0 while no scorer marks any).
* ``speed_error``: the speed estimator's absolute error against the recording's metadata
  speed (``extra["rpm"]``), median and 95th percentile in rpm and %; null without an
  estimator or a metadata speed.
* ``auc``: area under the ROC curve of the *reference normal windows* (negatives) against
  this recording's windows (positives); the probability that a window of the recording
  scores higher than a reference normal window, ties counting one half. The reference is
  every window of the recordings labelled normal in the same evaluation; when there is
  none, the normal windows the model held out of training. ``auc`` is null for normal
  recordings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vibration.errors import ModelError
from vibration.learning.features import FeatureConfig
from vibration.learning.model_dir import TrainedModel
from vibration.learning.severity import iso_zone
from vibration.learning.thresholds import (
    STATE_ALARM,
    AlarmPolicy,
    alarm_lifecycle,
    apply_alarm_policy,
)
from vibration.learning.windows import RecordingWindows, load_windows

__all__ = [
    "AUTOENCODER",
    "CHATTER_ONSETS",
    "CHATTER_SECONDS",
    "Evaluation",
    "RecordingResult",
    "WindowInfo",
    "WindowInfoFunction",
    "alarm_figures",
    "alarm_states",
    "chattering_episodes",
    "detection_figures",
    "evaluate_model",
    "roc_auc",
    "roc_curve",
    "speed_error",
]

AUTOENCODER = "autoencoder"
"""Name of the model's own detector in results (baselines use their names)."""

CHATTER_ONSETS = 3
CHATTER_SECONDS = 60.0
"""A chattering alarm: :data:`CHATTER_ONSETS` or more onsets within :data:`CHATTER_SECONDS`."""


@dataclass(frozen=True)
class WindowInfo:
    """What a scorer tells about each window besides its score (None: not provided).

    Attributes
    ----------
    unknown_operating_point : ndarray of shape (n_windows,), bool, or None
        The window lies outside the operating envelope the model knows: it is neither
        over nor under the threshold.
    speed_rpm : ndarray of shape (n_windows,), float, or None
        Estimated shaft speed, NaN where unknown.
    velocity_rms_mm_s : ndarray of shape (n_windows,), float, or None
        ISO 10816/20816 velocity RMS, mm/s.
    iso_zone : sequence of shape (n_windows,), or None
        ISO zone per window (``"A"`` .. ``"D"``, empty when none).
    """

    unknown_operating_point: NDArray[np.bool_] | None = None
    speed_rpm: NDArray[np.float64] | None = None
    velocity_rms_mm_s: NDArray[np.float64] | None = None
    iso_zone: Sequence[Any] | None = None

    def unknown(self, n_windows: int) -> NDArray[np.bool_]:
        """The unknown-operating-point flags, all False when not provided."""
        if self.unknown_operating_point is None:
            return np.zeros(n_windows, dtype=np.bool_)
        flags = np.asarray(self.unknown_operating_point, dtype=np.bool_)
        if flags.shape != (n_windows,):
            raise ValueError(
                f"unknown_operating_point must have shape ({n_windows},), got {flags.shape}"
            )
        return flags


WindowInfoFunction = Callable[[RecordingWindows, FeatureConfig], WindowInfo]
"""``window_info(windows, config) -> WindowInfo``: the per-window outputs of a scorer
(operating envelope, speed estimator, ISO velocity) for one recording."""


def alarm_states(
    over: ArrayLike,
    policy: AlarmPolicy,
    unknown: ArrayLike | None = None,
    *,
    scores: ArrayLike | None = None,
    threshold: float | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Alarm state after each window and the windows where an alarm starts.

    With ``scores`` and ``threshold`` the device's whole alarm lifecycle runs
    (:func:`~vibration.learning.thresholds.alarm_lifecycle`: raised by k of n windows over
    the threshold, cleared only after the score stayed below the clear level); without,
    the k-of-n rule alone (``over``). Unknown-operating-point windows are skipped: they
    neither advance the alarm nor show one, so an alarm interrupted by them and resumed
    is one alarm.

    Parameters
    ----------
    over : array_like of shape (n_windows,), bool
    policy : AlarmPolicy
    unknown : array_like of shape (n_windows,), bool, optional
    scores : array_like of shape (n_windows,), optional
    threshold : float, optional

    Returns
    -------
    alarm : ndarray of shape (n_windows,), bool
    onsets : ndarray of shape (n_onsets,), int64
        Window indices of the rising edges (from an idle start).
    """
    flags = np.asarray(over, dtype=np.bool_)
    skip = np.zeros(flags.shape, np.bool_) if unknown is None else np.asarray(unknown, np.bool_)
    if skip.shape != flags.shape:
        raise ValueError(f"unknown must have the shape of over {flags.shape}, got {skip.shape}")
    known = np.flatnonzero(~skip)
    if scores is not None and threshold is not None:
        s = np.asarray(scores, dtype=np.float64)[known]
        state = alarm_lifecycle(s, float(threshold), policy) == STATE_ALARM
    else:
        state = apply_alarm_policy(flags[known], policy)
    alarm = np.zeros(flags.shape, dtype=np.bool_)
    alarm[known] = state
    rising = np.flatnonzero(state & ~np.concatenate([[False], state[:-1]]))
    return alarm, known[rising].astype(np.int64)


def chattering_episodes(
    onset_times: ArrayLike, onsets: int = CHATTER_ONSETS, seconds: float = CHATTER_SECONDS
) -> int:
    """Number of chattering episodes among alarm onsets.

    Onset ``j`` *chatters* when it is at least the ``onsets``-th within ``seconds``
    (``t[j] - t[j - onsets + 1] <= seconds``); an episode is a run of consecutive
    chattering onsets. Onsets at 0, 10, 20, 30 s are one episode; 0, 10, 20, 200, 210,
    220 s are two.
    """
    t = np.sort(np.asarray(onset_times, dtype=np.float64).ravel())
    k = int(onsets)
    if t.size < k:
        return 0
    chatter = (t[k - 1 :] - t[: t.size - k + 1]) <= seconds
    return int(np.count_nonzero(chatter & ~np.concatenate([[False], chatter[:-1]])))


def alarm_figures(alarm: ArrayLike, onsets: ArrayLike, times: ArrayLike) -> dict[str, Any]:
    """Run-to-failure figures of one alarm sequence.

    Parameters
    ----------
    alarm : array_like of shape (n_windows,), bool
        From :func:`alarm_states`.
    onsets : array_like of shape (n_onsets,), int
        Window indices of the onsets.
    times : array_like of shape (n_windows,)
        Seconds from the recording's start of each window (its last sample).

    Returns
    -------
    dict
        ``alarm_onsets`` (seconds), ``first_alarm_s``, ``lasting_alarm_s``,
        ``chattering_episodes``.
    """
    state = np.asarray(alarm, dtype=np.bool_)
    idx = np.asarray(onsets, dtype=np.int64)
    t = np.asarray(times, dtype=np.float64)
    onset_s = [float(v) for v in t[idx]]
    lasting = onset_s[-1] if state.size and state[-1] and onset_s else None
    return {
        "alarm_onsets": onset_s,
        "first_alarm_s": onset_s[0] if onset_s else None,
        "lasting_alarm_s": lasting,
        "chattering_episodes": chattering_episodes(onset_s),
    }


def speed_error(estimated: ArrayLike | None, reference_rpm: float | None) -> dict[str, Any] | None:
    """Absolute error of per-window speed estimates against a known speed.

    Returns
    -------
    dict or None
        ``n_windows`` (finite estimates), ``estimated_rate`` (their share),
        ``median_abs_rpm``, ``p95_abs_rpm``, ``median_abs_pct``, ``p95_abs_pct`` (null when
        no estimate is finite); None without estimates or reference.
    """
    if estimated is None or reference_rpm is None or not reference_rpm > 0:
        return None
    est = np.asarray(estimated, dtype=np.float64).ravel()
    good = est[np.isfinite(est)]
    err = np.abs(good - float(reference_rpm))
    pct = 100.0 * err / float(reference_rpm)

    def q(a: NDArray[np.float64], level: float) -> float | None:
        return float(np.quantile(a, level)) if a.size else None

    return {
        "n_windows": int(good.size),
        "estimated_rate": float(good.size / est.size) if est.size else None,
        "median_abs_rpm": q(err, 0.5),
        "p95_abs_rpm": q(err, 0.95),
        "median_abs_pct": q(pct, 0.5),
        "p95_abs_pct": q(pct, 0.95),
    }


def _metadata_rpm(extra: dict[str, Any]) -> float | None:
    value = extra.get("rpm")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def roc_auc(negatives: ArrayLike, positives: ArrayLike) -> float:
    """Area under the ROC curve: P(positive score > negative score) + P(tie) / 2.

    Parameters
    ----------
    negatives : array_like of shape (n_neg,)
        Scores of normal windows.
    positives : array_like of shape (n_pos,)
        Scores of the windows to separate from them.

    Returns
    -------
    float in [0, 1]
    """
    from scipy.stats import rankdata

    neg = np.asarray(negatives, dtype=np.float64).ravel()
    pos = np.asarray(positives, dtype=np.float64).ravel()
    if neg.size == 0 or pos.size == 0:
        raise ValueError(f"roc_auc needs scores on both sides, got {neg.size} and {pos.size}")
    ranks = rankdata(np.concatenate([neg, pos]))
    u = float(np.sum(ranks[neg.size :])) - pos.size * (pos.size + 1) / 2.0
    return u / (pos.size * neg.size)


def roc_curve(
    negatives: ArrayLike, positives: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """False- and true-positive rates at every threshold, both of shape (n_points,).

    A window is positive when its score is strictly above the threshold, as on the device.
    """
    neg = np.sort(np.asarray(negatives, dtype=np.float64).ravel())
    pos = np.sort(np.asarray(positives, dtype=np.float64).ravel())
    if neg.size == 0 or pos.size == 0:
        raise ValueError(f"roc_curve needs scores on both sides, got {neg.size} and {pos.size}")
    thresholds = np.concatenate([[np.inf], np.unique(np.concatenate([neg, pos]))[::-1], [-np.inf]])
    fpr = 1.0 - np.searchsorted(neg, thresholds, side="right") / neg.size
    tpr = 1.0 - np.searchsorted(pos, thresholds, side="right") / pos.size
    return fpr, tpr


def detection_figures(
    scores: ArrayLike,
    threshold: float,
    policy: AlarmPolicy,
    *,
    hours: float,
    is_normal: bool,
    reference: ArrayLike | None,
    unknown: ArrayLike | None = None,
) -> dict[str, Any]:
    """The figures of one recording for one detector (see the module docstring).

    Parameters
    ----------
    scores : array_like of shape (n_windows,)
        Anomaly scores in time order.
    threshold : float
    policy : AlarmPolicy
    hours : float
        Duration the windows cover.
    is_normal : bool
        The recording is labelled normal.
    reference : array_like of shape (n_ref,) or None
        Scores of the reference normal windows (for ``auc``).
    unknown : array_like of shape (n_windows,), bool, optional
        Unknown-operating-point windows: never over, skipped by the alarm policy.

    Returns
    -------
    dict
        ``auc``, ``detection_rate``, ``false_alarm_rate``, ``alarms``, ``alarms_per_hour``.
    """
    s = np.asarray(scores, dtype=np.float64)
    over = s > threshold
    known = np.ones(s.shape, dtype=np.bool_)
    if unknown is not None:
        known = ~np.asarray(unknown, dtype=np.bool_)
        over &= known
    # Rates count the windows the detector judged: a window of unknown operating point is
    # neither detected nor missed nor a false alarm (its share is reported on its own).
    rate = float(np.mean(over[known])) if np.any(known) else None
    alarms = int(alarm_states(over, policy, unknown, scores=scores, threshold=threshold)[1].size)
    auc = None
    if not is_normal and reference is not None and s.size and np.size(reference):
        auc = roc_auc(reference, s)
    return {
        "auc": auc,
        "detection_rate": rate,
        "false_alarm_rate": rate if is_normal else None,
        "alarms": alarms,
        "alarms_per_hour": alarms / hours if hours > 0 else None,
    }


@dataclass(frozen=True)
class RecordingResult:
    """Scores and figures of one recording.

    Attributes
    ----------
    windows : RecordingWindows
    is_normal : bool
    scores : dict of str to ndarray of shape (n_windows,)
        Per detector (``"autoencoder"`` and the baselines).
    figures : dict of str to dict
        Per detector, :func:`detection_figures` and :func:`alarm_figures`.
    hours : float
        Time the windows cover (n_windows * hop / fs).
    info : WindowInfo
        The scorer's per-window outputs besides the score.
    alarm : dict of str to ndarray of shape (n_windows,), bool
        Per detector, the alarm state after each window (:func:`alarm_states`).
    times : ndarray of shape (n_windows,)
        Seconds from the recording's start of each window's last sample.
    duration_s : float
        The recording's duration (a snapshot series: from the first snapshot to the end of
        the last).
    """

    windows: RecordingWindows
    is_normal: bool
    scores: dict[str, NDArray[np.float64]] = field(repr=False)
    figures: dict[str, dict[str, Any]]
    hours: float
    info: WindowInfo = field(default_factory=WindowInfo, repr=False)
    alarm: dict[str, NDArray[np.bool_]] = field(default_factory=dict, repr=False)
    times: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)
    duration_s: float = 0.0

    @property
    def unknown_operating_point_rate(self) -> float:
        """Share of windows at an unknown operating point (0.0 when none is marked)."""
        n = self.windows.n_windows
        return float(np.mean(self.info.unknown(n))) if n else 0.0

    @property
    def speed_rpm_meta(self) -> float | None:
        """The recording's metadata speed (``extra["rpm"]``), None if unknown."""
        return _metadata_rpm(self.windows.extra)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this recording."""
        w = self.windows
        ae = self.scores[AUTOENCODER]
        return {
            "name": w.name,
            "label": w.label,
            "path": w.path,
            "n_windows": w.n_windows,
            "hours": self.hours,
            "duration_s": self.duration_s,
            "speed_rpm_meta": self.speed_rpm_meta,
            "unknown_operating_point_rate": self.unknown_operating_point_rate,
            "speed_error": speed_error(self.info.speed_rpm, self.speed_rpm_meta),
            **self.figures[AUTOENCODER],
            "score_median": float(np.median(ae)) if ae.size else None,
            "score_max": float(np.max(ae)) if ae.size else None,
            "baselines": {k: v for k, v in self.figures.items() if k != AUTOENCODER},
        }


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate_model`.

    Attributes
    ----------
    model_path : str
    normal_label : str
    thresholds : dict of str to float
        Per detector.
    alarm_policy : AlarmPolicy
    reference_source : str
        ``"normal recordings"`` or ``"model held-out windows"``.
    reference_scores : dict of str to ndarray
        Per detector, the scores of the reference normal windows.
    recordings : list of RecordingResult
    """

    model_path: str
    normal_label: str
    thresholds: dict[str, float]
    alarm_policy: AlarmPolicy
    reference_source: str
    reference_scores: dict[str, NDArray[np.float64]] = field(repr=False)
    recordings: list[RecordingResult]

    @property
    def detectors(self) -> list[str]:
        """Detector names, the autoencoder first."""
        return list(self.thresholds)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Pooled figures per detector over normal and over other recordings."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.detectors:
            normal = [r for r in self.recordings if r.is_normal and r.windows.n_windows]
            others = [r for r in self.recordings if not r.is_normal and r.windows.n_windows]
            n_normal = sum(r.windows.n_windows for r in normal)
            over = sum(
                int(
                    np.sum(
                        (r.scores[name] > self.thresholds[name])
                        & ~r.info.unknown(r.windows.n_windows)
                    )
                )
                for r in normal
            )
            alarms = sum(r.figures[name]["alarms"] for r in normal)
            hours = sum(r.duration_s for r in normal) / 3600.0
            rates = [
                r.figures[name]["detection_rate"]
                for r in others
                if r.figures[name]["detection_rate"] is not None
            ]
            aucs = [r.figures[name]["auc"] for r in others if r.figures[name]["auc"] is not None]
            out[name] = {
                "threshold": self.thresholds[name],
                "normal_windows": n_normal,
                "false_alarm_rate": over / n_normal if n_normal else None,
                "alarms": alarms,
                "alarms_per_hour": alarms / hours if hours > 0 else None,
                "other_recordings": len(others),
                "min_detection_rate": min(rates) if rates else None,
                "mean_detection_rate": float(np.mean(rates)) if rates else None,
                "min_auc": min(aucs) if aucs else None,
                "mean_auc": float(np.mean(aucs)) if aucs else None,
                "chattering_episodes": sum(
                    r.figures[name]["chattering_episodes"] for r in self.recordings
                ),
            }
        return out

    def speed_summary(self) -> dict[str, Any] | None:
        """:func:`speed_error` pooled over the recordings with estimates and a metadata speed."""
        est, ref = [], []
        for r in self.recordings:
            meta = r.speed_rpm_meta
            if r.info.speed_rpm is None or meta is None:
                continue
            est.append(np.asarray(r.info.speed_rpm, dtype=np.float64))
            ref.append(np.full(r.windows.n_windows, meta))
        if not est:
            return None
        e, m = np.concatenate(est), np.concatenate(ref)
        good = np.isfinite(e)
        err = np.abs(e[good] - m[good])
        pct = 100.0 * err / m[good]

        def q(a: NDArray[np.float64], level: float) -> float | None:
            return float(np.quantile(a, level)) if a.size else None

        return {
            "recordings": len(est),
            "n_windows": int(good.sum()),
            "estimated_rate": float(good.mean()) if good.size else None,
            "median_abs_rpm": q(err, 0.5),
            "p95_abs_rpm": q(err, 0.95),
            "median_abs_pct": q(pct, 0.5),
            "p95_abs_pct": q(pct, 0.95),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``tinypdm evaluate --json``."""
        return {
            "model": self.model_path,
            "normal_label": self.normal_label,
            "threshold": self.thresholds[AUTOENCODER],
            "alarm_policy": {"k": self.alarm_policy.k, "n": self.alarm_policy.n},
            "reference": {
                "source": self.reference_source,
                "n_windows": int(self.reference_scores[AUTOENCODER].size),
            },
            "recordings": [r.to_dict() for r in self.recordings],
            "summary": self.summary(),
            "speed_error": self.speed_summary(),
        }


def evaluate_model(
    model: TrainedModel,
    paths: Sequence[str | os.PathLike[str]],
    *,
    baselines: bool = True,
    window_info: WindowInfoFunction | None = None,
    iso_limits: tuple[float, float, float] | None = None,
) -> Evaluation:
    """Score every recording under ``paths`` with the model and the baselines.

    Parameters
    ----------
    model : TrainedModel
        From :func:`vibration.learning.model_dir.load_model_dir` (``keras=False`` is enough).
    paths : sequence of path
        Dataset or recording directories; recordings of any label.
    baselines : bool
        Refit the baselines from the model's normal features and score with them too.
    window_info : callable, optional
        ``window_info(windows, config) -> WindowInfo`` per recording: unknown operating
        point flags, estimated speed, ISO velocity. None: the device's own (speed and
        operating envelope of a speed-aware model, velocity RMS of every window).
    iso_limits : (float, float, float) or None
        ISO 10816-3 zone boundaries A/B, B/C, C/D in mm/s
        (:data:`vibration.learning.severity.ISO_10816_3_LIMITS`) for the ``iso_zone`` of
        each window; None: no zone.

    Returns
    -------
    Evaluation

    Raises
    ------
    ModelError
        A recording's sample rate or axes do not fit the model, or no recording.
    DatasetError
        A path is not a dataset or recording, or a recording is damaged.
    """
    normal_label = str(model.summary.get("label", "normal"))
    config = model.feature_config
    speed_config = model.detector.speed_config if model.detector.speed_aware else None
    _, windows, _ = load_windows(paths, config, speed=speed_config, velocity=True)
    if window_info is None:
        window_info = _device_info(model.detector, iso_limits, speed_aware=speed_config is not None)
    detectors: dict[str, Any] = {AUTOENCODER: model.detector}
    thresholds = {AUTOENCODER: float(model.threshold)}
    if baselines:
        from vibration.learning.baselines import fit_baselines

        for name, baseline in fit_baselines(
            model.normal_features(), model.detector.get_params()
        ).items():
            detectors[name] = baseline
            thresholds[name] = float(baseline.threshold_)

    def score_all(
        X: NDArray[np.float64], speed: NDArray[np.float64] | None = None
    ) -> dict[str, NDArray[np.float64]]:
        if X.shape[0] == 0:
            return {name: np.zeros(0) for name in detectors}
        # Only the model knows speed (the device's estimate); baselines see features alone.
        return {
            name: det.anomaly_score(X, speed) if name == AUTOENCODER else det.anomaly_score(X)
            for name, det in detectors.items()
        }

    scored = [(w, score_all(w.features, w.speeds)) for w in windows]
    normal = [(w, s) for w, s in scored if w.label == normal_label and w.n_windows]
    if normal:
        source = "normal recordings"
        reference = {name: np.concatenate([s[name] for _, s in normal]) for name in detectors}
    else:
        source = "model held-out windows"
        reference = score_all(model.held_out_features(), model.held_out_speeds())
    if not any(w.n_windows for w in windows):
        raise ModelError(
            f"no recording under {[str(p) for p in paths]} is longer than one window "
            f"({config.window} samples)"
        )
    results = []
    for w, scores in scored:
        is_normal = w.label == normal_label
        hours = w.hours(config)
        info = window_info(w, config) if window_info is not None else WindowInfo()
        unknown = info.unknown(w.n_windows)
        times = w.times(config)
        duration = (
            w.duration_s if w.duration_s is not None else w.n_windows * config.hop / w.sample_rate
        )
        figures: dict[str, dict[str, Any]] = {}
        alarm: dict[str, NDArray[np.bool_]] = {}
        for name in detectors:
            # The operating envelope belongs to the model; baselines have none.
            skip = unknown if name == AUTOENCODER else np.zeros_like(unknown)
            over = (scores[name] > thresholds[name]) & ~skip
            alarm[name], onsets = alarm_states(
                over, model.alarm_policy, skip, scores=scores[name], threshold=thresholds[name]
            )
            figures[name] = {
                **detection_figures(
                    scores[name],
                    thresholds[name],
                    model.alarm_policy,
                    hours=duration / 3600.0,
                    is_normal=is_normal,
                    reference=reference[name],
                    unknown=skip,
                ),
                **alarm_figures(alarm[name], onsets, times),
            }
        results.append(
            RecordingResult(w, is_normal, scores, figures, hours, info, alarm, times, duration)
        )
    return Evaluation(
        model_path=str(model.path),
        normal_label=normal_label,
        thresholds=thresholds,
        alarm_policy=model.alarm_policy,
        reference_source=source,
        reference_scores=reference,
        recordings=results,
    )


def _device_info(
    detector: Any, iso_limits: tuple[float, float, float] | None, *, speed_aware: bool
) -> WindowInfoFunction:
    """Per-window speed, operating-envelope flags, velocity RMS and ISO zone, as the device
    computes them."""

    def info(windows: RecordingWindows, config: FeatureConfig) -> WindowInfo:
        n = windows.n_windows
        speeds = windows.speeds if speed_aware else None
        velocity = windows.velocity_mm_s
        zones: list[str] | None = None
        if velocity is not None and iso_limits is not None:
            letters = ("", "A", "B", "C", "D")
            zones = [letters[int(z)] for z in iso_zone(velocity, iso_limits)]
        return WindowInfo(
            unknown_operating_point=(
                detector.unknown_operating_point(speeds, n) if speed_aware else None
            ),
            speed_rpm=speeds,
            velocity_rms_mm_s=velocity,
            iso_zone=zones,
        )

    return info

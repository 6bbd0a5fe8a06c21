"""Evaluate a model directory on recordings: detection, false alarms, AUC, baselines.

Definitions (``docs/model.md``), per recording and per detector (the autoencoder and
every baseline, each with its own threshold):

* ``detection_rate``: share of the recording's windows whose score is over the threshold,
  whatever the label.
* ``false_alarm_rate``: the same share, for recordings labelled normal only (null otherwise).
* ``alarms``: alarms raised under the alarm policy (rising edges of the k-of-n state,
  starting idle), and ``alarms_per_hour`` = alarms / hours of windows (n_windows * hop / fs).
* ``auc``: area under the ROC curve of the *reference normal windows* (negatives) against
  this recording's windows (positives); the probability that a window of the recording
  scores higher than a reference normal window, ties counting one half. The reference is
  every window of the recordings labelled normal in the same evaluation; when there is
  none, the normal windows the model held out of training. ``auc`` is null for normal
  recordings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vibration.errors import ModelError
from vibration.learning.model_dir import TrainedModel
from vibration.learning.thresholds import AlarmPolicy, alarm_onsets, apply_alarm_policy
from vibration.learning.windows import RecordingWindows, load_windows

__all__ = [
    "AUTOENCODER",
    "Evaluation",
    "RecordingResult",
    "detection_figures",
    "evaluate_model",
    "roc_auc",
    "roc_curve",
]

AUTOENCODER = "autoencoder"
"""Name of the model's own detector in results (baselines use their names)."""


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

    Returns
    -------
    dict
        ``auc``, ``detection_rate``, ``false_alarm_rate``, ``alarms``, ``alarms_per_hour``.
    """
    s = np.asarray(scores, dtype=np.float64)
    over = s > threshold
    rate = float(np.mean(over)) if s.size else None
    alarms = alarm_onsets(apply_alarm_policy(over, policy))
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
        Per detector, :func:`detection_figures`.
    hours : float
    """

    windows: RecordingWindows
    is_normal: bool
    scores: dict[str, NDArray[np.float64]] = field(repr=False)
    figures: dict[str, dict[str, Any]]
    hours: float

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
            over = sum(int(np.sum(r.scores[name] > self.thresholds[name])) for r in normal)
            alarms = sum(r.figures[name]["alarms"] for r in normal)
            hours = sum(r.hours for r in normal)
            rates = [r.figures[name]["detection_rate"] for r in others]
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
            }
        return out

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
        }


def evaluate_model(
    model: TrainedModel,
    paths: Sequence[str | os.PathLike[str]],
    *,
    baselines: bool = True,
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
    _, windows, _ = load_windows(paths, config)
    detectors: dict[str, Any] = {AUTOENCODER: model.detector}
    thresholds = {AUTOENCODER: float(model.threshold)}
    if baselines:
        from vibration.learning.baselines import fit_baselines

        for name, baseline in fit_baselines(
            model.normal_features(), model.detector.get_params()
        ).items():
            detectors[name] = baseline
            thresholds[name] = float(baseline.threshold_)

    def score_all(X: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        if X.shape[0] == 0:
            return {name: np.zeros(0) for name in detectors}
        return {name: det.anomaly_score(X) for name, det in detectors.items()}

    scored = [(w, score_all(w.features)) for w in windows]
    normal = [(w, s) for w, s in scored if w.label == normal_label and w.n_windows]
    if normal:
        source = "normal recordings"
        reference = {name: np.concatenate([s[name] for _, s in normal]) for name in detectors}
    else:
        source = "model held-out windows"
        reference = score_all(model.held_out_features())
    if not any(w.n_windows for w in windows):
        raise ModelError(
            f"no recording under {[str(p) for p in paths]} is longer than one window "
            f"({config.window} samples)"
        )
    results = []
    for w, scores in scored:
        is_normal = w.label == normal_label
        hours = w.hours(config)
        figures = {
            name: detection_figures(
                scores[name],
                thresholds[name],
                model.alarm_policy,
                hours=hours,
                is_normal=is_normal,
                reference=reference[name],
            )
            for name in detectors
        }
        results.append(RecordingResult(w, is_normal, scores, figures, hours))
    return Evaluation(
        model_path=str(model.path),
        normal_label=normal_label,
        thresholds=thresholds,
        alarm_policy=model.alarm_policy,
        reference_source=source,
        reference_scores=reference,
        recordings=results,
    )

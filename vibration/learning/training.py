"""Train the autoencoder on normal recordings into a model directory (``tinypdm train``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vibration.errors import ModelError
from vibration.validation import is_int

if TYPE_CHECKING:
    from vibration.learning.speed import SpeedConfig

__all__ = ["MIN_TRAIN_WINDOWS", "train_model"]

MIN_TRAIN_WINDOWS = 8
"""Fewest normal windows :func:`train_model` accepts (a quarter of them set the threshold)."""


def train_model(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    label: str = "normal",
    epochs: int | None = None,
    seed: int = 0,
    from_dir: str | os.PathLike[str] | None = None,
    on_epoch: Callable[[int, Mapping[str, float]], None] | None = None,
    on_start: Callable[[int, Mapping[str, Any]], None] | None = None,
    detector_params: Mapping[str, Any] | None = None,
    speed: SpeedConfig | str | None = "default",
) -> dict[str, Any]:
    """Train (or fine-tune) a detector on the recordings labelled ``label``.

    Parameters
    ----------
    paths : sequence of path
        Dataset or recording directories. Recordings with another label are ignored.
    out : path
        Model directory to write (replaced if it holds a model).
    label : str
        Label of the normal recordings to learn from.
    epochs : int or None
        Training epochs; None: the detector's default (or the base model's with
        ``from_dir``).
    seed : int
        Seeds weight initialisation, shuffling and training noise.
    from_dir : path or None
        Start from this model directory: keep its feature configuration and
        standardisation, continue training on the new windows and recalibrate the
        threshold on their held-out part (recordings must have its sample rate).
    on_epoch : callable or None
        ``on_epoch(epoch, logs)`` after every epoch.
    on_start : callable or None
        ``on_start(n_epochs, summary_so_far)`` once the windows are ready, before training.
    detector_params : mapping or None
        Other :class:`~vibration.learning.detector.AutoencoderDetector` hyper-parameters (new
        models only).
    speed : SpeedConfig, None or "default"
        The tachless speed estimator's configuration (the machine's speed range):
        the model learns its operating envelope and, across speeds, a speed-conditioned
        normal. ``"default"``: :class:`~vibration.learning.speed.SpeedConfig` defaults (or
        the base model's with ``from_dir``); None: a speed-unaware model.

    Returns
    -------
    dict
        The training summary as saved in ``model.json`` (plus ``model_dir``).

    Raises
    ------
    ModelError
        No usable recording, too few windows, a sample rate that does not match.
    DatasetError
        Unreadable recordings.
    """
    from vibration.learning.detector import AutoencoderDetector
    from vibration.learning.model_dir import load_model_dir, save_model_dir
    from vibration.learning.speed import SpeedConfig as _SpeedConfig
    from vibration.learning.windows import load_windows, stack_features, stack_groups, stack_speeds

    began = time.perf_counter()
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if epochs is not None and (not is_int(epochs) or epochs < 1):
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    base = load_model_dir(from_dir) if from_dir is not None else None
    speed_config = _speed_config(speed, base, _SpeedConfig)
    config, windows, skipped = load_windows(
        paths, None if base is None else base.feature_config, label=label, speed=speed_config
    )
    X = stack_features(windows, config.n_features)
    speeds = stack_speeds(windows)
    groups = stack_groups(windows)
    if X.shape[0] < MIN_TRAIN_WINDOWS:
        raise ModelError(
            f"only {X.shape[0]} windows of {config.window} samples in the recordings labelled "
            f"{label!r}; need at least {MIN_TRAIN_WINDOWS} (record longer)"
        )
    features_s = time.perf_counter() - began
    summary: dict[str, Any] = {
        "label": label,
        "recordings": [
            {"name": w.name, "path": w.path, "sha256": w.sha256, "n_windows": w.n_windows}
            for w in windows
        ],
        "ignored": [{"name": r.name, "label": r.meta.label} for r in skipped],
        "warnings": [
            f"recording {w.name} is a flat signal (every sample the same, e.g. all zeros): "
            "a dead or disconnected sensor? The model learns nothing from it"
            for w in windows
            if w.flat
        ],
        "seed": seed,
        "fine_tuned_from": None,
    }
    if base is None:
        params = {**dict(detector_params or {}), "random_state": seed}
        if epochs is not None:
            params["epochs"] = epochs
        detector = AutoencoderDetector(**params)
        n_epochs = detector.epochs
    else:
        if detector_params:
            raise ValueError("detector_params cannot change a model that is fine-tuned")
        detector = base.detector.set_params(random_state=seed)
        n_epochs = epochs if epochs is not None else detector.epochs
        summary["fine_tuned_from"] = {
            "path": str(base.path),
            "created_at": base.summary.get("created_at"),
            "recordings": base.summary.get("recordings", []),
            "threshold": base.threshold,
        }
    if on_start is not None:
        on_start(n_epochs, summary)
    if base is None:
        detector.fit(X, speed=speeds, groups=groups, on_epoch=on_epoch)
        detector.speed_config_ = (
            speed_config.to_dict() if speed_config is not None and detector.speed_aware else None
        )
    else:
        detector.fine_tune(X, speed=speeds, groups=groups, epochs=n_epochs, on_epoch=on_epoch)
    held = detector.held_out_scores_
    held_mask = _held_mask(detector, X.shape[0], speeds, groups)
    summary.update(
        {
            "n_parameters": detector.n_parameters_,
            "epochs_run": detector.n_epochs_,
            "final_loss": detector.history_["loss"][-1],
            "train_score_mean": detector.train_loss_,
            "held_out_score_median": float(np.median(held)),
            "held_out_score_max": float(np.max(held)),
            "threshold": detector.threshold_,
            "calibration_warning": detector.calibration_warning_,
            "speed_envelope_rpm": (
                list(detector.speed_envelope_) if detector.speed_envelope_ is not None else None
            ),
            "speed_conditioned": bool(np.any(detector.speed_slope_)),
            "timings_s": {
                "features": features_s,
                "fit": detector.fit_seconds_,
                "total": time.perf_counter() - began,
            },
        }
    )
    path = save_model_dir(
        out,
        detector,
        config,
        summary,
        features=X,
        speeds=speeds if detector.speed_aware else None,
        held_out=held_mask,
    )
    saved = json.loads((path / "model.json").read_text("utf-8"))["training"]
    return {**saved, "model_dir": str(path)}


def _speed_config(speed: Any, base: Any, default: Any) -> Any:
    if isinstance(speed, str):
        if speed != "default":
            raise ValueError(f"speed must be a SpeedConfig, None or 'default', got {speed!r}")
        if base is None:
            return default()
        return base.detector.speed_config
    return speed


def _held_mask(detector: Any, n: int, speeds: Any, groups: Any) -> Any:
    """Rows of the training features that set the threshold (as the detector chose them)."""
    mask = np.zeros(n, dtype=np.bool_)
    keep = np.ones(n, dtype=np.bool_)
    if speeds is not None and detector.speed_aware:
        keep = np.isfinite(speeds) & (speeds > 0)
    mask[np.flatnonzero(keep)] = detector._held_out_mask(groups[keep], int(np.count_nonzero(keep)))
    return mask

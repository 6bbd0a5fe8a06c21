"""Model directories: a trained detector and everything needed to use, export and audit it.

No pickle: every file is JSON, ``.npy``/``.npz`` of plain numbers (read with
``allow_pickle=False``) or the Keras archive::

    MODEL_DIR/
      model.json        format, feature config, scaler, threshold, alarm policy, detector
                        hyper-parameters, training summary, SHA-256 of the other files
      model.keras       the float autoencoder (Keras 3 archive, no optimizer state)
      weights.npz       its Dense kernels and biases (k0, b0, k1, b1, ...), float32:
                        scoring without TensorFlow (gateway, dashboard, evaluate)
      calibration.npy   up to 2000 standardised normal training feature vectors, float32,
                        shape (n, n_features): the int8 exporter's representative dataset
      features.npy      the normal feature vectors the detector was fitted on, float64,
                        time order (training part, then held-out part): baselines and
                        the evaluation's reference are refitted from it

:func:`save_model_dir` writes into a temporary sibling directory and renames it into place,
so a crash never leaves a half-written model under the final name.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vibration.errors import ModelError
from vibration.fileio import fsync_path, read_json_document, replace_dir, sha256_file
from vibration.learning.features import FeatureConfig
from vibration.learning.thresholds import AlarmPolicy

__all__ = [
    "CALIBRATION_MAX",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "TrainedModel",
    "load_model_dir",
    "save_model_dir",
    "tinypdm_version",
]

MODEL_FORMAT = "tinypdm-model"
MODEL_FORMAT_VERSION = 1
CALIBRATION_MAX = 2000
"""Most feature vectors kept in ``calibration.npy``."""

_JSON = "model.json"
_KERAS = "model.keras"
_WEIGHTS = "weights.npz"
_CALIBRATION = "calibration.npy"
_FEATURES = "features.npy"
_WINDOWS = "windows.npz"
_DATA_FILES = (_KERAS, _WEIGHTS, _CALIBRATION, _FEATURES)
# Optional: per-window speed (rpm, NaN unknown) and hold-out flags of features.npy.
# Model directories made before speed awareness lack it (no speed, last part held out).
_OPTIONAL_FILES = (_WINDOWS,)


@dataclass(frozen=True)
class TrainedModel:
    """A model directory loaded into memory.

    Attributes
    ----------
    detector : AutoencoderDetector
        Fitted; ``detector.model_`` is the Keras model, or None when loaded with
        ``keras=False`` (scoring works either way).
    feature_config : FeatureConfig
    threshold : float
        Anomaly scores above it are "over" (the firmware's ``TINYPDM_THRESHOLD``).
    alarm_policy : AlarmPolicy
    summary : dict
        The training summary of ``model.json``.
    path : Path
        The model directory.
    """

    detector: Any
    feature_config: FeatureConfig
    threshold: float
    alarm_policy: AlarmPolicy
    summary: dict[str, Any] = field(repr=False)
    path: Path

    def calibration(self) -> NDArray[np.float32]:
        """Standardised normal feature vectors, shape (n <= 2000, n_features), float32."""
        return _load_npy(self.path / _CALIBRATION, np.float32, self.feature_config.n_features)

    def normal_features(self) -> NDArray[np.float64]:
        """Feature vectors the detector was fitted on, time order, shape (n, n_features)."""
        return _load_npy(self.path / _FEATURES, np.float64, self.feature_config.n_features)

    def normal_speeds(self) -> NDArray[np.float64] | None:
        """Shaft speed (rpm, NaN unknown) of each row of :meth:`normal_features`, or None."""
        meta = self._windows()
        return None if meta is None else np.asarray(meta["speed"], dtype=np.float64)

    def held_out_mask(self) -> NDArray[np.bool_]:
        """Which rows of :meth:`normal_features` were held out to set the threshold."""
        meta = self._windows()
        if meta is not None:
            return np.asarray(meta["held_out"], dtype=np.bool_)
        n = int(self.summary["n_windows_train"]) + int(self.summary["n_windows_held_out"])
        mask = np.zeros(n, dtype=np.bool_)
        mask[int(self.summary["n_windows_train"]) :] = True
        return mask

    def held_out_features(self) -> NDArray[np.float64]:
        """The held-out part of :meth:`normal_features` that set the threshold."""
        return self.normal_features()[self.held_out_mask()]

    def held_out_speeds(self) -> NDArray[np.float64] | None:
        """Speeds of :meth:`held_out_features`, or None for a speed-unaware model."""
        speeds = self.normal_speeds()
        return None if speeds is None else speeds[self.held_out_mask()]

    def _windows(self) -> dict[str, NDArray[Any]] | None:
        path = self.path / _WINDOWS
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as npz:
            return {"speed": npz["speed"], "held_out": npz["held_out"]}


def tinypdm_version() -> str:
    """Installed tinypdm version ("0+unknown" when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tinypdm")
    except PackageNotFoundError:
        return "0+unknown"


def save_model_dir(
    path: str | os.PathLike[str],
    detector: Any,
    feature_config: FeatureConfig,
    summary: Mapping[str, Any],
    *,
    features: ArrayLike,
    speeds: ArrayLike | None = None,
    held_out: ArrayLike | None = None,
) -> Path:
    """Write a fitted detector as a model directory, atomically.

    Parameters
    ----------
    path : path
        The model directory. An existing model directory there is replaced; any other
        existing path is refused.
    detector : AutoencoderDetector
        Fitted, with its Keras model (``model_``).
    feature_config : FeatureConfig
    summary : mapping
        Training summary (JSON types): recordings, windows, timings, seed... ``created_at``
        and ``tinypdm_version`` are added when absent.
    features : array_like of shape (n_windows, n_features)
        The normal feature vectors ``detector`` was fitted (or fine-tuned) on, time order.
    speeds : array_like of shape (n_windows,) or None
        Their shaft speeds in rpm (NaN: unknown), for a speed-aware detector.
    held_out : array_like of shape (n_windows,), bool, or None
        Which of them set the threshold; None: the last ``n_windows - n_train_``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ModelError
        ``path`` exists and is not a model directory, or the detector is not fitted.
    """
    target = Path(path)
    is_model = target.is_dir() and (target / _JSON).is_file()
    is_empty_dir = target.is_dir() and not any(target.iterdir())
    if target.exists() and not (is_model or is_empty_dir):
        raise ModelError(f"{str(target)!r} exists and is not a model directory; not replacing it")
    if getattr(detector, "model_", None) is None:
        raise ModelError("the detector is not fitted (or was loaded without its Keras model)")
    X = np.asarray(features, dtype=np.float64)
    n_features = feature_config.n_features
    if X.ndim != 2 or X.shape[1] != n_features or detector.n_features_in_ != n_features:
        raise ModelError(
            f"features of shape {X.shape} and a detector of {detector.n_features_in_} inputs do "
            f"not match the feature config ({n_features} features)"
        )
    n_train = int(detector.n_train_)
    if held_out is None:
        held = np.zeros(X.shape[0], dtype=np.bool_)
        held[n_train:] = True
    else:
        held = np.asarray(held_out, dtype=np.bool_)
    rpm = None if speeds is None else np.asarray(speeds, dtype=np.float64)
    if held.shape != (X.shape[0],) or (rpm is not None and rpm.shape != (X.shape[0],)):
        raise ModelError("speeds and held_out must have one entry per feature vector")
    n_train = int(np.count_nonzero(~held))
    doc = _model_json(detector, feature_config, summary, n_train, X.shape[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    tmp.mkdir()  # mode from the umask, like any directory the user creates
    try:
        detector.model_.save(tmp / _KERAS)
        arrays: dict[str, Any] = {}
        for i, (kernel, bias) in enumerate(_weights_of(detector.model_)):
            arrays[f"k{i}"], arrays[f"b{i}"] = kernel, bias
        with open(tmp / _WEIGHTS, "wb") as fh:
            np.savez(fh, **arrays)
        train_rpm = None if rpm is None else rpm[~held]
        np.save(tmp / _CALIBRATION, _calibration(detector, X[~held], train_rpm), allow_pickle=False)
        np.save(tmp / _FEATURES, X, allow_pickle=False)
        written = list(_DATA_FILES)
        if rpm is not None or held_out is not None:
            speed_col = np.full(X.shape[0], np.nan) if rpm is None else rpm
            with open(tmp / _WINDOWS, "wb") as fh:
                np.savez(fh, speed=speed_col, held_out=held)
            written.append(_WINDOWS)
        doc["files"] = {name: sha256_file(tmp / name) for name in written}
        (tmp / _JSON).write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", "utf-8")
        _fsync_dir_tree(tmp)
        replace_dir(tmp, target)
        fsync_path(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_model_dir(path: str | os.PathLike[str], *, keras: bool = True) -> TrainedModel:
    """Read a model directory.

    Parameters
    ----------
    path : path
    keras : bool
        Load the Keras model too (imports TensorFlow; needed to export or fine-tune). With
        False, the detector scores from ``weights.npz`` in numpy and ``model_`` is None.

    Returns
    -------
    TrainedModel

    Raises
    ------
    ModelError
        Missing or corrupt files (checksums), unknown format, inconsistent contents.
    """
    from vibration.learning.detector import AutoencoderDetector

    root = Path(path)
    doc = read_json_document(
        root,
        _JSON,
        fmt=MODEL_FORMAT,
        version=MODEL_FORMAT_VERSION,
        error=ModelError,
        kind="model",
        is_not="model directory",
        document="model description",
    )
    try:
        files = doc["files"]
        optional = [name for name in _OPTIONAL_FILES if name in files]
        for name in (*_DATA_FILES, *optional):
            if not (root / name).is_file():
                raise ModelError(f"model directory {str(root)!r} lacks {name}")
            if sha256_file(root / name) != files[name]:
                raise ModelError(f"{str(root / name)!r} is corrupt (SHA-256 differs from {_JSON})")
        config = FeatureConfig.from_dict(doc["feature_config"])
        policy = AlarmPolicy.from_dict(doc["alarm_policy"])
        params = dict(doc["detector"]["params"])
        params["hidden"] = tuple(params["hidden"])
        # Models made before these options scored two-sided and held out the last part.
        params.setdefault("one_sided", False)
        params.setdefault("holdout", "last")
        speed_doc = doc.get("speed")
        threshold = float(doc["threshold"])
        mean = np.asarray(doc["scaler"]["mean"], dtype=np.float64)
        scale = np.asarray(doc["scaler"]["scale"], dtype=np.float64)
        _check_decision_values(root, threshold, mean, scale)
        summary = dict(doc["training"])
        layers = _read_weights(root / _WEIGHTS)
        model = None
        if keras:
            model = _load_keras(root / _KERAS)
            if not all(
                np.array_equal(a, b)
                for pair in zip(_weights_of(model), layers, strict=True)
                for a, b in zip(*pair, strict=True)
            ):
                raise ModelError(f"{_KERAS} and {_WEIGHTS} in {str(root)!r} hold different weights")
        detector = AutoencoderDetector.from_fitted(
            params,
            model=model,
            layers=None if model is not None else layers,
            mean=mean,
            scale=scale,
            threshold=threshold,
            extra={
                "n_train_": int(summary["n_windows_train"]),
                "n_held_out_": int(summary["n_windows_held_out"]),
                "n_epochs_": int(summary.get("epochs_run", 0)),
                **_speed_attributes(speed_doc, mean.shape[0]),
                "calibration_warning_": (doc.get("calibration") or {}).get("warning"),
            },
        )
        if detector.n_features_in_ != config.n_features:
            raise ModelError(
                f"the model has {detector.n_features_in_} inputs but its feature config "
                f"gives {config.n_features} features"
            )
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"inconsistent model directory {str(root)!r}: {exc!r}") from None
    return TrainedModel(detector, config, threshold, policy, summary, root)


# --------------------------------------------------------------------------- helpers

_MAX_THRESHOLD = float(np.finfo(np.float32).max)


def _check_decision_values(root: Path, threshold: float, mean: Any, scale: Any) -> None:
    """Threshold and scaler of a model.json are usable (a tampered value is one ModelError)."""
    where = f"{_JSON} in {str(root)!r}"
    if not (math.isfinite(threshold) and 0 < threshold <= _MAX_THRESHOLD):
        raise ModelError(
            f"{where}: threshold must be > 0 and at most {_MAX_THRESHOLD:.4g} (float32), "
            f"got {threshold!r}"
        )
    if mean.ndim != 1 or mean.shape != scale.shape or mean.size == 0:
        raise ModelError(f"{where}: scaler mean and scale must be two lists of one length")
    if not np.all(np.isfinite(mean)):
        raise ModelError(f"{where}: scaler mean must be finite")
    if not np.all(np.isfinite(scale) & (scale > 0)):
        bad = float(scale[~(np.isfinite(scale) & (scale > 0))][0])
        raise ModelError(f"{where}: scaler scale must be finite and > 0, got {bad!r}")


def _model_json(
    detector: Any,
    config: FeatureConfig,
    summary: Mapping[str, Any],
    n_train: int,
    n_windows: int,
) -> dict[str, Any]:
    params = detector.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        raise ModelError(
            f"random_state must be an int or None to be saved, got {params['random_state']!r}"
        )
    params["hidden"] = [int(h) for h in params["hidden"]]
    training = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "tinypdm_version": tinypdm_version(),
        **dict(summary),
        "n_windows_train": n_train,
        "n_windows_held_out": n_windows - n_train,
    }
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "feature_config": config.to_dict(),
        "feature_names": config.feature_names,
        "scaler": {"mean": detector.mean_.tolist(), "scale": detector.scale_.tolist()},
        "speed": _speed_doc(detector),
        "threshold": float(detector.threshold_),
        "calibration": {
            "method": params.get("holdout", "last"),
            "held_out_windows": int(detector.n_held_out_),
            "quantile": float(params["threshold_quantile"]),
            "margin": float(params["threshold_margin"]),
            "warning": getattr(detector, "calibration_warning_", None),
        },
        "alarm_policy": detector.alarm_policy.to_dict(),
        "score": (
            "mean(max(z+ - AE(z+), 0)^2) + mean(z+^2), z+ = clip(z, 0, z_max)"
            if params.get("one_sided")
            else "mean squared reconstruction error of standardised features"
        ),
        "detector": {
            "class": type(detector).__name__,
            "params": params,
            "n_parameters": int(detector.n_parameters_),
            "layers": [
                {"units": int(kernel.shape[1]), "activation": act}
                for (kernel, _), act in zip(
                    _weights_of(detector.model_), _activations(detector.model_), strict=True
                )
            ],
        },
        "training": _json_safe(training),
    }


def _calibration(
    detector: Any, train: NDArray[np.float64], rpm: NDArray[np.float64] | None
) -> NDArray[np.float32]:
    """The network's inputs for training vectors, evenly spaced in time, at most
    CALIBRATION_MAX (int8 activation ranges are chosen on them)."""
    if train.shape[0] > CALIBRATION_MAX:
        pick = np.linspace(0, train.shape[0] - 1, CALIBRATION_MAX).round().astype(int)
        train = train[pick]
        rpm = None if rpm is None else rpm[pick]
    return np.asarray(detector.standardise(train, rpm), dtype=np.float32)


def _speed_doc(detector: Any) -> dict[str, Any] | None:
    """model.json's ``speed`` section: the envelope and the mean's line in ln(rpm)."""
    envelope = getattr(detector, "speed_envelope_", None)
    if envelope is None:
        return None
    return {
        "envelope_rpm": [float(envelope[0]), float(envelope[1])],
        "u0": float(detector.speed_u0_),
        "slope": [float(v) for v in detector.speed_slope_],
        "estimator": getattr(detector, "speed_config_", None),
    }


def _speed_attributes(doc: Any, n_features: int) -> dict[str, Any]:
    if doc is None:
        return {
            "speed_envelope_": None,
            "speed_u0_": 0.0,
            "speed_slope_": np.zeros(n_features),
            "speed_config_": None,
        }
    low, high = (float(v) for v in doc["envelope_rpm"])
    if not (0 < low < high and math.isfinite(high)):
        raise ModelError(f"model.json: bad speed envelope {doc['envelope_rpm']!r}")
    slope = np.asarray(doc["slope"], dtype=np.float64)
    if slope.shape != (n_features,) or not np.all(np.isfinite(slope)):
        raise ModelError(f"model.json: speed slope must be {n_features} finite numbers")
    return {
        "speed_envelope_": (low, high),
        "speed_u0_": float(doc["u0"]),
        "speed_slope_": slope,
        "speed_config_": doc.get("estimator", doc.get("config")),
    }


def _weights_of(model: Any) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    out = []
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            out.append((np.asarray(kernel, np.float32), np.asarray(bias, np.float32)))
    return out


def _activations(model: Any) -> list[str]:
    return [
        getattr(getattr(layer, "activation", None), "__name__", "?")
        for layer in model.layers
        if layer.weights
    ]


def _read_weights(path: Path) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    with np.load(path, allow_pickle=False) as npz:
        n = len(npz.files) // 2
        if sorted(npz.files) != sorted([f"k{i}" for i in range(n)] + [f"b{i}" for i in range(n)]):
            raise ModelError(f"{str(path)!r} does not hold k0, b0, k1, b1, ... arrays")
        return [(npz[f"k{i}"], npz[f"b{i}"]) for i in range(n)]


def _load_keras(path: Path) -> Any:
    from vibration.learning.detector import import_keras

    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise ModelError(f"cannot load {str(path)!r}: {exc}") from None


def _load_npy(path: Path, dtype: type, n_features: int) -> Any:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {str(path)!r}: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise ModelError(f"{str(path)!r} has shape {arr.shape}, expected (n, {n_features})")
    return arr.astype(dtype, copy=False)


def _fsync_dir_tree(root: Path) -> None:
    """Make the files of ``root`` and its entries durable before it is renamed into place."""
    for child in root.iterdir():
        fsync_path(child)
    fsync_path(root)


def _json_safe(obj: Any) -> Any:
    """Plain JSON types; numpy scalars and arrays converted, non-finite floats refused."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ModelError(f"training summary holds a non-finite number {obj!r}")
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise ModelError(f"training summary holds a {type(obj).__name__}, not JSON data")

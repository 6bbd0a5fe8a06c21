"""The autoencoder anomaly detector, a scikit-learn outlier detector.

A small dense autoencoder learns to reconstruct the standardised feature vectors of a
healthy machine; the anomaly score of a window is its mean squared reconstruction error
in standardised space (what the firmware sends in SCORE frames). The threshold comes from
normal windows held out of training (:func:`vibration.learning.thresholds.calibrate_threshold`).

scikit-learn conventions (as ``IsolationForest``)::

    anomaly_score(X)      >= 0, higher is worse
    score_samples(X)      = -anomaly_score(X)          (higher is more normal)
    offset_               = -threshold_
    decision_function(X)  = score_samples(X) - offset_  (< 0: outlier)
    predict(X)            = +1 normal, -1 outlier       (outlier: score > threshold)

The network has Dense layers only, ReLU inside and a linear output, so that the int8
firmware engine (FULLY_CONNECTED with NONE/RELU) runs it unchanged. TensorFlow and Keras
are imported inside the methods that need them; scoring runs in numpy from the weights.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from vibration.learning.features import SCALE_FLOOR
from vibration.learning.thresholds import AlarmPolicy, calibrate_threshold, held_out_split
from vibration.validation import is_integer

__all__ = ["AutoencoderDetector", "EpochCallback", "import_keras"]

_MAX_STEPS_PER_EPOCH = 32
"""Large training sets get larger batches so that an epoch never takes more steps."""

EpochCallback = Callable[[int, Mapping[str, float]], None]
"""``on_epoch(epoch, logs)``: called after every training epoch (epoch counts from 1)."""


class AutoencoderDetector(OutlierMixin, BaseEstimator):
    """Dense autoencoder on standardised feature vectors.

    Parameters
    ----------
    hidden : tuple of int
        Encoder widths; the decoder mirrors them (``(32, 16, 8)`` gives
        ``n -> 32 -> 16 -> 8 -> 16 -> 32 -> n``). ReLU everywhere but the linear output.
    epochs : int
        Training epochs (full passes over the training windows).
    batch_size : int
        Windows per gradient step; grown for large training sets so that an epoch takes
        at most 32 steps (training time stays bounded by ``epochs``).
    learning_rate : float
        Adam's learning rate.
    noise_std : float
        Standard deviation of Gaussian noise added to the standardised inputs during
        training only (a denoising autoencoder; 0 disables). It keeps the network from
        memorising a few hundred windows; the exported network has no noise layer.
    validation_fraction : float
        Share of the windows, the last ones in time order, held out of training to set
        the threshold.
    threshold_quantile : float
        Quantile of held-out normal scores the threshold starts from.
    threshold_margin : float
        Multiplier (>= 1) applied to that quantile.
    alarm_k, alarm_n : int
        Alarm policy: alarm while ``alarm_k`` of the last ``alarm_n`` windows are over.
    random_state : int, RandomState or None
        Seeds Keras (weights, shuffling, noise); runs are deterministic for an int.
    verbose : int
        Keras' fit verbosity.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (32, 16, 8),
        epochs: int = 150,
        batch_size: int = 32,
        learning_rate: float = 3e-3,
        noise_std: float = 0.1,
        validation_fraction: float = 0.25,
        threshold_quantile: float = 0.999,
        threshold_margin: float = 1.5,
        alarm_k: int = 3,
        alarm_n: int = 5,
        random_state: int | np.random.RandomState | None = 0,
        verbose: int = 0,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.noise_std = noise_std
        self.validation_fraction = validation_fraction
        self.threshold_quantile = threshold_quantile
        self.threshold_margin = threshold_margin
        self.alarm_k = alarm_k
        self.alarm_n = alarm_n
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(
        self, X: ArrayLike, y: object = None, *, on_epoch: EpochCallback | None = None
    ) -> AutoencoderDetector:
        """Learn standardisation, weights and threshold from normal windows.

        Parameters
        ----------
        X : array_like of shape (n_windows, n_features)
            Feature vectors of normal operation, in time order (the last
            ``validation_fraction`` of them set the threshold).
        y : ignored
        on_epoch : callable or None
            ``on_epoch(epoch, logs)`` after every epoch (progress display).

        Returns
        -------
        self : AutoencoderDetector
        """
        self._check_params()
        data = self._validate(X, reset=True)
        start = held_out_split(data.shape[0], self.validation_fraction)
        train, held = data[:start], data[start:]
        self.mean_ = train.mean(axis=0)
        self.scale_ = np.maximum(train.std(axis=0), SCALE_FLOOR)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.model_ = _build_model(data.shape[1], tuple(self.hidden), seed)
        self._train(self._standardise(train), seed, self.epochs, on_epoch)
        self._calibrate(held)
        self.n_train_ = int(train.shape[0])
        return self

    def fine_tune(
        self,
        X: ArrayLike,
        *,
        epochs: int | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> AutoencoderDetector:
        """Continue training on new normal windows, then recalibrate the threshold.

        The standardisation (``mean_``, ``scale_``) is kept: the weights were learned on
        that input scale, and the firmware's constants stay comparable. The last
        ``validation_fraction`` of ``X`` is held out to set the new threshold.

        Parameters
        ----------
        X : array_like of shape (n_windows, n_features_in_)
            New normal feature vectors, in time order.
        epochs : int or None
            Epochs of fine-tuning; None: ``self.epochs``.
        on_epoch : callable or None
            As in :meth:`fit`.

        Returns
        -------
        self : AutoencoderDetector
        """
        check_is_fitted(self)
        self._check_params()
        if self.model_ is None:
            raise ValueError("this detector was loaded without its Keras model; cannot train it")
        n_epochs = self.epochs if epochs is None else epochs
        if not is_integer(n_epochs) or n_epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1, got {n_epochs!r}")
        data = self._validate(X, reset=False)
        start = held_out_split(data.shape[0], self.validation_fraction)
        train, held = data[:start], data[start:]
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self._train(self._standardise(train), seed + 1, int(n_epochs), on_epoch)
        self._calibrate(held)
        self.n_train_ = int(train.shape[0])
        return self

    def _validate(self, X: ArrayLike, *, reset: bool = False) -> NDArray[np.float64]:
        """Checked float64 matrix; ``reset`` (fit) records ``n_features_in_``."""
        if reset:
            return np.asarray(validate_data(self, X, dtype=np.float64, ensure_min_samples=2))
        return np.asarray(validate_data(self, X, dtype=np.float64, reset=False))

    def _check_params(self) -> None:
        hidden = self.hidden
        if (
            isinstance(hidden, str | bytes)
            or not isinstance(hidden, Sequence)
            or len(hidden) < 1
            or any(not is_integer(h) or h < 1 for h in hidden)
        ):
            raise ValueError(f"hidden must be a non-empty sequence of ints >= 1, got {hidden!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.learning_rate, int | float) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not (isinstance(self.noise_std, int | float) and self.noise_std >= 0):
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std!r}")
        if not (isinstance(self.validation_fraction, float) and 0 < self.validation_fraction < 1):
            raise ValueError(
                f"validation_fraction must be a float in (0, 1), got {self.validation_fraction!r}"
            )
        if not (isinstance(self.threshold_quantile, float) and 0 < self.threshold_quantile < 1):
            raise ValueError(
                f"threshold_quantile must be a float in (0, 1), got {self.threshold_quantile!r}"
            )
        if not (isinstance(self.threshold_margin, int | float) and self.threshold_margin >= 1):
            raise ValueError(f"threshold_margin must be >= 1, got {self.threshold_margin!r}")
        AlarmPolicy(self.alarm_k, self.alarm_n)

    def _train(
        self,
        Z: NDArray[np.float64],
        seed: int,
        epochs: int,
        on_epoch: EpochCallback | None,
    ) -> None:
        keras = import_keras()
        keras.utils.set_random_seed(seed)
        model = self.model_
        trainer = model
        if self.noise_std > 0:
            trainer = keras.Sequential(
                [
                    keras.Input((Z.shape[1],)),
                    keras.layers.GaussianNoise(self.noise_std, seed=seed),
                    model,
                ]
            )
        trainer.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        callbacks = []
        if on_epoch is not None:
            callback = on_epoch
            callbacks.append(
                keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs: callback(
                        epoch + 1, {k: float(v) for k, v in (logs or {}).items()}
                    )
                )
            )
        began = time.perf_counter()
        history = trainer.fit(
            Z.astype(np.float32),
            Z.astype(np.float32),
            epochs=epochs,
            batch_size=min(
                Z.shape[0], max(self.batch_size, -(-Z.shape[0] // _MAX_STEPS_PER_EPOCH))
            ),
            shuffle=True,
            verbose=self.verbose,
            callbacks=callbacks,
        )
        self.fit_seconds_ = time.perf_counter() - began
        losses = [float(v) for v in history.history.get("loss", [])]
        self.history_ = {"loss": losses}
        self.n_epochs_ = len(losses)
        self._layers = _dense_weights(model)
        self.n_parameters_ = int(sum(w.size + b.size for w, b in self._layers))
        self.train_loss_ = float(np.mean(self._reconstruction_error(Z)))

    def _calibrate(self, held: NDArray[np.float64]) -> None:
        scores = self._reconstruction_error(self._standardise(held))
        self.held_out_scores_ = scores
        self.n_held_out_ = int(held.shape[0])
        self.threshold_ = calibrate_threshold(
            scores, self.threshold_quantile, self.threshold_margin
        )
        self.offset_ = -self.threshold_

    # ------------------------------------------------------------------ scoring
    def anomaly_score(self, X: ArrayLike) -> NDArray[np.float64]:
        """Mean squared reconstruction error in standardised space, higher is worse.

        Parameters
        ----------
        X : array_like of shape (n_windows, n_features_in_)

        Returns
        -------
        scores : ndarray of shape (n_windows,), float64
        """
        check_is_fitted(self)
        return self._reconstruction_error(self._standardise(self._validate(X)))

    def score_samples(self, X: ArrayLike) -> NDArray[np.float64]:
        """Opposite of :meth:`anomaly_score` (higher is more normal), shape (n_windows,)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """``score_samples(X) - offset_``: negative for outliers, shape (n_windows,)."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """+1 for normal windows, -1 for windows whose score exceeds ``threshold_``."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)

    def reconstruct(self, X: ArrayLike) -> NDArray[np.float64]:
        """Reconstruction of standardised features, shape (n_windows, n_features_in_)."""
        check_is_fitted(self)
        return self._forward(self._standardise(self._validate(X)))

    def standardise(self, X: ArrayLike) -> NDArray[np.float64]:
        """``(X - mean_) / scale_``, shape (n_windows, n_features_in_)."""
        check_is_fitted(self)
        return self._standardise(self._validate(X))

    @property
    def alarm_policy(self) -> AlarmPolicy:
        """The alarm policy of ``alarm_k`` and ``alarm_n``."""
        return AlarmPolicy(self.alarm_k, self.alarm_n)

    def _standardise(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((X - self.mean_) / self.scale_, dtype=np.float64)

    def _forward(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        h = Z
        last = len(self._layers) - 1
        for i, (w, b) in enumerate(self._layers):
            h = h @ w + b
            if i < last:
                h = np.maximum(h, 0.0)
        return h

    def _reconstruction_error(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.mean((Z - self._forward(Z)) ** 2, axis=1), dtype=np.float64)

    # ------------------------------------------------------------- persistence
    @classmethod
    def from_fitted(
        cls,
        params: Mapping[str, Any],
        *,
        mean: ArrayLike,
        scale: ArrayLike,
        threshold: float,
        model: Any = None,
        layers: Sequence[tuple[ArrayLike, ArrayLike]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> AutoencoderDetector:
        """Rebuild a fitted detector from saved parts (see :mod:`vibration.learning.model_dir`).

        Parameters
        ----------
        params : mapping
            Hyper-parameters, as :meth:`get_params` returned them.
        mean, scale : array_like of shape (n_features,)
            Standardisation.
        threshold : float
        model : keras.Model or None
            The trained autoencoder (needed to export or fine-tune).
        layers : sequence of (kernel, bias) or None
            Dense weights, kernel of shape (n_in, n_out), when ``model`` is None; ReLU
            between layers, linear output.
        extra : mapping or None
            Other fitted attributes to restore (``n_train_``, ``n_epochs_``, ...).
        """
        if (model is None) == (layers is None):
            raise ValueError("give exactly one of model and layers")
        detector = cls(**dict(params))
        detector._check_params()
        detector.model_ = model
        if model is not None:
            detector._layers = _dense_weights(model)
        elif layers is not None:
            detector._layers = [
                (np.asarray(k, np.float64), np.asarray(b, np.float64)) for k, b in layers
            ]
        detector.mean_ = np.asarray(mean, dtype=np.float64)
        detector.scale_ = np.asarray(scale, dtype=np.float64)
        n_features = detector.mean_.shape[0]
        shapes = [(k.shape, b.shape) for k, b in detector._layers]
        chained = all(
            k.ndim == 2 and b.shape == (k.shape[1],) for k, b in detector._layers
        ) and all(
            a[0].shape[1] == b[0].shape[0]
            for a, b in zip(detector._layers, detector._layers[1:], strict=False)
        )
        if (
            not chained
            or detector.scale_.shape != (n_features,)
            or detector._layers[0][0].shape[0] != n_features
            or detector._layers[-1][0].shape[1] != n_features
        ):
            raise ValueError(
                f"mean {detector.mean_.shape}, scale {detector.scale_.shape} and layers "
                f"{shapes} do not form an autoencoder"
            )
        detector.n_features_in_ = n_features
        detector.threshold_ = float(threshold)
        detector.offset_ = -detector.threshold_
        detector.n_parameters_ = int(sum(w.size + b.size for w, b in detector._layers))
        for name, value in (extra or {}).items():
            if not name.endswith("_") or name.startswith("_"):
                raise ValueError(f"extra attributes must be fitted names, got {name!r}")
            setattr(detector, name, value)
        return detector

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


def import_keras() -> Any:
    """Import Keras (TensorFlow backend) quietly and make its ops deterministic."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN reorders float sums ("slightly different numerical results"): off, for
    # run-to-run determinism; it buys nothing on layers this small. Also keeps stderr quiet.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    return keras


def _build_model(n_features: int, hidden: tuple[int, ...], seed: int) -> Any:
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    widths = [*hidden, *reversed(hidden[:-1])]
    layers: list[Any] = [keras.Input((n_features,), name="features")]
    for i, width in enumerate(widths):
        layers.append(keras.layers.Dense(int(width), activation="relu", name=f"dense_{i}"))
    layers.append(keras.layers.Dense(n_features, activation=None, name="reconstruction"))
    return keras.Sequential(layers, name="tinypdm_autoencoder")


def _dense_weights(model: Any) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """(kernel, bias) of each Dense layer, float64; checks the layer types and activations."""
    out = []
    dense = [layer for layer in model.layers if layer.weights]
    for i, layer in enumerate(dense):
        kind = type(layer).__name__
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        wanted = "linear" if i == len(dense) - 1 else "relu"
        if kind != "Dense" or activation != wanted:
            raise ValueError(
                f"layer {layer.name!r} is {kind}/{activation}; the autoencoder must be Dense "
                "layers with relu inside and a linear output"
            )
        kernel, bias = layer.get_weights()
        out.append((np.asarray(kernel, np.float64), np.asarray(bias, np.float64)))
    return out

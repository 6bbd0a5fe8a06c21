"""The autoencoder anomaly detector, a scikit-learn outlier detector.

A small dense autoencoder learns to reconstruct the standardised feature vectors of a
healthy machine. Standardisation may follow the shaft speed (each feature's normal mean is
a straight line in ln(speed), fitted when the healthy recordings span several speeds), and
by default it is one-sided and bounded (``z+ = clip(z, 0, z_max)``): a machine quieter or
smoother than its normal is not evidence of a fault, and one feature's excursion cannot
outweigh all others. The anomaly score of a window (what the firmware sends in SCORE
frames) is then ``mean(max(z+ - AE(z+), 0)^2) + mean(z+^2)``: the reconstruction error
catches a changed *shape* of the feature vector, the energy term a rise of all levels
together, which lies inside the subspace the network reconstructs well
(``docs/model.md``). The threshold comes from normal windows held out of training in
blocks spread over the training period (:func:`vibration.learning.thresholds.calibrate_threshold`).

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
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from vibration.learning.features import SCALE_FLOOR
from vibration.learning.thresholds import (
    AlarmPolicy,
    blocked_holdout,
    calibrate_threshold,
    held_out_split,
    min_held_out,
)
from vibration.validation import is_integer

if TYPE_CHECKING:
    from vibration.learning.speed import SpeedConfig

__all__ = ["AutoencoderDetector", "EpochCallback", "import_keras"]

_MAX_STEPS_PER_EPOCH = 32
"""Large training sets get larger batches so that an epoch never takes more steps."""

EpochCallback = Callable[[int, Mapping[str, float]], None]
"""``on_epoch(epoch, logs)``: called after every training epoch (epoch counts from 1)."""

SPEED_SPAN_FOR_SLOPE = 1.10
"""The normal mean follows speed only when the recordings' median speeds differ by more
than this ratio: within one operating point a slope would be fitted to estimator noise."""

ENVELOPE_MARGIN = 0.10
"""The operating envelope is the trained speed range widened by this fraction: an induction
motor's slip moves its speed by 2-8 % with load at a fixed supply frequency, and the
estimator's error is a few percent (``docs/model.md``)."""

LEVEL_FLOOR = 0.1
"""Smallest scale of a level feature (log10 power), in decades: 1 dB, the repeatability of a
remounted accelerometer; smaller spreads would make normal drift look like a fault."""


def speed_envelope(rpm: ArrayLike, groups: ArrayLike | None = None) -> tuple[float, float]:
    """The operating envelope of healthy windows: ``[min_r P5 * 0.9, max_r P95 * 1.1]``.

    Percentiles per recording ``r`` (``groups``), so a recording's rare estimator slips do
    not widen it; the margin is :data:`ENVELOPE_MARGIN`.

    Parameters
    ----------
    rpm : array_like of shape (n_windows,)
        Finite, positive speeds.
    groups : array_like of shape (n_windows,) or None

    Returns
    -------
    (low, high) : tuple of float, rpm
    """
    s = np.asarray(rpm, dtype=np.float64)
    g = np.zeros(s.size, dtype=np.int64) if groups is None else _group_codes(groups, s.size)
    lows = [np.percentile(s[g == k], 5) for k in np.unique(g)]
    highs = [np.percentile(s[g == k], 95) for k in np.unique(g)]
    return float(min(lows) * (1 - ENVELOPE_MARGIN)), float(max(highs) * (1 + ENVELOPE_MARGIN))


def _group_codes(groups: ArrayLike, n: int) -> NDArray[np.int64]:
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must have shape ({n},), got {g.shape!r}")
    return np.unique(g, return_inverse=True)[1].astype(np.int64)


def _speeds(speed: ArrayLike, n: int) -> NDArray[np.float64]:
    s = np.asarray(speed, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"speed must have shape ({n},), got {s.shape!r}")
    return s


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
        Share of the windows held out of training to set the threshold.
    holdout : {"blocked", "last"}
        Which windows are held out: ``"blocked"`` cuts each recording (``groups`` in
        :meth:`fit`) into 8 blocks in time order and holds out 2 of them (the third and
        the seventh for a quarter), so the threshold sees the start, middle and end of the
        training period and every recording; ``"last"`` holds out the last windows (the
        rule of models made before this option existed).
    one_sided : bool
        Standardised inputs are clipped to ``[0, z_max]`` and the score adds the energy
        term (see the module docstring); False: two-sided inputs, score = mean squared
        reconstruction error (models made before this option existed).
    z_max : float
        Upper bound of the one-sided inputs, in standard deviations.
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
        holdout: str = "blocked",
        one_sided: bool = True,
        z_max: float = 10.0,
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
        self.holdout = holdout
        self.one_sided = one_sided
        self.z_max = z_max
        self.threshold_quantile = threshold_quantile
        self.threshold_margin = threshold_margin
        self.alarm_k = alarm_k
        self.alarm_n = alarm_n
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: ArrayLike,
        y: object = None,
        *,
        speed: ArrayLike | None = None,
        groups: ArrayLike | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> AutoencoderDetector:
        """Learn standardisation, weights and threshold from normal windows.

        Parameters
        ----------
        X : array_like of shape (n_windows, n_features)
            Feature vectors of normal operation, in time order within each recording.
        y : ignored
        speed : array_like of shape (n_windows,) or None
            Shaft speed of each window in rpm, as the device estimates it (NaN: unknown).
            With speeds the model records its operating envelope and, when the
            recordings span more than 10 % in speed, conditions its standardisation on
            speed; windows of unknown speed are left out of training. None: a
            speed-unaware model (no envelope).
        groups : array_like of shape (n_windows,) or None
            Recording of each window (any labels), for the blocked hold-out and the
            per-recording speed statistics; None: one recording.
        on_epoch : callable or None
            ``on_epoch(epoch, logs)`` after every epoch (progress display).

        Returns
        -------
        self : AutoencoderDetector
        """
        self._check_params()
        data = self._validate(X, reset=True)
        n = data.shape[0]
        grp = np.zeros(n, dtype=np.int64) if groups is None else _group_codes(groups, n)
        rpm = None if speed is None else _speeds(speed, n)
        if rpm is not None:
            known = np.isfinite(rpm) & (rpm > 0)
            if np.count_nonzero(known) < max(2, n // 2):
                rpm = None  # the estimator could not follow these recordings: speed-unaware
            else:
                data, grp, rpm = data[known], grp[known], rpm[known]
        held_mask = self._held_out_mask(grp, data.shape[0])
        train, held = data[~held_mask], data[held_mask]
        self._fit_standardisation(train, grp[~held_mask], None if rpm is None else rpm[~held_mask])
        self.speed_envelope_ = None if rpm is None else speed_envelope(rpm, grp)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.model_ = _build_model(data.shape[1], tuple(self.hidden), seed)
        train_speed = None if rpm is None else rpm[~held_mask]
        self._train(self._inputs(train, train_speed), seed, self.epochs, on_epoch)
        self._calibrate(held, None if rpm is None else rpm[held_mask])
        self.n_train_ = int(train.shape[0])
        return self

    def _held_out_mask(self, groups: NDArray[np.int64], n: int) -> NDArray[np.bool_]:
        if self.holdout == "last":
            mask = np.zeros(n, dtype=np.bool_)
            mask[held_out_split(n, self.validation_fraction) :] = True
            return mask
        return blocked_holdout(groups, self.validation_fraction)

    def _fit_standardisation(
        self, train: NDArray[np.float64], groups: NDArray[np.int64], rpm: NDArray[np.float64] | None
    ) -> None:
        """Mean line in ln(speed) (or a constant) and the residual scale of each feature."""
        self.speed_u0_ = 0.0
        self.speed_slope_ = np.zeros(train.shape[1])
        if rpm is not None:
            u = np.log(rpm)
            self.speed_u0_ = float(np.mean(u))
            medians = [np.median(u[groups == g]) for g in np.unique(groups)]
            if max(medians) - min(medians) > np.log(SPEED_SPAN_FOR_SLOPE):
                design = np.c_[np.ones_like(u), u - self.speed_u0_]
                coef, *_ = np.linalg.lstsq(design, train, rcond=None)
                self.mean_ = coef[0]
                self.speed_slope_ = coef[1]
            else:
                self.mean_ = train.mean(axis=0)
        else:
            self.mean_ = train.mean(axis=0)
        residual = train - self._expected(train.shape[0], rpm)
        self.scale_ = np.maximum(residual.std(axis=0), SCALE_FLOOR)
        if self.one_sided and train.shape[1] >= 3:
            # log10 band powers and log10 m2: at least LEVEL_FLOOR decades (1 dB)
            n_levels = train.shape[1] - 2
            self.scale_[:n_levels] = np.maximum(self.scale_[:n_levels], LEVEL_FLOOR)

    def fine_tune(
        self,
        X: ArrayLike,
        *,
        speed: ArrayLike | None = None,
        groups: ArrayLike | None = None,
        epochs: int | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> AutoencoderDetector:
        """Continue training on new normal windows, then recalibrate the threshold.

        The standardisation (``mean_``, ``scale_``, the speed line) is kept: the weights
        were learned on that input scale, and the firmware's constants stay comparable.
        A ``validation_fraction`` of ``X`` is held out (as in :meth:`fit`) to set the new
        threshold.

        Parameters
        ----------
        X : array_like of shape (n_windows, n_features_in_)
            New normal feature vectors, in time order.
        speed, groups : array_like of shape (n_windows,) or None
            As in :meth:`fit`. The standardisation is kept; the operating envelope
            grows to cover the new recordings' speeds (that is how a model learns an
            operating point it reported as unknown).
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
        n = data.shape[0]
        grp = np.zeros(n, dtype=np.int64) if groups is None else _group_codes(groups, n)
        rpm = None if speed is None or not self.speed_aware else _speeds(speed, n)
        if rpm is not None:
            known = np.isfinite(rpm) & (rpm > 0)
            data, grp, rpm = data[known], grp[known], rpm[known]
        held_mask = self._held_out_mask(grp, data.shape[0])
        train, held = data[~held_mask], data[held_mask]
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        train_speed = None if rpm is None else rpm[~held_mask]
        self._train(self._inputs(train, train_speed), seed + 1, int(n_epochs), on_epoch)
        self._calibrate(held, None if rpm is None else rpm[held_mask])
        if rpm is not None and self.speed_envelope_ is not None:
            lo, hi = speed_envelope(rpm, grp)
            self.speed_envelope_ = (
                min(self.speed_envelope_[0], lo),
                max(self.speed_envelope_[1], hi),
            )
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
        if self.holdout not in ("blocked", "last"):
            raise ValueError(f"holdout must be 'blocked' or 'last', got {self.holdout!r}")
        if not isinstance(self.one_sided, bool):
            raise ValueError(f"one_sided must be a bool, got {self.one_sided!r}")
        if not (isinstance(self.z_max, int | float) and self.z_max > 0):
            raise ValueError(f"z_max must be > 0, got {self.z_max!r}")
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
        self.train_loss_ = float(np.mean(self._score(Z)))

    def _calibrate(self, held: NDArray[np.float64], rpm: NDArray[np.float64] | None) -> None:
        scores = self._score(self._inputs(held, rpm))
        self.held_out_scores_ = scores
        self.n_held_out_ = int(held.shape[0])
        self.threshold_ = calibrate_threshold(
            scores, self.threshold_quantile, self.threshold_margin
        )
        self.offset_ = -self.threshold_
        needed = min_held_out(self.threshold_quantile)
        self.calibration_warning_ = (
            f"the threshold rests on {self.n_held_out_} held-out normal windows; "
            f"{needed} are needed to support a false-alarm rate of "
            f"{1 - self.threshold_quantile:.3g} per window (the log-normal tail fit "
            "extrapolates): record more normal data"
            if self.n_held_out_ < needed
            else None
        )

    # ------------------------------------------------------------------ scoring
    def anomaly_score(self, X: ArrayLike, speed: ArrayLike | None = None) -> NDArray[np.float64]:
        """The window's anomaly score (what the firmware computes), higher is worse.

        Parameters
        ----------
        X : array_like of shape (n_windows, n_features_in_)
        speed : array_like of shape (n_windows,) or None
            Shaft speed in rpm of each window, for a speed-conditioned model (NaN or
            None: the mean at the centre of the trained speeds; such windows are of
            unknown operating point, see :meth:`unknown_operating_point`).

        Returns
        -------
        scores : ndarray of shape (n_windows,), float64
        """
        check_is_fitted(self)
        data = self._validate(X)
        return self._score(self._inputs(data, self._scoring_speed(speed, data.shape[0])))

    def predict_at(self, X: ArrayLike, speed: ArrayLike | None) -> NDArray[np.int64]:
        """:meth:`predict` with each window's speed: +1 normal, -1 outlier.

        Windows of unknown operating point are +1 (they never count as over the threshold).
        """
        data = self._validate(X)
        rpm = self._scoring_speed(speed, data.shape[0])
        over = self.anomaly_score(data, rpm) > self.threshold_
        over &= ~self.unknown_operating_point(rpm, data.shape[0])
        return np.where(over, -1, 1).astype(np.int64)

    def unknown_operating_point(self, speed: ArrayLike | None, n_windows: int) -> NDArray[np.bool_]:
        """True for windows outside the trained speed envelope (or of unknown speed).

        Always False for a speed-unaware model. Such windows are never over the
        threshold and never advance an alarm.

        Parameters
        ----------
        speed : array_like of shape (n_windows,) or None
        n_windows : int

        Returns
        -------
        unknown : ndarray of shape (n_windows,), bool
        """
        check_is_fitted(self)
        envelope = getattr(self, "speed_envelope_", None)
        if envelope is None:
            return np.zeros(n_windows, dtype=np.bool_)
        if speed is None:
            return np.ones(n_windows, dtype=np.bool_)
        rpm = _speeds(speed, n_windows)
        with np.errstate(invalid="ignore"):
            inside = (rpm >= envelope[0]) & (rpm <= envelope[1])
        return np.asarray(~inside, dtype=np.bool_)

    @property
    def speed_config(self) -> SpeedConfig | None:
        """The tachless estimator's configuration the model was trained with, or None
        (``speed_config_``, saved in model.json's ``speed.estimator``)."""
        saved = getattr(self, "speed_config_", None)
        if not saved:
            return None
        from vibration.learning.speed import SpeedConfig

        return SpeedConfig.from_dict(saved)

    @property
    def speed_aware(self) -> bool:
        """Whether the model knows its operating envelope (trained with speeds)."""
        return getattr(self, "speed_envelope_", None) is not None

    def score_samples(self, X: ArrayLike) -> NDArray[np.float64]:
        """Opposite of :meth:`anomaly_score` (higher is more normal), shape (n_windows,)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """``score_samples(X) - offset_``: negative for outliers, shape (n_windows,)."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """+1 for normal windows, -1 for windows whose score exceeds ``threshold_``."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)

    def reconstruct(self, X: ArrayLike, speed: ArrayLike | None = None) -> NDArray[np.float64]:
        """Reconstruction of the network's inputs, shape (n_windows, n_features_in_)."""
        check_is_fitted(self)
        data = self._validate(X)
        return self._forward(self._inputs(data, self._scoring_speed(speed, data.shape[0])))

    def standardise(self, X: ArrayLike, speed: ArrayLike | None = None) -> NDArray[np.float64]:
        """The network's inputs: ``z = (X - mean(speed)) / scale_``, clipped to
        ``[0, z_max]`` when ``one_sided``; shape (n_windows, n_features_in_)."""
        check_is_fitted(self)
        data = self._validate(X)
        return self._inputs(data, self._scoring_speed(speed, data.shape[0]))

    @property
    def alarm_policy(self) -> AlarmPolicy:
        """The alarm policy of ``alarm_k`` and ``alarm_n``."""
        return AlarmPolicy(self.alarm_k, self.alarm_n)

    def _expected(self, n: int, rpm: NDArray[np.float64] | None) -> NDArray[np.float64]:
        """Normal mean of every feature at each window's speed, shape (n, n_features)."""
        slope = getattr(self, "speed_slope_", None)
        if rpm is None or slope is None or not np.any(slope):
            return np.broadcast_to(self.mean_, (n, self.mean_.shape[0]))
        u = np.log(np.where(np.isfinite(rpm) & (rpm > 0), rpm, np.exp(self.speed_u0_)))
        return np.asarray(self.mean_ + np.outer(u - self.speed_u0_, slope), dtype=np.float64)

    def _inputs(
        self, X: NDArray[np.float64], rpm: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        z = (X - self._expected(X.shape[0], rpm)) / self.scale_
        if self.one_sided:
            z = np.clip(z, 0.0, self.z_max)
        return np.asarray(z, dtype=np.float64)

    def _scoring_speed(self, speed: ArrayLike | None, n: int) -> NDArray[np.float64] | None:
        return None if speed is None else _speeds(speed, n)

    def _score(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.one_sided:
            return self._reconstruction_error(Z)
        residual = np.maximum(Z - self._forward(Z), 0.0)
        return np.asarray(np.mean(residual**2, axis=1) + np.mean(Z**2, axis=1), dtype=np.float64)

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

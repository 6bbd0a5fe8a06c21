"""Classical baselines for the autoencoder, on the same features, splits and threshold rule.

Each baseline standardises the features with statistics of its training part, holds out
the last ``validation_fraction`` of the windows (time order) and sets ``threshold_`` with
:func:`vibration.learning.thresholds.calibrate_threshold` from the held-out scores, exactly as
:class:`vibration.learning.detector.AutoencoderDetector` does. Only the scoring model differs:

* ``pca``: mean squared error of the reconstruction from the principal components that
  explain 95 % of the variance (the linear autoencoder).
* ``iforest``: :class:`sklearn.ensemble.IsolationForest`; the score is the inverse
  normalised path length ``c(n) / E[h(x)]`` (about 1 for a typical window, larger when the
  window is isolated quickly). It is a monotone map of scikit-learn's ``score_samples``
  with a natural zero, so that the multiplicative margin of the threshold rule means the
  same as for reconstruction errors.
* ``gmm``: :class:`sklearn.mixture.GaussianMixture`; the score is the negative
  log-likelihood above the best one seen in training, ``max(0, max_train log p - log p(x))``.

Baselines are refitted from the feature vectors saved in the model directory; they are not
saved themselves (no pickle).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vibration.learning.features import SCALE_FLOOR
from vibration.learning.thresholds import calibrate_threshold, held_out_split

__all__ = [
    "BASELINES",
    "Baseline",
    "GaussianMixtureBaseline",
    "IsolationForestBaseline",
    "PCABaseline",
    "fit_baselines",
]


class Baseline:
    """Common part of the baselines: standardise, split, fit, calibrate.

    Parameters
    ----------
    validation_fraction, threshold_quantile, threshold_margin : float
        As in :class:`vibration.learning.detector.AutoencoderDetector`.
    random_state : int
        Seed of randomised models.

    Attributes
    ----------
    threshold_ : float
        Scores above it are outliers.
    n_train_, n_held_out_ : int
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        *,
        validation_fraction: float,
        threshold_quantile: float,
        threshold_margin: float,
        random_state: int = 0,
    ) -> None:
        self.validation_fraction = validation_fraction
        self.threshold_quantile = threshold_quantile
        self.threshold_margin = threshold_margin
        self.random_state = random_state

    def fit(self, X: ArrayLike) -> Baseline:
        """Fit on normal windows in time order; the last part sets the threshold.

        Parameters
        ----------
        X : array_like of shape (n_windows, n_features)

        Returns
        -------
        self
        """
        data = _as_matrix(X)
        start = held_out_split(data.shape[0], self.validation_fraction)
        train, held = data[:start], data[start:]
        self.mean_ = train.mean(axis=0)
        self.scale_ = np.maximum(train.std(axis=0), SCALE_FLOOR)
        self._fit(self._standardise(train))
        held_scores = self.anomaly_score(held)
        self.threshold_ = calibrate_threshold(
            held_scores, self.threshold_quantile, self.threshold_margin
        )
        self.n_train_, self.n_held_out_ = int(train.shape[0]), int(held.shape[0])
        return self

    def anomaly_score(self, X: ArrayLike) -> NDArray[np.float64]:
        """Anomaly score, higher is worse, shape (n_windows,)."""
        if not hasattr(self, "mean_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet")
        data = _as_matrix(X)
        if data.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"X has {data.shape[1]} features, the baseline was fitted on {self.mean_.shape[0]}"
            )
        return np.asarray(self._score(self._standardise(data)), dtype=np.float64)

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """+1 for normal windows, -1 where the score exceeds ``threshold_``."""
        return np.where(self.anomaly_score(X) > self.threshold_, -1, 1).astype(np.int64)

    def _standardise(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((X - self.mean_) / self.scale_, dtype=np.float64)

    def _fit(self, Z: NDArray[np.float64]) -> None:
        raise NotImplementedError

    def _score(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError


class PCABaseline(Baseline):
    """Reconstruction error from the components explaining ``variance`` of the variance."""

    name = "pca"
    variance: ClassVar[float] = 0.95

    def _fit(self, Z: NDArray[np.float64]) -> None:
        from sklearn.decomposition import PCA

        n_max = max(1, min(Z.shape[0] - 1, Z.shape[1] - 1))
        full = PCA(n_components=min(Z.shape), svd_solver="full").fit(Z)
        explained = np.cumsum(full.explained_variance_ratio_)
        k = int(np.searchsorted(explained, self.variance) + 1) if explained.size else 1
        self.n_components_ = min(max(1, k), n_max)
        self.components_ = full.components_[: self.n_components_]
        self.center_ = full.mean_

    def _score(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        centred = Z - self.center_
        recon = (centred @ self.components_.T) @ self.components_
        return np.asarray(np.mean((centred - recon) ** 2, axis=1), dtype=np.float64)


class IsolationForestBaseline(Baseline):
    """Isolation forest; score = c(n) / E[h(x)], the inverse normalised path length."""

    name = "iforest"

    def _fit(self, Z: NDArray[np.float64]) -> None:
        from sklearn.ensemble import IsolationForest

        self.forest_ = IsolationForest(n_estimators=200, random_state=self.random_state).fit(Z)

    def _score(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        # score_samples = -2 ** (-E[h] / c): E[h] / c = -log2(-score_samples).
        s = -self.forest_.score_samples(Z)
        return np.asarray(-1.0 / np.log2(np.clip(s, 1e-12, 1.0 - 1e-12)), dtype=np.float64)


class GaussianMixtureBaseline(Baseline):
    """Gaussian mixture density; score = drop of log-likelihood below the training best."""

    name = "gmm"
    n_components: ClassVar[int] = 2
    reg_covar: ClassVar[float] = 1e-2

    def _fit(self, Z: NDArray[np.float64]) -> None:
        from sklearn.mixture import GaussianMixture

        # A full covariance needs several windows per dimension and component.
        components = max(1, min(self.n_components, Z.shape[0] // (4 * Z.shape[1] + 1)))
        self.mixture_ = GaussianMixture(
            n_components=components,
            covariance_type="full",
            reg_covar=self.reg_covar,
            random_state=self.random_state,
        ).fit(Z)
        self.best_log_likelihood_ = float(np.max(self.mixture_.score_samples(Z)))

    def _score(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        drop = self.best_log_likelihood_ - self.mixture_.score_samples(Z)
        return np.asarray(np.maximum(drop, 0.0), dtype=np.float64)


BASELINES: dict[str, type[Baseline]] = {
    cls.name: cls for cls in (PCABaseline, IsolationForestBaseline, GaussianMixtureBaseline)
}
"""Baselines by name."""


def fit_baselines(X: ArrayLike, params: Mapping[str, Any]) -> dict[str, Baseline]:
    """Fit every baseline on the same normal windows with the detector's split and rule.

    Parameters
    ----------
    X : array_like of shape (n_windows, n_features)
        The normal windows the detector was fitted on, in the same (time) order.
    params : mapping
        The detector's hyper-parameters; ``validation_fraction``, ``threshold_quantile``,
        ``threshold_margin`` and ``random_state`` are used.

    Returns
    -------
    dict of str to Baseline
        Fitted baselines by name.
    """
    seed = params["random_state"]
    return {
        name: cls(
            validation_fraction=float(params["validation_fraction"]),
            threshold_quantile=float(params["threshold_quantile"]),
            threshold_margin=float(params["threshold_margin"]),
            random_state=int(seed) if isinstance(seed, int | np.integer) else 0,
        ).fit(X)
        for name, cls in BASELINES.items()
    }


def _as_matrix(X: ArrayLike) -> NDArray[np.float64]:
    data = np.asarray(X, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError(f"X must have shape (n_windows, n_features), got shape {data.shape!r}")
    if not np.all(np.isfinite(data)):
        raise ValueError("X contains NaN or infinity")
    return data

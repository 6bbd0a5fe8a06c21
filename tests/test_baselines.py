"""Baselines: same standardisation, split and threshold rule as the autoencoder."""

from __future__ import annotations

import numpy as np
import pytest

from vibration.learning.baselines import (
    BASELINES,
    GaussianMixtureBaseline,
    IsolationForestBaseline,
    PCABaseline,
    fit_baselines,
)
from vibration.learning.thresholds import calibrate_threshold, held_out_split

PARAMS = {
    "validation_fraction": 0.25,
    "threshold_quantile": 0.999,
    "threshold_margin": 1.5,
    "random_state": 0,
}


def _normal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(size=(3, 12))
    return rng.normal(size=(n, 3)) @ mixing + 0.2 * rng.normal(size=(n, 12)) - 2.0


@pytest.fixture(scope="module")
def fitted():
    X = _normal(400, seed=0)
    return fit_baselines(X, PARAMS), X


def test_baselines_registry_names():
    assert list(BASELINES) == ["pca", "iforest", "gmm"]
    assert BASELINES["pca"] is PCABaseline
    assert BASELINES["iforest"] is IsolationForestBaseline
    assert BASELINES["gmm"] is GaussianMixtureBaseline


@pytest.mark.parametrize("name", ["pca", "iforest", "gmm"])
def test_baselines_threshold_from_held_out_part(fitted, name):
    baselines, X = fitted
    baseline = baselines[name]
    start = held_out_split(len(X), PARAMS["validation_fraction"])
    assert (baseline.n_train_, baseline.n_held_out_) == (start, len(X) - start)
    np.testing.assert_allclose(baseline.mean_, X[:start].mean(axis=0))
    expected = calibrate_threshold(baseline.anomaly_score(X[start:]), 0.999, 1.5)
    assert baseline.threshold_ == pytest.approx(expected)


@pytest.mark.parametrize("name", ["pca", "gmm", "iforest"])
def test_baselines_flag_shifted_windows(fitted, name):
    baseline = fitted[0][name]
    normal = _normal(300, seed=1)
    scores = baseline.anomaly_score(normal)
    assert scores.shape == (300,) and np.all(scores >= 0)
    assert np.mean(baseline.predict(normal) == 1) >= 0.97
    shifted = normal + np.random.default_rng(2).choice([-4.0, 4.0], size=12)
    # Every baseline ranks the shifted windows above the normal ones...
    assert np.min(baseline.anomaly_score(shifted)) > np.median(scores)
    if name != "iforest":  # ...and the density/reconstruction ones cross the threshold.
        assert np.all(baseline.predict(shifted) == -1)


def test_baselines_pca_keeps_the_dominant_components(fitted):
    pca = fitted[0]["pca"]
    assert pca.n_components_ == 3  # three latent factors explain > 95 % of the variance
    assert pca.components_.shape == (3, 12)


def test_baselines_iforest_score_is_monotone_in_sklearn_score(fitted):
    forest = fitted[0]["iforest"]
    X = _normal(50, seed=3)
    ours = forest.anomaly_score(X)
    theirs = -forest.forest_.score_samples(forest._standardise(X))
    order = np.argsort(theirs)
    assert np.all(np.diff(ours[order]) >= -1e-12)


def test_baselines_are_deterministic():
    X = _normal(120, seed=4)
    a = fit_baselines(X, PARAMS)
    b = fit_baselines(X, PARAMS)
    for name in BASELINES:
        np.testing.assert_array_equal(a[name].anomaly_score(X), b[name].anomaly_score(X))


def test_baselines_reject_bad_input(fitted):
    with pytest.raises(ValueError, match="not fitted"):
        PCABaseline(**PARAMS).anomaly_score(np.zeros((2, 12)))
    with pytest.raises(ValueError, match="features"):
        fitted[0]["gmm"].anomaly_score(np.zeros((2, 11)))
    with pytest.raises(ValueError, match="NaN"):
        PCABaseline(**PARAMS).fit(np.full((10, 3), np.nan))

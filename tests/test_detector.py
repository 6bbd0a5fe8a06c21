"""AutoencoderDetector: the fit/score/predict contract on seeded synthetic features."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from vibration.learning.detector import AutoencoderDetector
from vibration.learning.thresholds import blocked_holdout, calibrate_threshold

pytestmark = pytest.mark.tensorflow

N_FEATURES = 19


def _normal(n: int, seed: int) -> np.ndarray:
    """Correlated features: 4 latent factors mixed into 19, plus small noise."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(1234).normal(size=(4, N_FEATURES))
    return rng.normal(size=(n, 4)) @ mixing + 0.1 * rng.normal(size=(n, N_FEATURES)) + 5.0


@pytest.fixture(scope="module")
def fitted() -> tuple[AutoencoderDetector, np.ndarray]:
    X = _normal(300, seed=0)
    return AutoencoderDetector(epochs=60, random_state=0).fit(X), X


def test_detector_separates_louder_windows_and_accepts_quieter_ones(fitted):
    # One-sided (the default): more energy or impulsiveness than normal is evidence of a
    # fault, less is not (a machine that settles after running-in).
    detector, X = fitted
    normal = _normal(400, seed=1)
    sigma = X.std(axis=0)
    louder = normal + 4.0 * sigma
    quieter = normal - 4.0 * sigma
    assert np.mean(detector.predict(normal) == 1) >= 0.98
    assert np.all(detector.predict(louder) == -1)
    assert np.median(detector.anomaly_score(louder)) > 2 * detector.threshold_
    assert np.all(detector.predict(quieter) == 1)


def test_detector_two_sided_separates_shifted_windows():
    detector = AutoencoderDetector(epochs=60, random_state=0, one_sided=False, holdout="last")
    detector.fit(_normal(300, seed=0))
    normal = _normal(400, seed=1)
    shifted = normal + 3.0 * np.random.default_rng(2).choice([-1.0, 1.0], size=N_FEATURES)
    assert np.mean(detector.predict(normal) == 1) >= 0.98
    assert np.all(detector.predict(shifted) == -1)
    assert np.median(detector.anomaly_score(shifted)) > 10 * detector.threshold_


def test_detector_sklearn_relations_hold(fitted):
    detector, _ = fitted
    X = np.concatenate([_normal(50, seed=3), _normal(50, seed=4) + 8.0])
    anomaly = detector.anomaly_score(X)
    assert anomaly.shape == (100,) and anomaly.dtype == np.float64
    assert np.all(anomaly >= 0)
    np.testing.assert_array_equal(detector.score_samples(X), -anomaly)
    assert detector.offset_ == -detector.threshold_
    np.testing.assert_allclose(
        detector.decision_function(X), detector.score_samples(X) - detector.offset_
    )
    predicted = detector.predict(X)
    assert predicted.dtype.kind == "i"
    np.testing.assert_array_equal(predicted, np.where(anomaly > detector.threshold_, -1, 1))
    assert set(np.unique(predicted)) == {-1, 1}


def test_detector_threshold_comes_from_held_out_windows_only(fitted):
    detector, X = fitted
    held = blocked_holdout(np.zeros(len(X)), detector.validation_fraction)
    assert (detector.n_train_, detector.n_held_out_) == (np.sum(~held), np.sum(held))
    np.testing.assert_allclose(detector.held_out_scores_, detector.anomaly_score(X[held]))
    expected = calibrate_threshold(
        detector.anomaly_score(X[held]), detector.threshold_quantile, detector.threshold_margin
    )
    assert detector.threshold_ == pytest.approx(expected)
    # Standardisation is learned on the training part only.
    np.testing.assert_allclose(detector.mean_, X[~held].mean(axis=0))
    # The held-out blocks are spread over the training period: start, middle and end.
    idx = np.flatnonzero(held)
    assert idx.min() < len(X) / 3 and idx.max() > 2 * len(X) / 3


def test_detector_score_is_one_sided_residual_plus_energy(fitted):
    detector, _ = fitted
    X = _normal(20, seed=5)
    z = np.clip((X - detector.mean_) / detector.scale_, 0.0, detector.z_max)
    residual = np.maximum(z - detector.reconstruct(X), 0.0)
    expected = np.mean(residual**2, axis=1) + np.mean(z**2, axis=1)
    np.testing.assert_allclose(detector.standardise(X), z)
    np.testing.assert_allclose(detector.anomaly_score(X), expected)
    # The Keras model computes the same reconstruction as the numpy forward pass.
    keras_out = detector.model_.predict(z.astype(np.float32), verbose=0)
    np.testing.assert_allclose(keras_out, detector.reconstruct(X), rtol=1e-4, atol=1e-4)


def test_detector_two_sided_score_is_mean_squared_error_in_standardised_space():
    detector = AutoencoderDetector(epochs=5, random_state=0, one_sided=False).fit(_normal(60, 0))
    X = _normal(20, seed=5)
    z = (X - detector.mean_) / detector.scale_
    expected = np.mean((z - detector.reconstruct(X)) ** 2, axis=1)
    np.testing.assert_allclose(detector.anomaly_score(X), expected)


def test_detector_network_fits_the_int8_engine(fitted):
    detector, _ = fitted
    dense = [layer for layer in detector.model_.layers]
    assert [type(layer).__name__ for layer in dense] == ["Dense"] * 6
    activations = [layer.activation.__name__ for layer in dense]
    assert activations == ["relu"] * 5 + ["linear"]
    assert [layer.units for layer in dense] == [32, 16, 8, 16, 32, N_FEATURES]
    assert detector.n_parameters_ == detector.model_.count_params() < 4000  # < 4 KB int8


def test_detector_fit_is_deterministic_for_a_seed():
    X = _normal(60, seed=6)
    a = AutoencoderDetector(epochs=5, random_state=3).fit(X)
    b = AutoencoderDetector(epochs=5, random_state=3).fit(X)
    c = AutoencoderDetector(epochs=5, random_state=4).fit(X)
    np.testing.assert_array_equal(a.anomaly_score(X), b.anomaly_score(X))
    assert a.threshold_ == b.threshold_
    assert not np.array_equal(a.anomaly_score(X), c.anomaly_score(X))


def test_detector_reports_each_epoch():
    seen = []
    detector = AutoencoderDetector(epochs=4).fit(
        _normal(40, seed=7), on_epoch=lambda epoch, logs: seen.append((epoch, logs["loss"]))
    )
    assert [e for e, _ in seen] == [1, 2, 3, 4]
    assert [loss for _, loss in seen] == detector.history_["loss"]
    assert detector.n_epochs_ == 4


def test_detector_fine_tune_keeps_scaler_and_recalibrates(fitted):
    detector, X = fitted
    from sklearn.base import clone

    tuned = clone(detector).fit(X)
    mean, scale, before = tuned.mean_.copy(), tuned.scale_.copy(), tuned.threshold_
    louder = _normal(120, seed=8) * 1.3
    tuned.fine_tune(louder, epochs=20)
    np.testing.assert_array_equal(tuned.mean_, mean)
    np.testing.assert_array_equal(tuned.scale_, scale)
    held = blocked_holdout(np.zeros(120), tuned.validation_fraction)
    np.testing.assert_allclose(tuned.held_out_scores_, tuned.anomaly_score(louder[held]))
    assert tuned.threshold_ != before
    assert tuned.n_train_ == np.sum(~held)
    assert np.mean(tuned.predict(_normal(200, seed=9) * 1.3) == 1) >= 0.95


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"hidden": ()}, "hidden"),
        ({"hidden": (8, 0)}, "hidden"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"threshold_quantile": 1.0}, "threshold_quantile"),
        ({"threshold_margin": 0.5}, "threshold_margin"),
        ({"alarm_k": 6, "alarm_n": 5}, "AlarmPolicy.k"),
    ],
)
def test_detector_fit_rejects_bad_hyper_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        AutoencoderDetector(**params).fit(_normal(10, seed=0))


def test_detector_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="1 sample"):
        AutoencoderDetector(epochs=1).fit(_normal(1, seed=0))
    bad = _normal(10, seed=0)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AutoencoderDetector(epochs=1).fit(bad)


def test_detector_unfitted_and_wrong_width_raise(fitted):
    with pytest.raises(NotFittedError):
        AutoencoderDetector().predict(_normal(3, seed=0))
    detector, _ = fitted
    with pytest.raises(ValueError, match="features"):
        detector.anomaly_score(np.zeros((3, N_FEATURES - 1)))


def _at_speed(n: int, rpm: float, seed: int) -> np.ndarray:
    """Features whose normal level rises with speed: +10 decades per decade of rpm (levels
    in log10 power rise about as speed^k; here k is large so that 800 and 1400 rpm differ by
    several standard deviations)."""
    return 0.25 * _normal(n, seed) + 10.0 * np.log10(rpm / 1000.0)


def test_detector_speed_conditioned_normal_interpolates_between_trained_speeds():
    X = np.concatenate([_at_speed(200, 800.0, 0), _at_speed(200, 1400.0, 1)])
    rpm = np.r_[np.full(200, 800.0), np.full(200, 1400.0)]
    groups = np.r_[np.zeros(200), np.ones(200)]
    detector = AutoencoderDetector(epochs=40, random_state=0)
    detector.fit(X, speed=rpm, groups=groups)
    assert np.any(detector.speed_slope_ != 0)
    between = _at_speed(300, 1100.0, 2)
    assert np.mean(detector.predict_at(between, np.full(300, 1100.0)) == 1) >= 0.99
    # Without the speed, the same windows look like a louder machine to a 800-rpm normal.
    plain = AutoencoderDetector(epochs=40, random_state=0).fit(_at_speed(200, 800.0, 0))
    assert np.mean(plain.predict(_at_speed(300, 1400.0, 2)) == -1) >= 0.9


def test_detector_envelope_marks_unknown_operating_points():
    X = _at_speed(200, 1000.0, 0)
    detector = AutoencoderDetector(epochs=5, random_state=0)
    detector.fit(X, speed=np.full(200, 1000.0))
    low, high = detector.speed_envelope_
    assert low == pytest.approx(900.0) and high == pytest.approx(1100.0)
    rpm = np.array([1000.0, 850.0, 1150.0, np.nan, 1099.0])
    np.testing.assert_array_equal(
        detector.unknown_operating_point(rpm, 5), [False, True, True, True, False]
    )
    assert not detector.unknown_operating_point(None, 3).any() or detector.speed_aware


def test_detector_without_speeds_is_speed_unaware():
    detector = AutoencoderDetector(epochs=5, random_state=0).fit(_normal(60, 0))
    assert not detector.speed_aware
    assert not detector.unknown_operating_point(np.full(4, 5000.0), 4).any()


def test_detector_warns_when_held_out_windows_are_too_few(fitted):
    detector, _ = fitted
    assert detector.n_held_out_ < 3000
    assert "3000" in detector.calibration_warning_

"""scikit-learn's estimator checks on AutoencoderDetector (tiny network, two epochs)."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from vibration.learning.detector import AutoencoderDetector

# The threshold is a high quantile of held-out *normal* scores times a margin >= 1, so
# that the training data raise (almost) no outliers: these checks demand that fitting on
# blobs and predicting the same blobs yields both -1 and +1.
_EXPECTED_FAILURES = {
    "check_outliers_fit_predict": "conservative threshold: no outlier in the training data",
    "check_outliers_train": "conservative threshold: no outlier in the training data",
}


@pytest.mark.slow
@pytest.mark.tensorflow
@parametrize_with_checks(
    [AutoencoderDetector(hidden=(4,), epochs=2, batch_size=16)],
    expected_failed_checks=lambda estimator: _EXPECTED_FAILURES,
)
def test_detector_passes_sklearn_estimator_checks(estimator, check):
    check(estimator)

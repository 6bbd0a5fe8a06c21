"""Per-tensor activation ranges: the rewrite is TFLite's own calibration, the search works."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.quantize import quantize_keras
from firmware_export.exporter.ranges import activation_ranges, search_ranges, set_activation_ranges
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import dense_autoencoder, tflm_invoke
from firmware_export.runtime.host_build import HostLibrary, build_host_library
from firmware_export.runtime.tflite_model import read_tflite
from tests.support import require_tool
from vibration.learning.features import FeatureConfig

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def model():
    return dense_autoencoder(19, (12, 6), seed=7)


def _chain(keras_model):
    return [
        (np.asarray(k, np.float64), np.asarray(b, np.float64))
        for k, b in (layer.get_weights() for layer in keras_model.layers if layer.weights)
    ]


def test_export_ranges_rewrite_reproduces_tflite_calibration(model):
    """Same ranges, same quantisation (TFLite takes min/max in float32: scales agree to 1e-6)."""
    rep = np.random.default_rng(0).normal(0, 1, (300, 19)).astype(np.float32)
    blob = quantize_keras(model, rep)
    chain = _chain(model)
    acts = [layer.activation for layer in read_tflite(blob).layers]
    rewritten = read_tflite(
        set_activation_ranges(blob, [b for _, b in chain], activation_ranges(chain, acts, rep))
    )
    original = read_tflite(blob)
    for a, b in zip(original.layers, rewritten.layers, strict=True):
        assert b.input_scale == pytest.approx(a.input_scale, rel=1e-6)
        assert a.input_zero_point == b.input_zero_point
        assert b.output_scale == pytest.approx(a.output_scale, rel=1e-6)
        assert a.output_zero_point == b.output_zero_point
        np.testing.assert_array_equal(a.weights, b.weights)
        assert np.max(np.abs(a.bias.astype(np.int64) - b.bias)) <= 1


def test_export_ranges_rewritten_model_is_bit_exact_in_tflm_and_c(model, tmp_path):
    require_tool("gcc", "gcc")
    rng = np.random.default_rng(1)
    cal = rng.normal(0, 1, (300, 19))
    blob = quantize_keras(model, (cal * 8).astype(np.float32))
    chain = _chain(model)
    acts = [layer.activation for layer in read_tflite(blob).layers]
    narrow = activation_ranges(chain, acts, cal)
    wide = activation_ranges(chain, acts, cal * 8)
    mixed = [wide[0], narrow[1], wide[2], narrow[3], narrow[4]]
    new = set_activation_ranges(blob, [b for _, b in chain], mixed)
    int8 = read_tflite(new)
    assert int8.layers[0].input_scale == pytest.approx((wide[0][1] - wide[0][0]) / 255, rel=1e-6)
    spec = FirmwareSpec(
        model=int8,
        feature_config=FeatureConfig(),
        feature_mean=np.zeros(19),
        feature_scale=np.ones(19),
        threshold=1.0,
    )
    write_c_sources(tmp_path / "src", spec)
    host = HostLibrary(build_host_library(tmp_path / "src", tmp_path / "build"))
    x = rng.integers(-128, 128, (3000, 19)).astype(np.int8)
    expected = tflm_invoke(new, x)
    np.testing.assert_array_equal(host.invoke(x), expected)
    np.testing.assert_array_equal(int8.invoke(x), expected)


def test_export_ranges_search_meets_rung_two_on_normal_and_faulty_windows(model):
    rng = np.random.default_rng(2)
    chain = _chain(model)

    def float_scores(z):
        h = z
        for i, (k, b) in enumerate(chain):
            h = h @ k + b
            if i < len(chain) - 1:
                h = np.maximum(h, 0)
        return np.mean((z - h) ** 2, axis=1)

    cal = rng.normal(0, 1, (400, 19))
    normal = rng.normal(0, 1, (300, 19))
    faults = rng.normal(0, 1, (300, 19)) * rng.uniform(2, 25, (300, 1))
    z = np.concatenate([normal, faults])
    mean, scale = np.full(19, -2.0), np.full(19, 0.5)
    features = z * scale + mean
    fs = float_scores(z)
    threshold = float(np.quantile(fs[:300], 0.99))
    choice = search_ranges(
        model,
        cal.astype(np.float32),
        features,
        n_normal=300,
        float_scores=fs,
        mean=mean,
        scale=scale,
        threshold=threshold,
    )
    assert len(choice.factors) == 5
    assert choice.spearman_all >= 0.99 and choice.agreement >= 0.995
    assert choice.evaluated > 10
    # The figures are those of the model returned.
    from scipy.stats import spearmanr

    from firmware_export.runtime.scorer import reference_scores

    int8 = read_tflite(choice.tflite)
    qs, _, _ = reference_scores(
        features,
        mean=mean,
        scale=scale,
        tflite=choice.tflite,
        input_scale=int8.input_scale,
        input_zero_point=int8.input_zero_point,
        output_scale=int8.output_scale,
        output_zero_point=int8.output_zero_point,
    )
    assert spearmanr(fs, qs).statistic == pytest.approx(choice.spearman_all, abs=1e-12)
    assert spearmanr(fs[:300], qs[:300]).statistic == pytest.approx(
        choice.spearman_normal, abs=1e-12
    )


def test_export_ranges_rejects_bad_arguments(model):
    blob = quantize_keras(model, np.zeros((4, 19), np.float32) + 0.1)
    with pytest.raises(ValueError, match="need 5 ranges and 4 biases"):
        set_activation_ranges(blob, [None] * 4, [(0.0, 1.0)] * 3)
    with pytest.raises(ValueError, match="factors must be finite values >= 1"):
        search_ranges(
            model,
            np.zeros((2, 19)),
            np.zeros((2, 19)),
            n_normal=2,
            float_scores=np.zeros(2),
            mean=np.zeros(19),
            scale=np.ones(19),
            threshold=1.0,
            factors=(0.5,),
        )

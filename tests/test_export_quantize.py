"""Keras -> int8 / float .tflite (TensorFlow's converter), and parity rung 1."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_export.errors import ExportError
from firmware_export.exporter.quantize import QuantConfig, convert_float, quantize_keras
from firmware_export.exporter.testing import dense_autoencoder, tflm_invoke
from firmware_export.runtime.tflite_model import read_tflite

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def model():
    return dense_autoencoder(19, (12, 6), seed=3)


@pytest.fixture(scope="module")
def representative():
    return np.random.default_rng(3).normal(0, 1, (300, 19)).astype(np.float32)


def test_export_quantize_keras_gives_full_integer_dense_model(model, representative):
    blob = quantize_keras(model, representative)
    int8 = read_tflite(blob, "q.tflite")
    assert int8.ops == ("FULLY_CONNECTED",)
    assert [layer.activation for layer in int8.layers] == ["relu", "relu", "relu", "none"]
    assert all(layer.per_channel for layer in int8.layers)
    assert not any(
        layer.per_channel
        for layer in read_tflite(
            quantize_keras(model, representative, QuantConfig(per_channel=False))
        ).layers
    )


def test_export_quantize_int8_tracks_float_model(model, representative):
    """Dequantised int8 outputs stay within a few output steps of Keras' float outputs."""
    blob = quantize_keras(model, representative)
    int8 = read_tflite(blob)
    x = representative[:200]
    q = np.clip(np.round(x / int8.input_scale) + int8.input_zero_point, -128, 127).astype(np.int8)
    y = (tflm_invoke(blob, q).astype(np.float64) - int8.output_zero_point) * int8.output_scale
    expected = np.asarray(model(x, training=False))
    assert np.max(np.abs(y - expected)) < 12 * int8.output_scale


@pytest.mark.slow
def test_export_quantize_float_tflite_matches_keras(model, representative):
    """Rung 1: Keras float vs TFLite float, allclose."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=convert_float(model))
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    i_out = interp.get_output_details()[0]["index"]
    got = []
    for row in representative[:100]:
        interp.set_tensor(i_in, row[None, :])
        interp.invoke()
        got.append(interp.get_tensor(i_out)[0].copy())
    np.testing.assert_allclose(
        np.array(got), np.asarray(model(representative[:100], training=False)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.slow
def test_export_quantize_tanh_model_is_refused_naming_the_op(representative):
    blob = quantize_keras(dense_autoencoder(19, (8,), seed=1, activation="tanh"), representative)
    with pytest.raises(ExportError, match="unsupported op TANH"):
        read_tflite(blob, "tanh.tflite")


class _FakeModel:
    input_shape = (None, 19)


@pytest.mark.parametrize(
    "rep",
    [
        np.zeros((10, 5), np.float32),
        np.zeros(19, np.float32),
        np.zeros((0, 19), np.float32),
        np.full((3, 19), np.nan, np.float32),
    ],
    ids=["width", "1d", "empty", "nan"],
)
def test_export_quantize_rejects_bad_representative_data(rep):
    with pytest.raises(ValueError, match="representative"):
        quantize_keras(_FakeModel(), rep)


def test_export_quantize_config_validates():
    with pytest.raises(ValueError, match="got 0"):
        QuantConfig(max_representative=0)

"""Helpers for tests, benchmarks and golden files: small seeded models, signals, TFLM runs.

Nothing here runs at import; TensorFlow is imported only by :func:`dense_autoencoder`.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from firmware_export.exporter.signals import synthetic_windows
from firmware_export.runtime.interpreters import litert_invoke, tflm_invoke

__all__ = [
    "dense_autoencoder",
    "litert_invoke",
    "random_int8_model",
    "synthetic_windows",
    "tflm_invoke",
    "write_golden_dense",
]


def dense_autoencoder(
    n_features: int = 19,
    hidden: tuple[int, ...] = (12, 6),
    *,
    seed: int = 0,
    activation: str = "relu",
) -> Any:
    """An untrained Keras autoencoder with random (non-zero) biases, seeded.

    ``n -> hidden... -> mirrored hidden -> n``; ``activation`` inside, linear output.
    """
    from vibration.learning.detector import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    widths = [*hidden, *reversed(hidden[:-1])]
    init = keras.initializers.RandomNormal(stddev=0.3, seed=seed)
    layers: list[Any] = [keras.Input((n_features,))]
    for i, w in enumerate(widths):
        layers.append(
            keras.layers.Dense(w, activation=activation, bias_initializer=init, name=f"d{i}")
        )
    layers.append(keras.layers.Dense(n_features, bias_initializer=init, name="out"))
    return keras.Sequential(layers)


def write_golden_dense(directory: Path, *, n_vectors: int = 64, seed: int = 0) -> list[Path]:
    """Write ``golden_dense_{pc,pt}.tflite`` and ``golden_dense_vectors.json``.

    Two int8 models of a 19 -> 12 -> 6 -> 12 -> 19 dense autoencoder (per-channel and
    per-tensor weights) and, for each, int8 inputs (random plus the extremes) with the
    outputs of the ``tflite-micro`` interpreter. Tests use them without TensorFlow.
    """
    from firmware_export.exporter.quantize import QuantConfig, quantize_keras

    directory = Path(directory)
    rng = np.random.default_rng(seed)
    model = dense_autoencoder(19, (12, 6), seed=seed)
    rep = rng.normal(0.0, 1.0, (400, 19)).astype(np.float32)
    q_in = rng.integers(-128, 128, (n_vectors, 19)).astype(np.int8)
    q_in[0], q_in[1] = -128, 127
    doc: dict[str, Any] = {
        "generator": "firmware_export.exporter.testing.write_golden_dense",
        "models": {},
    }
    written = []
    for tag, per_channel in (("pc", True), ("pt", False)):
        blob = quantize_keras(model, rep, QuantConfig(per_channel=per_channel))
        path = directory / f"golden_dense_{tag}.tflite"
        path.write_bytes(blob)
        written.append(path)
        doc["models"][path.name] = {
            "q_in": q_in.tolist(),
            "tflm_out": tflm_invoke(blob, q_in).tolist(),
        }
    vec = directory / "golden_dense_vectors.json"
    vec.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    written.append(vec)
    return written


def random_int8_model(
    n_features: int = 19, hidden: tuple[int, ...] = (8,), *, seed: int = 0
) -> Any:
    """An :class:`~firmware_export.runtime.tflite_model.Int8Model` with random int8 weights, no TF.

    For tests of the parts that need a model of the right width but not a trained one
    (features, pipeline, frames). Its ``sha256`` is that of its weights.
    """
    import hashlib

    from firmware_export.runtime.tflite_model import DenseLayer, Int8Model

    rng = np.random.default_rng(seed)
    widths = [n_features, *hidden, n_features]
    layers = []
    scale_in, zp_in = 0.05, 0
    digest = hashlib.sha256()
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        last = i == len(widths) - 2
        w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
        b = rng.integers(-2000, 2000, n_out).astype(np.int32)
        scale_out, zp_out = (0.05, 0) if last else (0.1, -128)
        layers.append(
            DenseLayer(
                name=f"layer{i}",
                weights=w,
                bias=b,
                input_scale=scale_in,
                input_zero_point=zp_in,
                weight_scales=rng.uniform(0.002, 0.01, n_out).astype(np.float32),
                weight_zero_point=0,
                output_scale=scale_out,
                output_zero_point=zp_out,
                activation="none" if last else "relu",
            )
        )
        digest.update(w.tobytes() + b.tobytes())
        scale_in, zp_in = scale_out, zp_out
    return Int8Model(
        layers=tuple(layers), sha256=digest.hexdigest(), ops=("FULLY_CONNECTED",), size_bytes=0
    )

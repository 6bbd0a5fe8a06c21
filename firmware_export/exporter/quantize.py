"""Keras -> ``.tflite``: full-integer int8 (the firmware's model) and float (parity rung 1).

TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from firmware_export.errors import ExportError

__all__ = ["QuantConfig", "convert_float", "quantize_keras"]


@dataclass(frozen=True)
class QuantConfig:
    """How the converter quantises.

    Parameters
    ----------
    per_channel : bool
        One weight scale per output unit of a Dense layer (TFLite's default) instead of one
        per layer. Both run bit-exactly on the C engine; per channel loses less.
    max_representative : int
        At most this many representative rows calibrate the activation ranges (a seeded
        random subset when there are more).
    seed : int
        Seed of that subset.
    """

    per_channel: bool = True
    max_representative: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_representative < 1:
            raise ValueError(f"max_representative must be >= 1, got {self.max_representative!r}")


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _check_model(model: Any) -> tuple[int, ...]:
    shape = getattr(model, "input_shape", None)
    if not isinstance(shape, tuple) or len(shape) != 2 or shape[1] is None:
        raise ValueError(f"model must take inputs of shape (batch, d), got input_shape {shape!r}")
    return shape


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converter: Python prints, warnings and the C++ logs on fds 1 and 2."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with (
                contextlib.redirect_stdout(io.StringIO()),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _convert(converter: Any) -> bytes:
    try:
        with _quiet():
            return bytes(converter.convert())
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"TFLite conversion failed: {first}") from exc


def convert_float(model: Any) -> bytes:
    """Convert a Keras model to a float32 ``.tflite`` (no quantisation).

    Parameters
    ----------
    model : keras.Model
        Takes inputs of shape (batch, d).

    Returns
    -------
    bytes
        The flatbuffer.
    """
    _check_model(model)
    tf = _tf()
    return _convert(tf.lite.TFLiteConverter.from_keras_model(model))


def quantize_keras(
    model: Any, representative: ArrayLike, config: QuantConfig | None = None
) -> bytes:
    """Full-integer int8 quantisation (int8 input and output, ``TFLITE_BUILTINS_INT8``).

    Parameters
    ----------
    model : keras.Model
        Dense layers with relu or linear activations; inputs of shape (batch, d).
    representative : array_like of shape (n, d), float32
        Model inputs that span the ranges met in service (normal and faulty windows):
        they fix every activation's scale and zero point.
    config : QuantConfig, optional

    Returns
    -------
    bytes
        The int8 flatbuffer.
    """
    cfg = config or QuantConfig()
    shape = _check_model(model)
    rep = np.asarray(representative, dtype=np.float32)
    if rep.ndim != 2 or rep.shape[1] != shape[1] or rep.shape[0] < 1:
        raise ValueError(
            f"representative must have shape (n >= 1, {shape[1]}), got shape {rep.shape!r}"
        )
    if not np.all(np.isfinite(rep)):
        raise ValueError("representative holds non-finite values")
    if rep.shape[0] > cfg.max_representative:
        rng = np.random.default_rng(cfg.seed)
        rep = rep[np.sort(rng.choice(rep.shape[0], cfg.max_representative, replace=False))]

    def dataset() -> Iterator[list[np.ndarray]]:
        for row in rep:
            yield [row[None, :]]

    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if not cfg.per_channel:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return _convert(converter)

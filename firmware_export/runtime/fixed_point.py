"""TFLM's int8 fixed-point arithmetic, in Python: the numbers the C engine is built from.

``quantize_multiplier`` and ``activation_range`` are what TFLM computes at Prepare
(``QuantizeMultiplier`` in double precision, ``CalculateActivationRangeQuantized``);
the exporter writes their results into the generated header, so the C code never does
floating-point requantisation. ``dense_int8`` is a vectorised numpy copy of the
reference ``FullyConnected`` kernels with the default double rounding
(``SaturatingRoundingDoublingHighMul`` then ``RoundingDivideByPOT``), used to cross-check
the C engine and the TFLM interpreter.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ACTIVATIONS",
    "activation_range",
    "dense_int8",
    "mul_by_quantized_multiplier",
    "quantize_multiplier",
    "round_half_away",
]

#: Fused activations the engine supports (TFLite ``ActivationFunctionType`` names).
ACTIVATIONS = ("none", "relu", "relu_n1_to_1", "relu6")

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def round_half_away(value: float) -> int:
    """``std::round``: to the nearest integer, halves away from zero."""
    if not math.isfinite(value):
        raise ValueError(f"cannot round a non-finite value, got {value!r}")
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def quantize_multiplier(
    real_multiplier: float, *, single_rounding: bool = False
) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real = multiplier * 2^(shift - 31)``.

    Parameters
    ----------
    real_multiplier : float
        ``input_scale * weight_scale / output_scale`` (>= 0), in double precision.
    single_rounding : bool
        Apply the ``TFLITE_SINGLE_ROUNDING`` saturation of shifts above 30.

    Returns
    -------
    multiplier, shift : int, int
        ``multiplier`` in [2^30, 2^31) (Q0.31) or 0; ``shift`` > 0 means a left shift.
    """
    real = float(real_multiplier)
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"real_multiplier must be finite and >= 0, got {real_multiplier!r}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * float(1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single_rounding and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for an int8 output.

    Parameters
    ----------
    activation : {"none", "relu", "relu_n1_to_1", "relu6"}
    scale : float
        Output scale (float32, as stored in the model).
    zero_point : int
        Output zero point.

    Returns
    -------
    act_min, act_max : int, int
        The clamp, within [-128, 127].
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    s = np.float32(scale)
    if not (np.isfinite(s) and s > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")

    def quantize(f: float) -> int:
        # TfLiteRound(f / scale) in float32, then + zero_point.
        with np.errstate(over="ignore"):
            return int(zero_point) + round_half_away(float(np.float32(f) / s))

    lo, hi = -128, 127
    if activation == "relu":
        return max(lo, quantize(0.0)), hi
    if activation == "relu6":
        return max(lo, quantize(0.0)), min(hi, quantize(6.0))
    if activation == "relu_n1_to_1":
        return max(lo, quantize(-1.0)), min(hi, quantize(1.0))
    return lo, hi


def mul_by_quantized_multiplier(
    x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike
) -> NDArray[np.int64]:
    """TFLM ``MultiplyByQuantizedMultiplier`` (double rounding), elementwise.

    Parameters
    ----------
    x : array_like of int32 values
    multiplier, shift : array_like broadcastable to ``x``

    Returns
    -------
    ndarray of int64 holding int32 values
    """
    xv = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    # x * 2^left wraps in int32 like the C++ product.
    a = ((xv << left) + 2**31) % 2**32 - 2**31
    ab = a * m  # |a*m| < 2^62: exact in int64
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))  # truncating division
    high = np.where((a == _INT32_MIN) & (m == _INT32_MIN), _INT32_MAX, high)
    mask = (np.int64(1) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + (remainder > threshold)


def dense_int8(
    x: ArrayLike,
    weights: ArrayLike,
    bias: ArrayLike | None,
    *,
    input_zero_point: int,
    weights_zero_point: int,
    output_zero_point: int,
    multiplier: ArrayLike,
    shift: ArrayLike,
    act_min: int,
    act_max: int,
) -> NDArray[np.int8]:
    """TFLM reference int8 FULLY_CONNECTED on a batch.

    Parameters
    ----------
    x : array_like of shape (n, n_in), int8
    weights : array_like of shape (n_out, n_in), int8
    bias : array_like of shape (n_out,), int32, or None
    multiplier, shift : array_like of shape (1,) (per tensor) or (n_out,) (per channel)

    Returns
    -------
    ndarray of shape (n, n_out), int8
    """
    xi = np.asarray(x, dtype=np.int64)
    w = np.asarray(weights, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    s = np.asarray(shift, dtype=np.int64).reshape(-1)
    w_off = -int(weights_zero_point) if m.size == 1 else 0  # per channel: symmetric weights
    acc = (xi - int(input_zero_point)) @ (w + w_off).T
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    acc = ((acc + 2**31) % 2**32) - 2**31  # int32 accumulator
    out = mul_by_quantized_multiplier(acc, m, s) + int(output_zero_point)
    return np.clip(out, act_min, act_max).astype(np.int8)

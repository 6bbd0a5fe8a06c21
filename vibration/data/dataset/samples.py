"""Samples as the format stores them: int16 arrays of shape (n, axes) and
:func:`quantize` to make them from physical values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vibration.errors import DatasetError

__all__ = ["quantize", "quantize_with", "scale_for_peak"]


def _as_frames(samples: Any, axes: int) -> np.ndarray:
    """Validate int16 samples of shape (n, axes) (or (n,) for one axis); C-contiguous."""
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        raise DatasetError(f"samples must be int16, got dtype {arr.dtype}")
    if arr.ndim == 1 and axes == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != axes:
        raise DatasetError(f"samples must have shape (n, {axes}), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype="<i2")


def quantize(x: np.ndarray, headroom: float = 32767 / 30000) -> tuple[np.ndarray, float]:
    """Quantise physical samples to int16 with one scale for the whole array.

    Parameters
    ----------
    x : ndarray of float, any shape
    headroom : float
        Full scale / peak, >= 1: the largest ``|x|`` maps to ``32767 / headroom`` codes
        (about 30000 by default).

    Returns
    -------
    q : ndarray of int16, same shape as x
    scale : float
        Physical units per LSB (a float32-representable value > 0); ``x ≈ scale * q``.
        An all-zero input gets scale 1.0.

    Raises
    ------
    DatasetError
        ``x`` holds NaN or Inf.
    """
    if not isinstance(headroom, int | float) or not math.isfinite(headroom) or headroom < 1:
        raise ValueError(f"headroom must be a finite number >= 1, got {headroom!r}")
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise DatasetError("samples contain NaN or Inf")
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    scale = scale_for_peak(peak, headroom)
    return quantize_with(arr, scale), scale


def scale_for_peak(peak: float, headroom: float = 32767 / 30000) -> float:
    """The scale :func:`quantize` picks for a signal whose largest ``|x|`` is ``peak``
    (1.0 for a zero peak); lets a caller quantise a stream block by block."""
    if peak == 0.0:
        return 1.0
    scale = float(np.float32(peak * headroom / 32767))
    if scale <= 0.0:  # subnormal peak flushed to zero in float32
        raise DatasetError(f"signal too small to quantise (peak {peak!r})")
    return scale


def quantize_with(x: np.ndarray, scale: float) -> np.ndarray:
    """``x`` (finite floats) as int16 codes of ``scale`` units, clipped to the int16 range."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / scale), -32768, 32767).astype(np.int16)

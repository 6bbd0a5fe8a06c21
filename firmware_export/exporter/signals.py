"""Deterministic test signals: the synthetic parity stream and the golden windows."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vibration.learning.features import FeatureConfig

__all__ = ["synthetic_windows"]


def synthetic_windows(
    config: FeatureConfig, n: int = 4, *, seed: int = 0, amplitude: float = 2000.0
) -> NDArray[np.int16]:
    """Deterministic int16 windows with different characters, shape (n, window).

    Cycles through: Gaussian noise, noise plus a tone, noise plus periodic impacts (a
    bearing-fault-like signal), a constant (silent sensor).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(config.window) / config.sample_rate
    out = np.empty((n, config.window), dtype=np.int16)
    for i in range(n):
        kind = i % 4
        x = rng.normal(0.0, amplitude / 4, config.window)
        if kind == 1:
            x += amplitude * np.sin(
                2 * np.pi * (0.05 + 0.1 * rng.random()) * config.sample_rate * t
            )
        elif kind == 2:
            period = max(8, config.window // 9)
            x[::period] += amplitude * 6
        elif kind == 3:
            x = np.full(config.window, rng.integers(-100, 100), dtype=np.float64)
        out[i] = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return out

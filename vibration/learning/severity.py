"""Vibration severity: ISO 10816-3 / ISO 20816-3 velocity RMS and zones (float64 reference).

The firmware computes the same velocity from the spectrum it already has for the
features (``tinypdm_features.c``, ``docs/features.md``). Per window of ``N`` samples in
sensor units (mean removed, periodic Hann window ``w``, ``Y = rfft(d w)``)::

    v_rms^2 = 2 / (N sum w^2) * sum_{k = k_lo..k_hi} |Y[k]|^2 / (2 pi f_k)^2,  f_k = k fs / N

(acceleration integrated in the frequency domain, ``V(f) = A(f) / (2 pi f)``, with the
Hann power normalisation of the band energies; ``Y[1]`` taken as ``Y[1] + Y[0] / 2``, the
spectrum with the Hann-weighted mean removed), over the bins of 10 Hz - 1 kHz:
``k_lo = max(1, ceil(10 N / fs))``, ``k_hi = min(N/2 - 1, floor(1000 N / fs))``. Times the
sensor's units in m/s² (:func:`units_to_ms2`) and 1000: mm/s.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vibration.learning.features import FeatureConfig, hann_periodic

__all__ = [
    "FOUNDATIONS",
    "ISO_10816_3_LIMITS",
    "ISO_BAND_HZ",
    "STANDARD_GRAVITY",
    "iso_zone",
    "units_to_ms2",
    "velocity_bins",
    "velocity_rms",
]

#: m/s² per g (ISO 80000-3).
STANDARD_GRAVITY = 9.80665
#: The frequency range of the broadband velocity (ISO 10816-3, machines above 600 r/min).
ISO_BAND_HZ = (10.0, 1000.0)
FOUNDATIONS = ("rigid", "flexible")
#: Zone boundaries A/B, B/C, C/D in mm/s RMS, ISO 10816-3:2009 Table A.1 / A.2, by
#: (machine group, foundation). Group 1: large machines, 300 kW - 50 MW; group 2: medium,
#: 15 kW - 300 kW. See docs/features.md for the source and its verification.
ISO_10816_3_LIMITS: dict[tuple[int, str], tuple[float, float, float]] = {
    (1, "rigid"): (2.3, 4.5, 7.1),
    (1, "flexible"): (3.5, 7.1, 11.0),
    (2, "rigid"): (1.4, 2.8, 4.5),
    (2, "flexible"): (2.3, 4.5, 7.1),
}

_UNITS_MS2 = {"g": STANDARD_GRAVITY, "m/s2": 1.0, "m/s^2": 1.0}


def units_to_ms2(units: str) -> float:
    """m/s² per sensor unit: ``"g"`` 9.80665, ``"m/s2"`` (or ``"m/s^2"``) 1, else NaN.

    The firmware's ``tinypdm_units_to_ms2`` knows the same names (tested against this).
    """
    return _UNITS_MS2.get(units, math.nan)


def velocity_bins(config: FeatureConfig) -> tuple[int, int]:
    """First and last DFT bin (inclusive) of the 10 Hz - 1 kHz velocity band.

    The last is at most ``N/2 - 1``; with a window shorter than the band resolves, the
    first is 1 (the lowest non-DC bin) whatever its frequency.
    """
    n, fs = config.window, config.sample_rate
    lo = max(1, math.ceil(ISO_BAND_HZ[0] * n / fs - 1e-9))
    hi = min(n // 2 - 1, math.floor(ISO_BAND_HZ[1] * n / fs + 1e-9))
    return lo, max(lo, hi)


def velocity_rms(windows: ArrayLike, config: FeatureConfig) -> NDArray[np.float64]:
    """Velocity RMS over 10 Hz - 1 kHz, in sensor units x seconds (module docstring).

    Parameters
    ----------
    windows : array_like of shape (n_windows, window)
        Acceleration in sensor units.

    Returns
    -------
    ndarray of shape (n_windows,), float64
        Multiply by :func:`units_to_ms2` and 1000 for mm/s.
    """
    x = np.asarray(windows, dtype=np.float64)
    n = config.window
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(f"windows must have shape (n_windows, {n}), got shape {x.shape!r}")
    w = hann_periodic(n)
    d = x - x.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(d * w, axis=1)
    # The Hann-weighted mean of d leaks into bin 1 (W[1] = -W[0] / 2), the bin with the
    # largest 1/f^2 weight: remove it there, as if the Hann-weighted mean had been removed.
    spectrum[:, 1] += 0.5 * spectrum[:, 0]
    power = np.abs(spectrum) ** 2
    lo, hi = velocity_bins(config)
    k = np.arange(lo, hi + 1, dtype=np.float64)
    omega = 2.0 * np.pi * k * config.sample_rate / n
    norm = 2.0 / (n * float(np.sum(w * w)))
    return np.sqrt(norm * np.sum(power[:, lo : hi + 1] / omega**2, axis=1))


def iso_zone(velocity_mm_s: ArrayLike, limits: tuple[float, float, float]) -> NDArray[np.uint8]:
    """ISO zone of velocities: 1 A (<= A/B), 2 B (<= B/C), 3 C (<= C/D), 4 D; 0 for NaN.

    A value on a boundary belongs to the better zone (the boundary is the zone's upper
    limit). The firmware compares the float32 velocity with float32 limits.
    """
    v = np.asarray(velocity_mm_s, dtype=np.float64)
    ab, bc, cd = (float(x) for x in limits)
    if not 0 < ab < bc < cd:
        raise ValueError(f"zone limits must be increasing and > 0, got {limits!r}")
    zone = 1 + (v > ab).astype(np.uint8) + (v > bc) + (v > cd)
    return np.where(np.isnan(v), 0, zone).astype(np.uint8)

"""One resampler for every signal tinypdm changes the rate of (importers, replays).

Polyphase with scipy's anti-aliasing FIR (``resample_poly``; Kaiser window, cut-off at the
lower of the two Nyquist frequencies). The ratio is the closest fraction with numerator and
denominator of at most 1000, so the rate that comes out may differ slightly from the one
asked for: :func:`resample` returns the rate the samples really have.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from vibration.errors import DatasetError

__all__ = ["resample"]

_MAX_TERM = 1000


def resample(x: np.ndarray, source_rate: float, rate: float) -> tuple[np.ndarray, float]:
    """Resample ``x`` from ``source_rate`` to about ``rate`` Hz.

    Parameters
    ----------
    x : ndarray of shape (n, axes) or (n,)
        Samples along axis 0.
    source_rate, rate : float
        The rate of ``x`` and the rate asked for, Hz.

    Returns
    -------
    y : ndarray
        ``x`` itself when the rates agree to 1e-9, else the resampled signal.
    actual_rate : float
        The rate of ``y``: ``source_rate * p / q`` for the fraction ``p / q`` used, or
        ``rate`` itself when that is within 1e-6 of it.

    Raises
    ------
    DatasetError
        The ratio has no fraction with terms of at most 1000 (too large or too small).
    """
    if math.isclose(source_rate, rate, rel_tol=1e-9):
        return x, source_rate
    from scipy.signal import resample_poly

    ratio = Fraction(rate / source_rate).limit_denominator(_MAX_TERM)
    if ratio.numerator == 0 or ratio.numerator > _MAX_TERM:
        raise DatasetError(
            f"cannot resample from {source_rate:g} Hz to {rate:g} Hz (ratio out of range)"
        )
    y = np.asarray(resample_poly(x, ratio.numerator, ratio.denominator, axis=0))
    exact = source_rate * ratio.numerator / ratio.denominator
    return y, (rate if math.isclose(exact, rate, rel_tol=1e-6) else exact)

"""Spectra of an alarm's raw window: amplitude spectrum, envelope spectrum, bearing lines.

Pure numpy/scipy, no Streamlit and no store: the sensor page feeds them an
:class:`~vibration.telemetry.stores.Evidence` record's samples.

Envelope spectrum (the classic bearing diagnosis, e.g. Randall & Antoni 2011):

1. remove the mean; find the band of highest energy among fixed candidate bands
   ``[k fs/16, k fs/16 + fs/8]`` for ``k = 1..6`` (so 0.0625 fs to 0.4375 fs: above the
   shaft harmonics, below Nyquist), where impacts excite structural resonances;
2. band-pass it (4th-order Butterworth, zero phase);
3. the envelope is the magnitude of the analytic signal (Hilbert transform), mean removed;
4. its single-sided amplitude spectrum (Hann window, amplitude-corrected).

A defect that strikes at BPFO/BPFI/BSF/FTF shows as lines at those frequencies (and
harmonics) in the envelope spectrum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vibration.data.bearing import BearingGeometry

__all__ = [
    "DEFECT_NAMES",
    "BearingInfo",
    "Spectrum",
    "amplitude_spectrum",
    "bearing_info",
    "defect_frequencies",
    "envelope_band",
    "envelope_spectrum",
]

#: Display names of the defect frequencies, in the order drawn.
DEFECT_NAMES: dict[str, str] = {"ftf": "FTF", "bsf": "BSF", "bpfo": "BPFO", "bpfi": "BPFI"}

_MIN_SAMPLES = 16


@dataclass(frozen=True)
class Spectrum:
    """A single-sided amplitude spectrum.

    Attributes
    ----------
    freq_hz : ndarray of float64, shape (n_bins,)
    amplitude : ndarray of float64, shape (n_bins,)
        Peak amplitude of a sinusoid at that frequency, in the signal's units.
    band_hz : tuple of float, optional
        The band-pass band of an envelope spectrum; None for a plain spectrum.
    """

    freq_hz: np.ndarray
    amplitude: np.ndarray
    band_hz: tuple[float, float] | None = None

    def peak_hz(self, lo: float = 0.0, hi: float = math.inf) -> float:
        """Frequency of the largest amplitude in ``[lo, hi]`` Hz."""
        sel = (self.freq_hz >= lo) & (self.freq_hz <= hi)
        if not sel.any():
            raise ValueError(f"no bin in [{lo!r}, {hi!r}] Hz")
        return float(self.freq_hz[sel][np.argmax(self.amplitude[sel])])


def _check(x: Any, fs: float) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] < _MIN_SAMPLES:
        raise ValueError(f"x must have shape (n,) with n >= {_MIN_SAMPLES}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("x must be finite")
    if not (isinstance(fs, int | float) and math.isfinite(fs) and fs > 0):
        raise ValueError(f"fs must be > 0, got {fs!r}")
    return arr


def amplitude_spectrum(x: Any, fs: float) -> Spectrum:
    """Single-sided amplitude spectrum of ``x`` (mean removed, Hann window).

    Parameters
    ----------
    x : array_like of shape (n,)
        The signal, physical units.
    fs : float
        Sample rate, Hz.
    """
    arr = _check(x, fs)
    n = arr.shape[0]
    w = np.hanning(n)
    spec = np.abs(np.fft.rfft((arr - arr.mean()) * w)) * 2.0 / w.sum()
    spec[0] /= 2.0
    return Spectrum(np.fft.rfftfreq(n, 1.0 / fs), spec)


def envelope_band(x: Any, fs: float) -> tuple[float, float]:
    """The candidate band ``[k fs/16, k fs/16 + fs/8]`` (k = 1..6) of highest energy."""
    arr = _check(x, fs)
    power = np.abs(np.fft.rfft(arr - arr.mean())) ** 2
    freq = np.fft.rfftfreq(arr.shape[0], 1.0 / fs)
    best, best_e = (fs / 16, 3 * fs / 16), -1.0
    for k in range(1, 7):
        lo, hi = k * fs / 16, k * fs / 16 + fs / 8
        e = float(power[(freq >= lo) & (freq < hi)].sum())
        if e > best_e:
            best, best_e = (lo, hi), e
    return best


def envelope_spectrum(x: Any, fs: float, band: tuple[float, float] | None = None) -> Spectrum:
    """Envelope spectrum of ``x``: band-pass -> |analytic signal| -> amplitude spectrum.

    Parameters
    ----------
    x : array_like of shape (n,)
    fs : float
        Sample rate, Hz.
    band : (lo, hi), optional
        Band-pass band in Hz, ``0 < lo < hi < fs/2``; default :func:`envelope_band`.
    """
    from scipy.signal import butter, hilbert, sosfiltfilt

    arr = _check(x, fs)
    lo, hi = envelope_band(arr, fs) if band is None else (float(band[0]), float(band[1]))
    if not 0 < lo < hi < fs / 2:
        raise ValueError(f"band must satisfy 0 < lo < hi < fs/2 = {fs / 2:g}, got {band!r}")
    sos = butter(4, [lo, hi], btype="bandpass", fs=fs, output="sos")
    # sosfiltfilt needs a few times the filter length; short records are filtered once
    padlen = min(3 * (2 * len(sos) + 1), arr.shape[0] - 1)
    filtered = sosfiltfilt(sos, arr - arr.mean(), padlen=padlen)
    env = np.abs(hilbert(filtered))
    spec = amplitude_spectrum(env, fs)
    return Spectrum(spec.freq_hz, spec.amplitude, (lo, hi))


@dataclass(frozen=True)
class BearingInfo:
    """The optional ``bearing`` section of a ``model.json`` / bundle ``manifest.json``::

        "bearing": {"n_balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04,
                    "contact_angle_deg": 0.0, "speed_rpm": 1797}

    ``speed_rpm`` (optional) is the nominal shaft speed, used when the evidence carries
    no measured speed.
    """

    geometry: BearingGeometry
    speed_rpm: float | None = None


def bearing_info(info: Mapping[str, Any] | None) -> BearingInfo | None:
    """The ``bearing`` section of a model's JSON, or None when absent or invalid."""
    section = (info or {}).get("bearing")
    if not isinstance(section, Mapping):
        return None
    try:
        geometry = BearingGeometry(
            n_balls=section["n_balls"],
            ball_diameter_mm=float(section["ball_diameter_mm"]),
            pitch_diameter_mm=float(section["pitch_diameter_mm"]),
            contact_angle_deg=float(section.get("contact_angle_deg", 0.0)),
        )
        speed = section.get("speed_rpm")
        rpm = None if speed is None else float(speed)
    except (KeyError, TypeError, ValueError):
        return None
    if rpm is not None and not (math.isfinite(rpm) and rpm > 0):
        rpm = None
    return BearingInfo(geometry, rpm)


def defect_frequencies(geometry: BearingGeometry, speed_rpm: float) -> dict[str, float]:
    """BPFO, BPFI, BSF and FTF in Hz (keys as :data:`DEFECT_NAMES`) at ``speed_rpm``."""
    if not (math.isfinite(speed_rpm) and speed_rpm > 0):
        raise ValueError(f"speed_rpm must be > 0, got {speed_rpm!r}")
    return geometry.fault_frequencies(speed_rpm / 60.0)

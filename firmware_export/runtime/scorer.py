"""Score windows on the host with the device's numbers.

:class:`Int8Scorer` reads a bundle and scores raw int16 samples exactly as the firmware
does. Two engines:

``"c"`` (default)
    The bundle's own C sources compiled for this machine (``gcc``): the very code the
    device runs, on an IEEE binary32 FPU. Scores, decisions and alarms are the device's,
    window for window (the gateway's shadow mode).
``"tflm"``
    The Python reference: float64 features (:mod:`vibration.learning.features`), standardisation
    and input quantisation in float64, the int8 model in the ``tflite-micro``
    interpreter, float64 score. No compiler needed; agrees with ``"c"`` to float32
    rounding (parity rung 4).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from firmware_export.errors import ExportError
from firmware_export.runtime.host_build import RESULT_FIELDS
from vibration.learning.features import FeatureConfig, frame_windows, window_features
from vibration.learning.severity import iso_zone, units_to_ms2, velocity_rms
from vibration.learning.thresholds import (
    FLAG_LATCHED,
    STATE_ALARM,
    AlarmLifecycle,
    AlarmPolicy,
)

__all__ = [
    "ENGINES",
    "NO_FEATURE",
    "Int8Scorer",
    "WindowScores",
    "quantize_inputs",
    "reference_errors",
    "reference_scores",
    "top_features",
]

#: ``top_features`` entry meaning "none" (the SCORE v2 byte 255).
NO_FEATURE = 255

ENGINES = ("c", "tflm")


@dataclass(frozen=True, eq=False)
class WindowScores:
    """Scored windows, in time order.

    Attributes
    ----------
    sample_index : ndarray of shape (n,), int64
        Index of each window's last sample in the pushed stream.
    score, rms, kurtosis, crest : ndarray of shape (n,), float64
    over, alarm : ndarray of shape (n,), bool
    threshold : float
    state, flags : ndarray of shape (n,), uint8
        Alarm lifecycle state (``STATE_*``) and SCORE v2 flag bits of each window.
    velocity_rms_mm_s : ndarray of shape (n,), float64
        ISO velocity RMS 10 Hz - 1 kHz (NaN: units without a known conversion).
    iso_zone : ndarray of shape (n,), uint8
        0 none, 1 A .. 4 D.
    top_features : ndarray of shape (n, 2), uint8
        Features with the largest squared reconstruction errors (255 none).
    """

    sample_index: NDArray[np.int64]
    score: NDArray[np.float64]
    rms: NDArray[np.float64]
    kurtosis: NDArray[np.float64]
    crest: NDArray[np.float64]
    over: NDArray[np.bool_]
    alarm: NDArray[np.bool_]
    threshold: float
    state: NDArray[np.uint8]
    flags: NDArray[np.uint8]
    velocity_rms_mm_s: NDArray[np.float64]
    iso_zone: NDArray[np.uint8]
    top_features: NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.score.shape[0])


def quantize_inputs(z: ArrayLike, scale: float, zero_point: int) -> NDArray[np.int8]:
    """``clamp(round(z / scale) + zero_point)``, halves away from zero (TFLite), int8.

    Parameters
    ----------
    z : array_like of shape (n, d)
    scale : float
        Input scale (float32 value).
    """
    q = np.asarray(z, dtype=np.float64) / float(np.float32(scale))
    rounded = np.where(q >= 0, np.floor(q + 0.5), -np.floor(-q + 0.5))
    return np.clip(rounded + int(zero_point), -128, 127).astype(np.int8)


def top_features(sq_errors: ArrayLike) -> NDArray[np.uint8]:
    """Indices of the largest and second largest squared reconstruction error per row.

    As the firmware (``tinypdm_score_features``): ties go to the lower index, NaN is never
    chosen, and 255 (:data:`NO_FEATURE`) fills a place no value takes.

    Parameters
    ----------
    sq_errors : array_like of shape (n, d)

    Returns
    -------
    ndarray of shape (n, 2), uint8
    """
    e = np.asarray(sq_errors, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"sq_errors must have shape (n, d), got shape {e.shape!r}")
    e = np.where(np.isnan(e), -1.0, e)
    order = np.argsort(-e, axis=1, kind="stable")[:, :2]
    picked = np.take_along_axis(e, order, axis=1)
    out = np.where(picked >= 0.0, order, NO_FEATURE).astype(np.uint8)
    if out.shape[1] < 2:
        out = np.concatenate([out, np.full((len(out), 2 - out.shape[1]), NO_FEATURE, np.uint8)], 1)
    return out


def reference_scores(
    features: ArrayLike,
    *,
    mean: ArrayLike,
    scale: ArrayLike,
    tflite: bytes,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
) -> tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.int8]]:
    """The Python int8 score of feature vectors (TFLM interpreter for the model).

    Parameters
    ----------
    features : array_like of shape (n, d)
    mean, scale : array_like of shape (d,)
        Standardisation; pass the float32 values the firmware holds.

    Returns
    -------
    scores : ndarray of shape (n,), float64
    q_in, q_out : ndarray of shape (n, d), int8
    """
    scores, q_in, q_out, _ = reference_errors(
        features,
        mean=mean,
        scale=scale,
        tflite=tflite,
        input_scale=input_scale,
        input_zero_point=input_zero_point,
        output_scale=output_scale,
        output_zero_point=output_zero_point,
    )
    return scores, q_in, q_out


def reference_errors(
    features: ArrayLike,
    *,
    mean: ArrayLike,
    scale: ArrayLike,
    tflite: bytes,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
) -> tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.int8], NDArray[np.float64]]:
    """:func:`reference_scores` plus the squared errors ``(z - z_hat)^2`` of shape (n, d)."""
    from firmware_export.runtime.interpreters import tflm_invoke

    f = np.asarray(features, dtype=np.float64)
    z = (f - np.asarray(mean, np.float64)) / np.asarray(scale, np.float64)
    q_in = quantize_inputs(z, input_scale, input_zero_point)
    q_out = tflm_invoke(tflite, q_in) if len(q_in) else np.zeros_like(q_in)
    z_hat = float(np.float32(output_scale)) * (q_out.astype(np.float64) - output_zero_point)
    sq = (z - z_hat) ** 2
    return np.mean(sq, axis=1), q_in, q_out, sq


def _as_samples(samples: ArrayLike, axis: int) -> NDArray[np.int16]:
    s = np.asarray(samples)
    if s.ndim == 2:
        if axis >= s.shape[1]:
            raise ValueError(f"the model scores axis {axis}, got samples of shape {s.shape!r}")
        s = s[:, axis]
    if s.ndim != 1:
        raise ValueError(f"samples must have shape (n,) or (n, axes), got shape {s.shape!r}")
    if s.size and not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"samples must be int16 codes, got dtype {s.dtype!r}")
    if s.size and (s.min() < -32768 or s.max() > 32767):
        raise ValueError("samples must fit int16")
    return s.astype(np.int16)


class Int8Scorer:
    """Score raw samples with a bundle's int8 firmware numbers.

    Parameters
    ----------
    bundle : path
        An exported bundle (``tinypdm export``).
    engine : {"c", "tflm"}
        See the module docstring.
    workdir : path, optional
        Where the ``"c"`` engine builds (default: a temporary directory removed with the
        scorer).

    Raises
    ------
    ExportError
        Not a bundle, or its C does not build.
    """

    def __init__(
        self, bundle: str | Path, *, engine: str = "c", workdir: str | Path | None = None
    ) -> None:
        from firmware_export.runtime.bundle import load_bundle

        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.bundle = load_bundle(bundle)
        self.engine = engine
        self._host: Any = None
        if engine == "c":
            from firmware_export.runtime.host_build import HostLibrary, build_host_library

            if workdir is None:
                tmp = tempfile.mkdtemp(prefix="tinypdm-scorer-")
                weakref.finalize(self, shutil.rmtree, tmp, True)
                work = Path(tmp)
            else:
                work = Path(workdir)
            self._host = HostLibrary(build_host_library(self.bundle.src_dir, work))

    @property
    def feature_config(self) -> FeatureConfig:
        return self.bundle.feature_config

    @property
    def threshold(self) -> float:
        """The threshold as the device holds it (float32)."""
        return float(np.float32(self.bundle.threshold))

    @property
    def alarm_policy(self) -> AlarmPolicy:
        return self.bundle.alarm_policy

    @property
    def sample_scale(self) -> float:
        """Default physical units per LSB (the generated ``TINYPDM_SAMPLE_SCALE``)."""
        return self.bundle.sample_scale

    @property
    def units(self) -> str:
        """Physical units of the samples (the generated ``TINYPDM_UNITS``)."""
        return self.bundle.units

    def score_windows(
        self,
        samples: ArrayLike,
        scale: float | None = None,
        units: str | None = None,
        unknown: ArrayLike | None = None,
    ) -> WindowScores:
        """Score a contiguous stream from its first sample, as a freshly booted device.

        Parameters
        ----------
        samples : array_like of shape (n,) or (n, axes), int16 codes
            With several axes, the model's axis is scored.
        scale : float, optional
            Physical units per LSB; default :attr:`sample_scale`.
        units : str, optional
            Physical units (the HELLO's); default :attr:`units`. Sets the velocity scale.
        unknown : array_like of shape (n_windows,), bool, optional
            Windows with an unknown operating point (``"tflm"`` engine only).

        Returns
        -------
        WindowScores
            One entry per window ``[i*hop, i*hop + window)`` that fits in ``n``.
        """
        cfg = self.feature_config
        s = _as_samples(samples, cfg.axis)
        physical_per_lsb = float(np.float32(self.sample_scale if scale is None else scale))
        if not (np.isfinite(physical_per_lsb) and physical_per_lsb > 0):
            raise ValueError(f"scale must be > 0, got {scale!r}")
        unit_name = self.units if units is None else units
        if self.engine == "c":
            if unknown is not None:
                raise ValueError("unknown windows need the 'tflm' engine")
            pipe = self._host.pipeline()
            pipe.set_scale(physical_per_lsb)
            pipe.set_units(unit_name)
            rows = pipe.push(s)
            col = {name: rows[:, i] for i, name in enumerate(RESULT_FIELDS)}
            return WindowScores(
                sample_index=col["sample_index"].astype(np.int64),
                score=col["score"],
                rms=col["rms"],
                kurtosis=col["kurtosis"],
                crest=col["crest"],
                over=col["over"] > 0,
                alarm=col["alarm"] > 0,
                threshold=self.threshold,
                state=col["state"].astype(np.uint8),
                flags=col["flags"].astype(np.uint8),
                velocity_rms_mm_s=col["velocity_rms_mm_s"],
                iso_zone=col["iso_zone"].astype(np.uint8),
                top_features=np.stack([col["top_feature_1"], col["top_feature_2"]], axis=1).astype(
                    np.uint8
                ),
            )
        physical = s.astype(np.float32) * np.float32(physical_per_lsb)
        windows = frame_windows(physical, cfg)
        feats = window_features(windows, cfg)
        b = self.bundle
        scores, _, _, sq = reference_errors(
            feats,
            mean=np.asarray(b.feature_mean, np.float32),
            scale=np.asarray(b.feature_scale, np.float32),
            tflite=b.tflite_bytes(),
            input_scale=b.model.input_scale,
            input_zero_point=b.model.input_zero_point,
            output_scale=b.model.output_scale,
            output_zero_point=b.model.output_zero_point,
        )
        d = windows - windows.mean(axis=1, keepdims=True)
        m2 = np.mean(d * d, axis=1)
        n = len(windows)
        unk = np.zeros(n, bool) if unknown is None else np.asarray(unknown, dtype=np.bool_)
        if unk.shape != (n,):
            raise ValueError(f"unknown must have shape ({n},), got shape {unk.shape!r}")
        machine = AlarmLifecycle(self.alarm_policy, self.threshold)
        state = np.empty(n, np.uint8)
        flags = np.empty(n, np.uint8)
        for i in range(n):
            state[i] = machine.step(float(scores[i]), bool(unk[i]))
            flags[i] = (1 if unk[i] else 0) | (FLAG_LATCHED if machine.latched else 0)
        velocity = velocity_rms(windows, cfg) * units_to_ms2(unit_name) * 1000.0
        limits = b.iso_limits
        zone = iso_zone(velocity, limits) if limits else np.zeros(n, np.uint8)
        return WindowScores(
            sample_index=np.arange(n, dtype=np.int64) * cfg.hop + cfg.window - 1,
            score=scores,
            rms=np.sqrt(m2),
            kurtosis=feats[:, cfg.n_bands + 1],
            crest=feats[:, cfg.n_bands + 2],
            over=(scores > self.threshold) & ~unk,
            alarm=state == STATE_ALARM,
            threshold=self.threshold,
            state=state,
            flags=flags,
            velocity_rms_mm_s=velocity,
            iso_zone=zone,
            top_features=top_features(sq),
        )

    def score_features(self, features: ArrayLike) -> NDArray[np.float64]:
        """Scores of feature vectors, shape (n, n_features) -> (n,)."""
        b = self.bundle
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.feature_config.n_features:
            raise ValueError(
                f"features must have shape (n, {self.feature_config.n_features}), got {f.shape!r}"
            )
        if self.engine == "c":
            return self._host.score_features(f).scores.astype(np.float64)
        scores, _, _ = reference_scores(
            f,
            mean=np.asarray(b.feature_mean, np.float32),
            scale=np.asarray(b.feature_scale, np.float32),
            tflite=b.tflite_bytes(),
            input_scale=b.model.input_scale,
            input_zero_point=b.model.input_zero_point,
            output_scale=b.model.output_scale,
            output_zero_point=b.model.output_zero_point,
        )
        return scores

    def pipeline(self) -> Any:
        """A streaming :class:`~firmware_export.runtime.host_build.HostPipeline` (``"c"``
        engine)."""
        if self._host is None:
            raise ExportError("streaming needs the 'c' engine (a C compiler)")
        pipe = self._host.pipeline()
        pipe.set_scale(self.sample_scale)
        pipe.set_units(self.units)
        return pipe

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

The standardisation and score of a bundle's model are a :class:`Standardisation`: the
mean may follow the shaft speed (``mean + slope * (ln(rpm) - u0)``), one-sided models feed
``z+ = clip(z, 0, z_max)`` to the network and add the energy term to the score, and a
speed-aware model reports windows outside its speed envelope as of unknown operating
point (never over, the alarm does not advance). Bundles of older models are two-sided
and speed-unaware, and score exactly as before.
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
    FLAG_EXTERNAL_SPEED,
    FLAG_LATCHED,
    FLAG_UNKNOWN_OP,
    STATE_ALARM,
    STATE_UNKNOWN,
    AlarmLifecycle,
    AlarmPolicy,
)

__all__ = [
    "ENGINES",
    "NO_FEATURE",
    "Int8Scorer",
    "Standardisation",
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
        Both False in windows of unknown operating point.
    threshold : float
    state, flags : ndarray of shape (n,), uint8
        Alarm lifecycle state (``STATE_*``; 3: unknown operating point) and SCORE v2 flag
        bits of each window.
    velocity_rms_mm_s : ndarray of shape (n,), float64
        ISO velocity RMS 10 Hz - 1 kHz (NaN: units without a known conversion).
    iso_zone : ndarray of shape (n,), uint8
        0 none, 1 A .. 4 D.
    top_features : ndarray of shape (n, 2), uint8
        Features with the largest squared reconstruction errors (255 none).
    speed_rpm : ndarray of shape (n,), float64
        Shaft speed each window was scored at (NaN: unknown).
    unknown_op : ndarray of shape (n,), bool
        Unknown operating point (speed-aware models): ``state == 3``.
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
    speed_rpm: NDArray[np.float64]

    @property
    def unknown_op(self) -> NDArray[np.bool_]:
        """Unknown operating point (``state == STATE_UNKNOWN``)."""
        return np.asarray(self.state == STATE_UNKNOWN)

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


@dataclass(frozen=True, eq=False)
class Standardisation:
    """A model's standardisation, network inputs, score and operating envelope.

    The Python reference (float64) of ``tinypdm_score_features_at`` and
    ``tinypdm_unknown_operating_point``; pass the float32 values the firmware holds.

    Attributes
    ----------
    mean, scale : ndarray of shape (d,), float64
    slope : ndarray of shape (d,), float64
        ``expected = mean + slope * (ln(rpm) - u0)`` for finite rpm > 0; zeros: no speed
        conditioning.
    u0 : float
    envelope : (float, float) or None
        Speed envelope in rpm of a speed-aware model.
    one_sided : bool
    z_max : float
    """

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    slope: NDArray[np.float64] | None = None
    u0: float = 0.0
    envelope: tuple[float, float] | None = None
    one_sided: bool = False
    z_max: float = 10.0

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, np.float64).reshape(-1)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scale", np.asarray(self.scale, np.float64).reshape(-1))
        slope = np.zeros_like(mean) if self.slope is None else self.slope
        object.__setattr__(self, "slope", np.asarray(slope, np.float64).reshape(-1))

    @property
    def slopes(self) -> NDArray[np.float64]:
        """``slope`` (zeros when not speed-conditioned), shape (d,)."""
        return np.zeros_like(self.mean) if self.slope is None else self.slope

    @property
    def speed_conditioned(self) -> bool:
        return bool(np.any(self.slopes))

    @property
    def speed_aware(self) -> bool:
        return self.envelope is not None

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Standardisation:
        """From a bundle manifest (``scaler``, ``speed``, ``scoring``); manifests written
        before speed conditioning give a two-sided, speed-unaware model."""
        speed = manifest.get("speed") or None
        scoring = manifest.get("scoring") or {}
        return cls(
            mean=np.asarray(manifest["scaler"]["mean"], np.float64),
            scale=np.asarray(manifest["scaler"]["scale"], np.float64),
            slope=None if speed is None else np.asarray(speed["slope"], np.float64),
            u0=0.0 if speed is None else float(speed["u0"]),
            envelope=None
            if speed is None
            else (float(speed["envelope_rpm"][0]), float(speed["envelope_rpm"][1])),
            one_sided=bool(scoring.get("one_sided", False)),
            z_max=float(scoring.get("z_max", 10.0)),
        )

    def _rpm(self, speed_rpm: ArrayLike | None, n: int) -> NDArray[np.float64]:
        if speed_rpm is None:
            return np.full(n, np.nan)
        rpm = np.asarray(speed_rpm, np.float64)
        if rpm.ndim == 0:
            return np.full(n, float(rpm))
        if rpm.shape != (n,):
            raise ValueError(f"speed_rpm must have shape ({n},), got {rpm.shape!r}")
        return rpm

    def expected(self, n: int, speed_rpm: ArrayLike | None = None) -> NDArray[np.float64]:
        """Normal mean at each window's speed, shape (n, d)."""
        if not self.speed_conditioned:
            return np.broadcast_to(self.mean, (n, self.mean.size))
        rpm = self._rpm(speed_rpm, n)
        known = np.isfinite(rpm) & (rpm > 0)
        du = np.where(known, np.log(np.where(known, rpm, 1.0)) - self.u0, 0.0)
        return self.mean + np.outer(du, self.slopes)

    def inputs(
        self, features: ArrayLike, speed_rpm: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """The network's inputs: ``z``, or ``z+`` for a one-sided model, shape (n, d)."""
        f = np.asarray(features, dtype=np.float64)
        z = (f - self.expected(f.shape[0], speed_rpm)) / self.scale
        if self.one_sided:
            zmax = float(np.float32(self.z_max))
            with np.errstate(invalid="ignore"):
                z = np.where(z > 0, np.minimum(z, zmax), 0.0)  # NaN -> 0, as the C
        return np.asarray(z, dtype=np.float64)

    def errors(self, z: ArrayLike, z_hat: ArrayLike) -> NDArray[np.float64]:
        """Squared reconstruction errors that enter the score, shape (n, d): ``(z - z_hat)^2``,
        or ``max(z+ - z_hat, 0)^2`` for a one-sided model (the top features rank these)."""
        e = np.asarray(z, np.float64) - np.asarray(z_hat, np.float64)
        if self.one_sided:
            e = np.maximum(e, 0.0)
        return np.asarray(e**2, dtype=np.float64)

    def score(self, z: ArrayLike, z_hat: ArrayLike) -> NDArray[np.float64]:
        """Score of inputs ``z`` and reconstruction ``z_hat``, shape (n,)."""
        zz = np.asarray(z, np.float64)
        sq = self.errors(zz, z_hat)
        if not self.one_sided:
            return np.asarray(np.mean(sq, axis=1), dtype=np.float64)
        return np.asarray(np.mean(sq, axis=1) + np.mean(zz**2, axis=1), dtype=np.float64)

    def unknown_operating_point(self, speed_rpm: ArrayLike | None, n: int) -> NDArray[np.bool_]:
        """True where a speed-aware model's window speed is NaN or outside the envelope
        (compared in float32, as the firmware does)."""
        if self.envelope is None:
            return np.zeros(n, dtype=np.bool_)
        rpm = self._rpm(speed_rpm, n).astype(np.float32)
        lo, hi = np.float32(self.envelope[0]), np.float32(self.envelope[1])
        with np.errstate(invalid="ignore"):
            inside = (rpm >= lo) & (rpm <= hi)
        return np.asarray(~inside, dtype=np.bool_)


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
    standardisation: Standardisation | None = None,
    speed_rpm: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.int8]]:
    """The Python int8 score of feature vectors (TFLM interpreter for the model).

    Parameters
    ----------
    features : array_like of shape (n, d)
    mean, scale : array_like of shape (d,)
        Standardisation; pass the float32 values the firmware holds.
    standardisation : Standardisation or None
        The model's full standardisation (speed line, one-sided inputs and score);
        None: two-sided ``(f - mean) / scale`` (models made before speed conditioning).
    speed_rpm : float or array_like of shape (n,) or None
        Shaft speed of each window (NaN or None: unknown), for a speed-conditioned model.

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
        standardisation=standardisation,
        speed_rpm=speed_rpm,
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
    standardisation: Standardisation | None = None,
    speed_rpm: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int8], NDArray[np.int8], NDArray[np.float64]]:
    """:func:`reference_scores` plus the squared errors that enter the score, shape (n, d)
    (:meth:`Standardisation.errors`; the top features rank them)."""
    from firmware_export.runtime.interpreters import tflm_invoke

    std = standardisation or Standardisation(
        mean=np.asarray(mean, np.float64), scale=np.asarray(scale, np.float64)
    )
    z = std.inputs(features, speed_rpm)
    q_in = quantize_inputs(z, input_scale, input_zero_point)
    q_out = tflm_invoke(tflite, q_in) if len(q_in) else np.zeros_like(q_in)
    z_hat = float(np.float32(output_scale)) * (q_out.astype(np.float64) - output_zero_point)
    sq = std.errors(z, z_hat)
    return std.score(z, z_hat), q_in, q_out, sq


def _float32_speeds(speed_rpm: ArrayLike | None, n: int) -> NDArray[np.float64]:
    """Per-window speeds as the firmware holds them (float32; NaN unknown), shape (n,)."""
    if speed_rpm is None:
        return np.full(n, np.nan)
    rpm = np.asarray(speed_rpm, np.float64)
    rpm = np.full(n, float(rpm)) if rpm.ndim == 0 else rpm
    if rpm.shape != (n,):
        raise ValueError(f"speed_rpm must be a number or have shape ({n},), got {rpm.shape!r}")
    with np.errstate(invalid="ignore"):
        rpm = np.where(rpm > 0, rpm, np.nan)  # tinypdm_pipeline_set_speed: <= 0 is unknown
    return rpm.astype(np.float32).astype(np.float64)


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

    @property
    def standardisation(self) -> Standardisation:
        """The model's standardisation, score and speed envelope (from the manifest)."""
        return Standardisation.from_manifest(self.bundle.manifest)

    def score_windows(
        self,
        samples: ArrayLike,
        scale: float | None = None,
        units: str | None = None,
        speed_rpm: ArrayLike | None = None,
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
        speed_rpm : float or array_like of shape (n_windows,), optional
            External shaft speed of every window (or one for all), as
            ``tinypdm_pipeline_set_speed`` gives it to the device before the window's last
            sample; NaN or <= 0: the device's own (tachless) estimate for that window.
            None: the estimate throughout (:func:`vibration.learning.speed.window_speeds`
            in the ``"tflm"`` engine; NaN for bundles made before the estimator).

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
        n_windows = 0 if s.shape[0] < cfg.window else (s.shape[0] - cfg.window) // cfg.hop + 1
        external = _float32_speeds(speed_rpm, n_windows)
        if self.engine == "c":
            pipe = self._host.pipeline()
            pipe.set_scale(physical_per_lsb)
            pipe.set_units(unit_name)
            rows = pipe.push_at_speeds(s, external) if speed_rpm is not None else pipe.push(s)
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
                speed_rpm=col["speed_rpm"],
            )
        physical = s.astype(np.float32) * np.float32(physical_per_lsb)
        windows = frame_windows(physical, cfg)
        feats = window_features(windows, cfg)
        b = self.bundle
        rpm = np.where(np.isfinite(external), external, self._estimated_speeds(physical))
        std = self.standardisation
        scores, _, _, sq = reference_errors(
            feats,
            mean=np.asarray(b.feature_mean, np.float32),
            scale=np.asarray(b.feature_scale, np.float32),
            tflite=b.tflite_bytes(),
            input_scale=b.model.input_scale,
            input_zero_point=b.model.input_zero_point,
            output_scale=b.model.output_scale,
            output_zero_point=b.model.output_zero_point,
            standardisation=std,
            speed_rpm=rpm,
        )
        d = windows - windows.mean(axis=1, keepdims=True)
        m2 = np.mean(d * d, axis=1)
        n = len(windows)
        unk = std.unknown_operating_point(rpm, n)
        ext = np.isfinite(external)
        machine = AlarmLifecycle(self.alarm_policy, self.threshold)
        state = np.empty(n, np.uint8)
        flags = np.empty(n, np.uint8)
        for i in range(n):
            state[i] = machine.step(float(scores[i]), bool(unk[i]))
            flags[i] = (
                (FLAG_UNKNOWN_OP if unk[i] else 0)
                | (FLAG_EXTERNAL_SPEED if ext[i] else 0)
                | (FLAG_LATCHED if machine.latched else 0)
            )
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
            speed_rpm=rpm,
        )

    def _estimated_speeds(self, physical: NDArray[np.float32]) -> NDArray[np.float64]:
        """The device's tachless speed of every window (NaN: warming up, or a bundle made
        before the estimator)."""
        n = frame_windows(physical, self.feature_config).shape[0]
        if "speed_estimator" not in self.bundle.manifest:
            return np.full(n, np.nan)
        from vibration.learning.speed import window_speeds

        rpm = window_speeds(physical, self.feature_config, self.bundle.speed_config)
        return np.asarray(rpm, np.float32).astype(np.float64)

    def score_features(
        self, features: ArrayLike, speed_rpm: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """Scores of feature vectors, shape (n, n_features) -> (n,).

        ``speed_rpm``: a number or one per vector (NaN or None: unknown speed, the mean
        is not conditioned on speed).
        """
        b = self.bundle
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.feature_config.n_features:
            raise ValueError(
                f"features must have shape (n, {self.feature_config.n_features}), got {f.shape!r}"
            )
        rpm = _float32_speeds(speed_rpm, f.shape[0])
        if self.engine == "c":
            return self._host.score_features(f, rpm).scores.astype(np.float64)
        scores, _, _ = reference_scores(
            f,
            mean=np.asarray(b.feature_mean, np.float32),
            scale=np.asarray(b.feature_scale, np.float32),
            tflite=b.tflite_bytes(),
            input_scale=b.model.input_scale,
            input_zero_point=b.model.input_zero_point,
            output_scale=b.model.output_scale,
            output_zero_point=b.model.output_zero_point,
            standardisation=self.standardisation,
            speed_rpm=rpm,
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

"""The parity ladder: six rungs from the Keras model down to the device's C.

1. **float**: Keras float vs TFLite float (LiteRT) on standardised feature vectors:
   ``allclose(rtol=1e-4, atol=1e-4)``.
2. **int8 vs float**: the int8 model's score (Python reference, TFLM) against the float
   detector's score on the machine's windows (not the synthetic ones): the same
   over/under decision on >= 99.5 % of windows and Spearman rank correlation >= 0.99.
3. **engine**: the ``tflite-micro`` interpreter vs the C engine on every rung-2 input
   plus 2000 random int8 vectors: bit-exact.
4. **C vs Python**: C float32 features vs numpy float64, error
   ``|c - ref| / max(|ref|, 1) <= 1e-4``; the C pipeline's end-to-end scores vs the Python
   int8 score: equal to float32 rounding (``rtol 1e-4``) on windows whose int8 inputs are
   identical (both at the speed the pipeline reported for the window), identical
   over decisions, alarm lifecycle states and unknown-operating-point windows (state 3, the
   lifecycle not advanced) on all windows, the same two top features (largest squared
   errors) except where they are a near tie, and the C pipeline's ``speed_rpm`` vs
   :func:`vibration.learning.speed.window_speeds`: equal to ``1e-4`` relative (or both NaN)
   on >= 99 % of windows (the FFTs round differently, so a comb tie may break the other way;
   ``docs/features.md``). A speed-aware model's streams are pushed a second time at a
   deterministic external speed sweep (:func:`parity_speeds`: through the envelope, past both
   ends, every 7th window back to the estimate), set with ``tinypdm_pipeline_set_speed``
   before each window, so the speed-conditioned standardisation and the envelope are
   checked across the whole range.
5. **alarm lifecycle**: the C state machine (``tinypdm_alarm_step``) vs
   :class:`~vibration.learning.thresholds.AlarmLifecycle` on random score sequences with
   unknown-operating-point windows and acknowledgements: identical states and flags.
6. **severity**: the C velocity RMS (10 Hz - 1 kHz) vs the float64 reference
   (:mod:`vibration.learning.severity`), ``rtol 1e-4``, and identical ISO zones except
   within that tolerance of a zone boundary.

Each rung returns a :class:`RungResult` with its figures; :func:`run_ladder` runs all six.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from firmware_export.runtime.host_build import RESULT_COL as _COL
from firmware_export.runtime.scorer import (
    Standardisation,
    reference_errors,
    reference_scores,
    top_features,
)
from vibration.learning.features import FeatureConfig, frame_windows, window_features
from vibration.learning.severity import iso_zone, velocity_rms
from vibration.learning.speed import SpeedConfig, window_speeds
from vibration.learning.thresholds import (
    FLAG_EXTERNAL_SPEED,
    FLAG_UNKNOWN_OP,
    AlarmLifecycle,
    AlarmPolicy,
    alarm_lifecycle,
)

__all__ = [
    "RUNG_NAMES",
    "ParityStream",
    "RungResult",
    "feature_error",
    "load_streams",
    "parity_speeds",
    "run_ladder",
]

RUNG_NAMES = {
    1: "Keras float vs TFLite float",
    2: "TFLite int8 vs float",
    3: "tflite-micro vs C engine",
    4: "C features and scores vs Python",
    5: "C alarm lifecycle vs Python",
    6: "C velocity and ISO zone vs Python",
}
FLOAT_TOL = 1e-4
DECISION_AGREEMENT = 0.995
SPEARMAN_MIN = 0.99
FEATURE_TOL = 1e-4
SCORE_RTOL = 1e-4
SPEED_RTOL = 1e-4
SPEED_AGREEMENT = 0.99
N_RANDOM_VECTORS = 2000
N_LIFECYCLE_SEQUENCES = 20
LIFECYCLE_WINDOWS = 2000
VELOCITY_RTOL = 1e-4
TOP_TIE_RTOL = 1e-3


@dataclass(frozen=True)
class RungResult:
    """Outcome of one rung.

    Attributes
    ----------
    rung : int
        1..4.
    name : str
    passed : bool
    figures : dict
        The measured numbers (JSON types) and the bars they were held to.
    """

    rung: int
    name: str
    passed: bool
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rung": self.rung, "name": self.name, "passed": self.passed, **self.figures}


@dataclass(frozen=True, eq=False)
class ParityStream:
    """A contiguous stretch of raw samples to push through the pipeline.

    Attributes
    ----------
    name : str
    codes : ndarray of shape (n,), int16
        The scored axis.
    scale : float
        Physical units per LSB.
    synthetic : bool
        A generated signal (noise, tones, impacts, a dead sensor): checks the C against
        Python (rungs 1, 3, 4) but says nothing about int8 fidelity on a machine (rung 2).
    """

    name: str
    codes: NDArray[np.int16]
    scale: float
    synthetic: bool = False

    def physical(self) -> NDArray[np.float32]:
        return self.codes.astype(np.float32) * np.float32(self.scale)


def load_streams(
    paths: Sequence[str | os.PathLike[str]], config: FeatureConfig, max_windows: int = 400
) -> list[ParityStream]:
    """Contiguous segments of the recordings under ``paths`` (datasets or recordings).

    Each stream holds at most ``max_windows`` windows of its segment.

    Raises
    ------
    ModelError
        A recording's rate or axes do not fit ``config`` (a bundle for another config).
    DatasetError
        Not a dataset or recording.
    """
    from vibration.data.dataset import iter_recordings
    from vibration.learning.windows import check_sample_rate

    longest = config.window + (max_windows - 1) * config.hop
    streams = []
    for rec in iter_recordings(list(paths)):
        check_sample_rate(rec, config)
        samples = rec.samples()[:, config.axis]
        for k, (start, stop) in enumerate(rec.segments()):
            if stop - start < config.window:
                continue
            codes = np.array(samples[start : min(stop, start + longest)], dtype=np.int16)
            streams.append(ParityStream(f"{rec.name}#{k}", codes, float(rec.meta.scale)))
    return streams


def parity_speeds(n: int, envelope: tuple[float, float] | None) -> NDArray[np.float64] | None:
    """Speeds (float32 values, rpm) for ``n`` windows of a rung-4 stream, or None without
    an envelope.

    Geometric sweep from 15 % of the envelope's log-width below its low end to 15 % above
    its high end, every 7th window NaN (unknown): most windows inside, some outside.
    """
    if envelope is None:
        return None
    lo, hi = np.log(envelope[0]), np.log(envelope[1])
    t = np.linspace(-0.15, 1.15, n) if n > 1 else np.full(n, 0.5)
    rpm = np.exp(lo + t * (hi - lo))
    rpm[3::7] = np.nan
    return rpm.astype(np.float32).astype(np.float64)


def feature_error(c: NDArray[Any], ref: NDArray[Any]) -> NDArray[np.float64]:
    """``|c - ref| / max(|ref|, 1)`` elementwise (relative, absolute near 0)."""
    r = np.asarray(ref, dtype=np.float64)
    return np.abs(np.asarray(c, dtype=np.float64) - r) / np.maximum(np.abs(r), 1.0)


def _spearman(a: NDArray[Any], b: NDArray[Any]) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.array_equal(np.argsort(a), np.argsort(b)) else 0.0
    return float(spearmanr(a, b).statistic)


def rung1_float(keras_model: Any, float_tflite: bytes, z: NDArray[Any]) -> RungResult:
    """Keras float vs TFLite float on standardised vectors ``z`` of shape (n, d)."""
    from ai_edge_litert.interpreter import Interpreter

    x = np.asarray(z, dtype=np.float32)
    expected = np.asarray(keras_model(x, training=False), dtype=np.float64)
    interp = Interpreter(model_content=float_tflite)
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    i_out = interp.get_output_details()[0]["index"]
    got = np.empty_like(expected)
    for i, row in enumerate(x):
        interp.set_tensor(i_in, row[None, :])
        interp.invoke()
        got[i] = interp.get_tensor(i_out)[0]
    diff = np.abs(got - expected)
    ok = bool(np.all(diff <= FLOAT_TOL + FLOAT_TOL * np.abs(expected)))
    return RungResult(
        1,
        RUNG_NAMES[1],
        ok,
        {
            "windows": len(x),
            "max_abs_diff": float(diff.max(initial=0.0)),
            "rtol": FLOAT_TOL,
            "atol": FLOAT_TOL,
        },
    )


def rung2_int8(
    float_scores: NDArray[Any], int8_scores: NDArray[Any], threshold: float
) -> RungResult:
    """Same decisions >= 99.5 % and Spearman >= 0.99 between float and int8 scores."""
    f = np.asarray(float_scores, np.float64)
    q = np.asarray(int8_scores, np.float64)
    agree = float(np.mean((f > threshold) == (q > threshold))) if len(f) else 1.0
    rho = _spearman(f, q)
    rel = np.abs(q - f) / np.maximum(np.abs(f), 1e-12)
    ok = agree >= DECISION_AGREEMENT and rho >= SPEARMAN_MIN
    return RungResult(
        2,
        RUNG_NAMES[2],
        ok,
        {
            "windows": len(f),
            "decision_agreement": agree,
            "decision_min": DECISION_AGREEMENT,
            "spearman": rho,
            "spearman_min": SPEARMAN_MIN,
            "median_rel_score_diff": float(np.median(rel)) if len(rel) else 0.0,
            "windows_over_float": int(np.sum(f > threshold)),
            "windows_over_int8": int(np.sum(q > threshold)),
        },
    )


def rung3_engine(tflite: bytes, host: Any, q_in: NDArray[np.int8], seed: int = 0) -> RungResult:
    """TFLM interpreter vs C engine on ``q_in`` plus random vectors: bit-exact."""
    from firmware_export.runtime.interpreters import tflm_invoke

    rng = np.random.default_rng(seed)
    d = host.config["n_features"]
    x = np.concatenate(
        [
            np.asarray(q_in, np.int8).reshape(-1, d),
            rng.integers(-128, 128, (N_RANDOM_VECTORS, d)).astype(np.int8),
        ]
    )
    mismatches = int(np.count_nonzero(host.invoke(x) != tflm_invoke(tflite, x)))
    return RungResult(
        3,
        RUNG_NAMES[3],
        mismatches == 0,
        {
            "vectors": len(x),
            "real_vectors": len(x) - N_RANDOM_VECTORS,
            "mismatched_outputs": mismatches,
        },
    )


def rung4_c_vs_python(
    host: Any,
    streams: Sequence[ParityStream],
    config: FeatureConfig,
    *,
    mean: NDArray[Any],
    scale: NDArray[Any],
    tflite: bytes,
    model: Any,
    threshold: float,
    policy: AlarmPolicy,
    standardisation: Standardisation | None = None,
    speed: SpeedConfig | None = None,
) -> RungResult:
    """C features, the C pipeline's scores, speeds and decisions against the Python
    reference.

    Every stream is pushed as it comes (the device's own speed estimate); a speed-aware
    model's streams once more at :func:`parity_speeds` (external speeds). Scores are
    compared at the speed the pipeline reported for each window.
    """
    std = standardisation or Standardisation(
        mean=np.asarray(mean, np.float64), scale=np.asarray(scale, np.float64)
    )
    speed = speed or SpeedConfig()
    worst = 0.0
    n_windows = n_compared = n_input_diff = decision_diff = n_unknown = speed_diff = 0
    n_speed_windows = top_diff = n_ties = 0
    worst_score = 0.0
    for stream in streams:
        windows = frame_windows(stream.physical(), config).astype(np.float32)
        if len(windows) == 0:
            continue
        c_feats, _ = host.features(windows)
        ref_feats = window_features(windows, config)
        worst = max(worst, float(feature_error(c_feats, ref_feats).max()))
        ref_rpm = window_speeds(stream.physical(), config, speed)
        sweep = parity_speeds(len(windows), std.envelope)
        for external in (None, sweep) if sweep is not None else (None,):
            pipe = host.pipeline()
            pipe.set_scale(stream.scale)
            if external is None:
                rows = pipe.push(stream.codes)
                want_rpm = ref_rpm
            else:
                rows = pipe.push_at_speeds(stream.codes, external)
                want_rpm = np.where(np.isfinite(external), external, ref_rpm)
            if len(rows) != len(windows):
                return RungResult(
                    4,
                    RUNG_NAMES[4],
                    False,
                    {
                        "error": f"{stream.name}: pipeline "
                        f"gave {len(rows)} windows, framing gives {len(windows)}"
                    },
                )
            c_rpm = rows[:, _COL["speed_rpm"]]
            with np.errstate(invalid="ignore"):
                same_rpm = (np.isnan(c_rpm) & np.isnan(want_rpm)) | (
                    np.abs(c_rpm - want_rpm) <= SPEED_RTOL * np.abs(want_rpm)
                )
            speed_diff += int(np.sum(~same_rpm))
            n_speed_windows += len(windows)
            ref_scores, q_in, _, ref_sq = reference_errors(
                ref_feats,
                mean=mean,
                scale=scale,
                tflite=tflite,
                input_scale=model.input_scale,
                input_zero_point=model.input_zero_point,
                output_scale=model.output_scale,
                output_zero_point=model.output_zero_point,
                standardisation=std,
                speed_rpm=c_rpm,
            )
            c_trace = host.score_features(c_feats, c_rpm)
            same_inputs = np.all(c_trace.q_in == q_in, axis=1)
            c_scores = rows[:, _COL["score"]]
            if not np.array_equal(c_scores, c_trace.scores):
                # The streaming pipeline must see exactly the windows of the batch path.
                return RungResult(
                    4,
                    RUNG_NAMES[4],
                    False,
                    {"error": f"{stream.name}: pipeline scores differ from the batch path"},
                )
            rel = np.abs(c_scores - ref_scores) / np.maximum(ref_scores, 1e-12)
            if np.any(same_inputs):
                worst_score = max(worst_score, float(rel[same_inputs].max()))
            thr = float(np.float32(threshold))
            unknown = std.unknown_operating_point(c_rpm, len(windows))
            ref_over = (ref_scores > thr) & ~unknown
            c_over = rows[:, _COL["over"]] > 0
            ref_states = alarm_lifecycle(ref_scores, threshold, policy, unknown=unknown)
            c_flags = rows[:, _COL["flags"]].astype(np.uint8)
            ref_ext = np.zeros(len(windows), bool) if external is None else np.isfinite(external)
            decision_diff += int(
                np.sum(ref_over != c_over)
                + np.sum(ref_states != rows[:, _COL["state"]])
                + np.sum((ref_states == 2) != (rows[:, _COL["alarm"]] > 0))
                + np.sum(unknown != ((c_flags & FLAG_UNKNOWN_OP) > 0))
                + np.sum(ref_ext != ((c_flags & FLAG_EXTERNAL_SPEED) > 0))
            )
            n_unknown += int(np.sum(unknown))
            ref_top = top_features(ref_sq)
            c_top = rows[:, [_COL["top_feature_1"], _COL["top_feature_2"]]].astype(np.uint8)
            tie = _near_tie(ref_sq)
            differ = np.any(ref_top != c_top, axis=1) | np.any(c_trace.top != c_top, axis=1)
            top_diff += int(np.sum(differ & same_inputs & ~tie))
            n_ties += int(np.sum(tie))
            n_windows += len(windows)
            n_compared += int(np.sum(same_inputs))
            n_input_diff += int(np.sum(~same_inputs))
    speed_ok = speed_diff <= (1.0 - SPEED_AGREEMENT) * n_speed_windows
    ok = worst <= FEATURE_TOL and worst_score <= SCORE_RTOL and decision_diff == 0
    ok = ok and top_diff == 0 and speed_ok
    return RungResult(
        4,
        RUNG_NAMES[4],
        ok,
        {
            "streams": len(streams),
            "windows": n_windows,
            "max_feature_error": worst,
            "feature_tol": FEATURE_TOL,
            "max_score_rel_diff": worst_score,
            "score_rtol": SCORE_RTOL,
            "windows_with_input_step_diff": n_input_diff,
            "windows_unknown_operating_point": n_unknown,
            "speed_sweep": std.envelope is not None,
            "decision_mismatches": decision_diff,
            "top_feature_mismatches": top_diff,
            "top_feature_near_ties": n_ties,
            "top_tie_rtol": TOP_TIE_RTOL,
            "speed_mismatches": speed_diff,
            "speed_rtol": SPEED_RTOL,
            "speed_agreement_min": SPEED_AGREEMENT,
        },
    )


def _near_tie(sq: NDArray[Any]) -> NDArray[np.bool_]:
    """Rows whose 1st/2nd or 2nd/3rd largest squared errors are within TOP_TIE_RTOL: there
    float32 and float64 may rank them differently."""
    e = -np.sort(-np.asarray(sq, np.float64), axis=1)[:, :3]
    if e.shape[1] < 3:
        e = np.concatenate([e, np.full((len(e), 3 - e.shape[1]), -1.0)], axis=1)
    close = np.abs(e[:, :-1] - e[:, 1:]) <= TOP_TIE_RTOL * np.maximum(np.abs(e[:, :-1]), 1e-12)
    return np.asarray(np.any(close, axis=1))


def rung5_lifecycle(
    host: Any,
    threshold: float,
    policy: AlarmPolicy,
    extra_scores: Sequence[NDArray[Any]] = (),
    seed: int = 0,
) -> RungResult:
    """C alarm lifecycle vs Python on random sequences (plus ``extra_scores``): bit-identical."""
    rng = np.random.default_rng(seed)
    thr = float(np.float32(threshold))
    clear = policy.clear_level(threshold)
    sequences: list[tuple[NDArray[Any], NDArray[Any], NDArray[Any]]] = []
    for i in range(N_LIFECYCLE_SEQUENCES):
        n = LIFECYCLE_WINDOWS
        level = np.repeat(rng.choice([0.3, 0.9, 1.05, 2.0], size=n // 40 + 1), 40)[:n]
        scores = (thr * level * np.exp(rng.normal(0, 0.1, n))).astype(np.float32)
        edge = rng.random(n) < 0.03
        scores[edge] = rng.choice(np.array([thr, clear], np.float32), size=int(edge.sum()))
        unknown = rng.random(n) < (0.2 if i % 2 else 0.02)
        ack = rng.random(n) < 0.01
        sequences.append((scores, unknown, ack))
    for s in extra_scores:
        z = np.zeros(len(s), bool)
        sequences.append((np.asarray(s, np.float32), z, z))
    mismatches = windows = alarm_windows = 0
    for scores, unknown, ack in sequences:
        c_states, c_flags = host.alarm_run(scores, threshold, unknown, ack)
        machine = AlarmLifecycle(policy, threshold)
        p_states = np.empty(len(scores), np.uint8)
        p_flags = np.empty(len(scores), np.uint8)
        for i, (sc, u, a) in enumerate(zip(scores.tolist(), unknown, ack, strict=True)):
            if a:
                machine.acknowledge()
            p_states[i] = machine.step(sc, bool(u))
            p_flags[i] = machine.flags
        mismatches += int(np.sum((c_states != p_states) | (c_flags != p_flags)))
        windows += len(scores)
        alarm_windows += int(np.sum(c_states == 2))
    return RungResult(
        5,
        RUNG_NAMES[5],
        mismatches == 0,
        {
            "sequences": len(sequences),
            "windows": windows,
            "alarm_windows": alarm_windows,
            "state_or_flag_mismatches": mismatches,
        },
    )


def rung6_severity(host: Any, streams: Sequence[ParityStream], config: FeatureConfig) -> RungResult:
    """C velocity RMS and ISO zone vs the float64 reference on every stream's windows."""
    worst = 0.0
    zone_diff = n_windows = 0
    to_ms2 = host.float_config["units_to_ms2"]
    fc = host.float_config
    limits = (fc["zone_ab"], fc["zone_bc"], fc["zone_cd"])
    for stream in streams:
        windows = frame_windows(stream.physical(), config).astype(np.float32)
        if len(windows) == 0:
            continue
        _, stats = host.features(windows)
        ref = velocity_rms(windows, config)
        rel = np.abs(stats[:, 5] - ref) / np.maximum(np.abs(ref), 1e-30)
        worst = max(worst, float(rel.max()))
        if to_ms2 > 0 and limits[0] > 0:
            c_mm_s = stats[:, 5].astype(np.float64) * to_ms2 * 1000.0
            ref_mm_s = ref * to_ms2 * 1000.0
            near = np.zeros(len(ref), bool)
            for b in limits:
                near |= np.abs(ref_mm_s - b) <= VELOCITY_RTOL * b
            differ = iso_zone(c_mm_s, limits) != iso_zone(ref_mm_s, limits)
            zone_diff += int(np.sum(differ & ~near))
        n_windows += len(windows)
    return RungResult(
        6,
        RUNG_NAMES[6],
        worst <= VELOCITY_RTOL and zone_diff == 0,
        {
            "windows": n_windows,
            "max_velocity_rel_diff": worst,
            "velocity_rtol": VELOCITY_RTOL,
            "zone_mismatches": zone_diff,
        },
    )


def run_ladder(
    *,
    host: Any,
    keras_model: Any,
    detector: Any,
    float_tflite: bytes,
    int8_tflite: bytes,
    model: Any,
    config: FeatureConfig,
    mean: NDArray[Any],
    scale: NDArray[Any],
    threshold: float,
    policy: AlarmPolicy,
    features: NDArray[Any],
    streams: Sequence[ParityStream],
    standardisation: Standardisation | None = None,
    speeds: NDArray[Any] | None = None,
    speed: SpeedConfig | None = None,
) -> list[RungResult]:
    """All six rungs.

    Parameters
    ----------
    host : HostLibrary
        The bundle's C, built for this machine.
    keras_model, detector
        The float model and its detector (float scores).
    model : Int8Model
    mean, scale : ndarray of shape (d,)
        Standardisation as the firmware holds it (float32 values).
    features : ndarray of shape (n, d)
        Feature vectors for rungs 1-3 (normal training windows, plus those of ``streams``).
    streams : sequence of ParityStream
        Raw samples for rung 4 (and, through their features, rungs 1 and 3, and rung 2
        unless synthetic).
    standardisation : Standardisation or None
        The model's speed line, envelope and one-sided scoring (float32 values); None:
        two-sided ``(f - mean) / scale``, speed-unaware.
    speeds : ndarray of shape (n,) or None
        Shaft speed of each of ``features`` (NaN: unknown); None: all unknown.
    speed : SpeedConfig, optional
        The estimator constants the bundle was generated with (default: the defaults).
    """
    m64, s64 = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
    std = standardisation or Standardisation(mean=m64, scale=s64)
    feats = [np.asarray(features, np.float64).reshape(-1, config.n_features)]
    rpms = [
        np.full(len(feats[0]), np.nan)
        if speeds is None
        else np.asarray(speeds, np.float64).reshape(-1)
    ]
    real = [np.ones(len(feats[0]), bool)]
    for s in streams:
        w = frame_windows(s.physical(), config)
        if len(w):
            feats.append(window_features(w, config))
            sweep = parity_speeds(len(w), std.envelope)
            rpms.append(np.full(len(w), np.nan) if sweep is None else sweep)
            real.append(np.full(len(w), not s.synthetic))
    f = np.concatenate(feats)
    rpm = np.concatenate(rpms)
    machine = np.concatenate(real)
    z = std.inputs(f, rpm)
    r1 = rung1_float(keras_model, float_tflite, z)
    int8_scores, q_in, _ = reference_scores(
        f,
        mean=m64,
        scale=s64,
        tflite=int8_tflite,
        input_scale=model.input_scale,
        input_zero_point=model.input_zero_point,
        output_scale=model.output_scale,
        output_zero_point=model.output_zero_point,
        standardisation=std,
        speed_rpm=rpm,
    )
    float_scores = (
        detector.anomaly_score(f[machine], rpm[machine])
        if std.speed_aware
        else detector.anomaly_score(f[machine])
    )
    r2 = rung2_int8(float_scores, int8_scores[machine], float(np.float32(threshold)))
    r3 = rung3_engine(int8_tflite, host, q_in)
    r4 = rung4_c_vs_python(
        host,
        streams,
        config,
        mean=m64,
        scale=s64,
        tflite=int8_tflite,
        model=model,
        threshold=threshold,
        policy=policy,
        standardisation=std,
        speed=speed,
    )
    r5 = rung5_lifecycle(host, threshold, policy, extra_scores=[int8_scores])
    r6 = rung6_severity(host, streams, config)
    return [r1, r2, r3, r4, r5, r6]

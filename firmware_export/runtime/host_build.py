"""Compile the C library for this machine and call it through ctypes.

``build_host_library`` compiles a C tree (see
:func:`firmware_export.exporter.sources.write_c_sources`)
with ``gcc -std=c99 -Wall -Wextra -Werror -O2`` (plus a few stricter warnings) into a
shared library; :class:`HostLibrary` wraps it with numpy in and out. Tests, the parity
ladder and the shadow-mode scorer use it: the numbers are the device's numbers, computed
by the same C on the host's FPU (IEEE binary32 like a Cortex-M4F's).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from firmware_export.errors import ExportError
from firmware_export.runtime.library import LIBRARY_DIR, REQUIRED_FLAGS, protocol_defines

__all__ = [
    "CFLAGS",
    "RESULT_COL",
    "RESULT_FIELDS",
    "HostDecoder",
    "HostLibrary",
    "HostPipeline",
    "ScoreTrace",
    "SpeedTrace",
    "build_host_library",
]

#: The flags every C file must compile clean with on this host (:data:`REQUIRED_FLAGS`
#: and ``-O2``).
CFLAGS = (*REQUIRED_FLAGS, "-O2")
_STRICT = (
    "-Wpedantic",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wdouble-promotion",
    "-Wcast-align",
    "-Wundef",
)
_HOST_SHIM = LIBRARY_DIR / "host" / "tinypdm_host.c"

#: Columns of :meth:`HostPipeline.push` results.
RESULT_FIELDS = (
    "sample_index",
    "score",
    "threshold",
    "rms",
    "kurtosis",
    "crest",
    "over",
    "alarm",
    "state",
    "flags",
    "speed_rpm",
    "velocity_rms_mm_s",
    "iso_zone",
    "top_feature_1",
    "top_feature_2",
)
#: Column index of each :data:`RESULT_FIELDS` name.
RESULT_COL: dict[str, int] = {name: i for i, name in enumerate(RESULT_FIELDS)}
_COUNTERS = (
    "frames",
    "crc_errors",
    "resyncs",
    "dropped_frames",
    "oversize",
    "unknown",
    "wrong_version",
    "reboots",
)


def build_host_library(
    src_dir: Path,
    out_dir: Path,
    *,
    cc: str = "gcc",
    defines: tuple[str, ...] = (),
    name: str = "libtinypdm_host.so",
) -> Path:
    """Compile every ``.c`` of ``src_dir`` plus the host helpers into a shared library.

    Parameters
    ----------
    src_dir : Path
        A flat C tree: library and generated files.
    out_dir : Path
        Where the library goes (created if needed).
    cc : str
        The compiler.
    defines : tuple of str
        ``NAME=VALUE`` preprocessor definitions (e.g. ``TINYPDM_SINGLE_ROUNDING=1``).
        ``TINYPDM_PROTOCOL_VERSION`` defaults to this tinypdm's
        (:func:`~firmware_export.runtime.library.protocol_defines`).

    Returns
    -------
    Path
        The ``.so``.

    Raises
    ------
    ExportError
        No compiler, or the code does not compile clean (first diagnostic in the message).
    """
    compiler = shutil.which(cc)
    if compiler is None:
        raise ExportError(f"C compiler {cc!r} not found (Debian package gcc)")
    src_dir = Path(src_dir)
    sources = sorted(str(p) for p in src_dir.glob("*.c"))
    if not sources:
        raise ExportError(f"no C sources in {str(src_dir)!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / name
    given = {d.split("=", 1)[0] for d in defines}
    defines = (
        *defines,
        *(f"{k}={v}" for k, v in protocol_defines().items() if k not in given),
    )
    cmd = [
        compiler,
        *CFLAGS,
        *_STRICT,
        "-fPIC",
        "-shared",
        f"-I{src_dir}",
        *(f"-D{d}" for d in defines),
        *sources,
        str(_HOST_SHIM),
        "-o",
        str(lib),
        "-lm",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "error" in ln] or proc.stderr.splitlines()
        first = lines[0].strip() if lines else f"exit status {proc.returncode}"
        raise ExportError(f"host build failed: {first}")
    return lib


@dataclass(frozen=True, eq=False)
class ScoreTrace:
    """Scores and intermediates of :meth:`HostLibrary.score_features`.

    Attributes
    ----------
    scores : ndarray of shape (n,), float32
    z : ndarray of shape (n, n_features), float32
    q_in, q_out : ndarray of shape (n, n_features), int8
    top : ndarray of shape (n, 2), uint8
        Indices of the largest and second largest squared reconstruction error (255 none).
    """

    scores: NDArray[np.float32]
    z: NDArray[np.float32]
    q_in: NDArray[np.int8]
    q_out: NDArray[np.int8]
    top: NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class SpeedTrace:
    """Output of :meth:`HostLibrary.speed`.

    Attributes
    ----------
    window_rpm : ndarray of shape (n_windows,)
        ``tinypdm_speed_rpm`` after each window's last sample (NaN: unknown).
    at : ndarray of shape (n_est,), int64
        Raw sample index of each estimate.
    raw, reported : ndarray of shape (n_est,)
        The single estimate and the running median, rpm.
    """

    window_rpm: NDArray[np.float64]
    at: NDArray[np.int64]
    raw: NDArray[np.float64]
    reported: NDArray[np.float64]


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


class HostLibrary:
    """A compiled C tree, called with numpy arrays.

    Parameters
    ----------
    path : Path
        The shared library from :func:`build_host_library`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        lib = ctypes.CDLL(str(self.path))
        self._lib = lib
        u32, vp, sz = ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t
        sigs: dict[str, tuple[list[type], type | None]] = {
            "tinypdm_host_sizeof": ([u32], u32),
            "tinypdm_host_result_cols": ([], u32),
            "tinypdm_host_config": ([vp, u32], None),
            "tinypdm_host_invoke_batch": ([vp, vp, u32], None),
            "tinypdm_host_features_batch": ([vp, u32, vp, vp], None),
            "tinypdm_host_score_batch": ([vp, vp, u32, vp, vp, vp, vp, vp], None),
            "tinypdm_host_alarm_run": ([vp, vp, vp, u32, ctypes.c_float, vp, vp], None),
            "tinypdm_host_decoder_control": ([vp, vp], ctypes.c_int),
            "tinypdm_host_float_config": ([vp, u32], None),
            "tinypdm_host_result_frame": ([vp, ctypes.c_uint64, u32, vp, sz], sz),
            "tinypdm_pipeline_set_units": ([vp, ctypes.c_char_p], None),
            "tinypdm_pipeline_acknowledge": ([vp], ctypes.c_uint8),
            "tinypdm_pipeline_control": ([vp, vp], ctypes.c_int),
            "tinypdm_units_to_ms2": ([ctypes.c_char_p], ctypes.c_float),
            "tinypdm_frame_encode_control": ([vp, sz, vp, vp], sz),
            "tinypdm_host_pipeline_push": ([vp, vp, u32, u32, vp, u32], ctypes.c_int),
            "tinypdm_host_decoder_feed": ([vp, vp, u32, vp], ctypes.c_int),
            "tinypdm_host_speed_config": ([vp, u32], None),
            "tinypdm_host_speed_decimate": ([vp, u32, vp, u32], u32),
            "tinypdm_host_speed_run": (
                [vp, u32, vp, u32, vp, vp, vp, u32, ctypes.c_float],
                ctypes.c_int,
            ),
            "tinypdm_host_decoder_state": ([vp, vp], None),
            "tinypdm_host_decoder_payload": ([vp], vp),
            "tinypdm_host_decoder_samples": ([vp], vp),
            "tinypdm_pipeline_init": ([vp], None),
            "tinypdm_pipeline_set_scale": ([vp, ctypes.c_float], None),
            "tinypdm_pipeline_set_speed": ([vp, ctypes.c_float], None),
            "tinypdm_frame_decoder_init": ([vp], None),
            "tinypdm_crc32": ([vp, sz], u32),
            "tinypdm_cobs_encode": ([vp, sz, vp, sz], sz),
            "tinypdm_cobs_decode": ([vp, sz, vp, sz], sz),
            "tinypdm_frame_encode": ([vp, sz, vp, ctypes.c_uint8, vp, ctypes.c_uint16], sz),
            "tinypdm_frame_encode_samples": (
                [vp, sz, vp, ctypes.c_uint64, vp, ctypes.c_uint16, ctypes.c_uint8],
                sz,
            ),
            "tinypdm_frame_encode_text": ([vp, sz, vp, ctypes.c_uint8, vp, sz], sz),
            "tinypdm_frame_encode_score": ([vp, sz, vp, vp], sz),
            "tinypdm_frame_encode_hello": ([vp, sz, vp, vp], sz),
            "tinypdm_mul_by_quantized_multiplier": (
                [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32],
                ctypes.c_int32,
            ),
        }
        for fname, (argtypes, restype) in sigs.items():
            fn = getattr(lib, fname)
            fn.argtypes = argtypes
            fn.restype = restype
        cfg = np.zeros(19, dtype=np.int64)
        lib.tinypdm_host_config(_ptr(cfg), cfg.size)
        keys = (
            "window",
            "hop",
            "n_bands",
            "n_features",
            "axis",
            "n_layers",
            "alarm_k",
            "alarm_n",
            "input_zero_point",
            "output_zero_point",
            "max_hidden",
            "scratch_bytes",
            "tflm_arena_bytes",
            "alarm_clear_windows",
            "alarm_min_on_windows",
            "alarm_latch",
            "vel_bin_lo",
            "vel_bin_hi",
            "protocol_version",
        )
        #: Integer constants of the generated header.
        self.config: dict[str, int] = {k: int(v) for k, v in zip(keys, cfg, strict=True)}
        cols = int(lib.tinypdm_host_result_cols())
        if cols != len(RESULT_FIELDS):
            raise ExportError(
                f"the host shim writes {cols} result columns, RESULT_FIELDS names "
                f"{len(RESULT_FIELDS)}: {str(_HOST_SHIM)!r} and host_build.py disagree"
            )
        fcfg = np.zeros(6, dtype=np.float32)
        lib.tinypdm_host_float_config(_ptr(fcfg), fcfg.size)
        fkeys = ("alarm_clear_ratio", "units_to_ms2", "vel_norm", "zone_ab", "zone_bc", "zone_cd")
        #: float32 constants of the generated header (as Python floats).
        self.float_config: dict[str, float] = {
            k: float(v) for k, v in zip(fkeys, fcfg, strict=True)
        }

    def sizeof(self, what: str) -> int:
        """``sizeof`` of ``pipeline``, ``decoder``, ``result``, ``hello``, ``score`` or
        ``speed``."""
        index = ("pipeline", "decoder", "result", "hello", "score", "speed").index(what)
        return int(self._lib.tinypdm_host_sizeof(index))

    # ---- model and features -----------------------------------------------------------------
    def invoke(self, q_in: ArrayLike) -> NDArray[np.int8]:
        """int8 model on a batch: (n, n_features) int8 -> (n, n_features) int8."""
        nf = self.config["n_features"]
        x = np.ascontiguousarray(q_in, dtype=np.int8)
        if x.ndim != 2 or x.shape[1] != nf:
            raise ValueError(f"q_in must have shape (n, {nf}), got {x.shape!r}")
        out = np.empty_like(x)
        self._lib.tinypdm_host_invoke_batch(_ptr(x), _ptr(out), x.shape[0])
        return out

    def mul_by_quantized_multiplier(self, x: int, multiplier: int, shift: int) -> int:
        """The C ``tinypdm_mul_by_quantized_multiplier``."""
        return int(self._lib.tinypdm_mul_by_quantized_multiplier(x, multiplier, shift))

    def features(self, windows: ArrayLike) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """C features of windows in physical units.

        Parameters
        ----------
        windows : array_like of shape (n, window), converted to float32

        Returns
        -------
        features : ndarray of shape (n, n_features), float32
        stats : ndarray of shape (n, 6), float32
            mean, m2, rms, kurtosis, crest, velocity (RMS 10 Hz - 1 kHz, units x s).
        """
        n_win = self.config["window"]
        w = np.ascontiguousarray(windows, dtype=np.float32)
        if w.ndim != 2 or w.shape[1] != n_win:
            raise ValueError(f"windows must have shape (n, {n_win}), got {w.shape!r}")
        feats = np.empty((w.shape[0], self.config["n_features"]), dtype=np.float32)
        stats = np.empty((w.shape[0], 6), dtype=np.float32)
        self._lib.tinypdm_host_features_batch(_ptr(w), w.shape[0], _ptr(feats), _ptr(stats))
        return feats, stats

    def score_features(self, features: ArrayLike, speed_rpm: ArrayLike | None = None) -> ScoreTrace:
        """C scoring of feature vectors (standardise, quantise, model, score).

        ``speed_rpm``: shape (n,) speeds (float32; NaN unknown) for
        ``tinypdm_score_features_at``; None: ``tinypdm_score_features`` (unknown speed).
        """
        nf = self.config["n_features"]
        f = np.ascontiguousarray(features, dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != nf:
            raise ValueError(f"features must have shape (n, {nf}), got {f.shape!r}")
        n = f.shape[0]
        rpm = None
        if speed_rpm is not None:
            rpm = np.ascontiguousarray(np.broadcast_to(speed_rpm, (n,)), dtype=np.float32)
        scores = np.empty(n, np.float32)
        z = np.empty((n, nf), np.float32)
        q_in = np.empty((n, nf), np.int8)
        q_out = np.empty((n, nf), np.int8)
        top = np.empty((n, 2), np.uint8)
        self._lib.tinypdm_host_score_batch(
            _ptr(f),
            None if rpm is None else _ptr(rpm),
            n,
            _ptr(scores),
            _ptr(z),
            _ptr(q_in),
            _ptr(q_out),
            _ptr(top),
        )
        return ScoreTrace(scores, z, q_in, q_out, top)

    def alarm_run(
        self,
        scores: ArrayLike,
        threshold: float,
        unknown: ArrayLike | None = None,
        acknowledge: ArrayLike | None = None,
    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """The C alarm lifecycle (the generated policy) over float32 scores.

        Returns
        -------
        states, flags : ndarray of shape (n,), uint8
            ``tinypdm_alarm_step`` results and the latched flag bit after each window.
        """
        s = np.ascontiguousarray(scores, dtype=np.float32)
        n = s.shape[0]
        unk = np.ascontiguousarray(
            np.zeros(n, bool) if unknown is None else unknown, dtype=np.uint8
        )
        ack = np.ascontiguousarray(
            np.zeros(n, bool) if acknowledge is None else acknowledge, dtype=np.uint8
        )
        if s.ndim != 1 or unk.shape != s.shape or ack.shape != s.shape:
            raise ValueError(f"scores, unknown, acknowledge must have shape (n,), got {s.shape!r}")
        states = np.empty(n, np.uint8)
        flags = np.empty(n, np.uint8)
        self._lib.tinypdm_host_alarm_run(
            _ptr(s), _ptr(unk), _ptr(ack), n, float(threshold), _ptr(states), _ptr(flags)
        )
        return states, flags

    def units_to_ms2(self, units: str) -> float:
        """The C ``tinypdm_units_to_ms2`` (0.0: unknown units)."""
        raw = units.encode("ascii")[:8].ljust(8, b"\0")
        return float(self._lib.tinypdm_units_to_ms2(raw))

    @property
    def speed_config(self) -> dict[str, float]:
        """The generated ``TINYPDM_SPEED_*`` constants (see :func:`speed_plan`)."""
        keys = (
            "enabled",
            "q",
            "taps_per_phase",
            "r",
            "q2",
            "buffer",
            "hop",
            "median",
            "harmonics",
            "cand_first",
            "n_cand",
            "max_bin",
            "rpm_per_step",
            "rate_hz",
        )
        out = np.zeros(len(keys), dtype=np.float64)
        self._lib.tinypdm_host_speed_config(_ptr(out), out.size)
        return dict(zip(keys, out.tolist(), strict=True))

    def speed_decimate(self, x: ArrayLike) -> NDArray[np.float32]:
        """The decimated samples a fresh ``tinypdm_speed_t`` makes from ``x`` (float32)."""
        xs = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
        cap = xs.size // max(1, int(self.speed_config["q"])) + 1
        out = np.zeros(cap, dtype=np.float32)
        got = int(self._lib.tinypdm_host_speed_decimate(_ptr(xs), xs.size, _ptr(out), cap))
        return out[: min(got, cap)]

    def speed(self, x: ArrayLike, external_rpm: float = 0.0) -> SpeedTrace:
        """Run a fresh ``tinypdm_speed_t`` over one contiguous signal.

        Parameters
        ----------
        x : array_like of shape (n,)
            Physical units, converted to float32 (what the pipeline pushes).
        external_rpm : float
            Set as the external speed before the first sample when > 0.

        Returns
        -------
        SpeedTrace
            Per window of the header's window/hop grid and per estimate.
        """
        xs = np.ascontiguousarray(x, dtype=np.float32)
        if xs.ndim != 1:
            raise ValueError(f"x must have shape (n,), got {xs.shape!r}")
        window, hop = self.config["window"], self.config["hop"]
        n_win = max(0, (xs.size - window) // hop + 1)
        rpm = np.full(max(n_win, 1), np.nan)
        buf = int(self.speed_config["buffer"] * self.speed_config["q"])
        cap = xs.size // max(1, int(self.speed_config["q"])) + 1 if buf else 1
        at, raw, rep = (np.zeros(cap) for _ in range(3))
        got = self._lib.tinypdm_host_speed_run(
            _ptr(xs),
            xs.size,
            _ptr(rpm),
            n_win,
            _ptr(at),
            _ptr(raw),
            _ptr(rep),
            cap,
            float(external_rpm),
        )
        k = min(got, cap)
        return SpeedTrace(rpm[:n_win], at[:k].astype(np.int64), raw[:k], rep[:k])

    def pipeline(self) -> HostPipeline:
        """A fresh ``tinypdm_pipeline_t``."""
        return HostPipeline(self)

    # ---- protocol -------------------------------------------------------------------------
    def crc32(self, data: bytes) -> int:
        buf = np.frombuffer(bytes(data) or b"\0", dtype=np.uint8)
        return int(self._lib.tinypdm_crc32(_ptr(buf), len(data)))

    def cobs_encode(self, data: bytes) -> bytes:
        src = np.frombuffer(bytes(data) or b"\0", dtype=np.uint8)
        out = np.zeros(len(data) + len(data) // 254 + 2, dtype=np.uint8)
        n = self._lib.tinypdm_cobs_encode(_ptr(src), len(data), _ptr(out), out.size)
        if n == 0:
            raise ValueError("COBS output buffer too small")
        return out[:n].tobytes()

    def cobs_decode(self, data: bytes) -> bytes | None:
        """Decoded bytes, or None when ``data`` is not valid COBS."""
        src = np.frombuffer(bytes(data) or b"\0", dtype=np.uint8)
        out = np.zeros(len(data) + 1, dtype=np.uint8)
        n = self._lib.tinypdm_cobs_decode(_ptr(src), len(data), _ptr(out), out.size)
        if n == ctypes.c_size_t(-1).value:
            return None
        return out[:n].tobytes()

    def _encode(self, call: str, seq: int, *args: object, payload_len: int = 2048) -> bytes:
        out = np.zeros(payload_len + 12 + (payload_len + 12) // 254 + 2, dtype=np.uint8)
        s = ctypes.c_uint32(seq)
        n = getattr(self._lib, call)(_ptr(out), out.size, ctypes.byref(s), *args)
        if n == 0:
            raise ValueError(f"{call} refused the frame")
        if s.value != (seq + 1) & 0xFFFFFFFF:
            raise AssertionError("seq was not incremented")
        return out[:n].tobytes()

    def encode_frame(self, seq: int, ftype: int, payload: bytes) -> bytes:
        p = np.frombuffer(bytes(payload) or b"\0", dtype=np.uint8)
        return self._encode("tinypdm_frame_encode", seq, ftype, _ptr(p), len(payload))

    def encode_samples(self, seq: int, t_us: int, samples: ArrayLike) -> bytes:
        """``samples`` of shape (n, axes) int16."""
        s = np.ascontiguousarray(samples, dtype=np.int16)
        if s.ndim == 1:
            s = s.reshape(-1, 1)
        return self._encode(
            "tinypdm_frame_encode_samples", seq, t_us, _ptr(s), s.shape[0], s.shape[1]
        )

    def encode_text(self, seq: int, level: int, text: bytes) -> bytes:
        t = np.frombuffer(bytes(text) or b"\0", dtype=np.uint8)
        return self._encode("tinypdm_frame_encode_text", seq, level, _ptr(t), len(text))

    def encode_score(
        self,
        seq: int,
        t_us: int,
        score: float,
        threshold: float,
        rms: float,
        kurtosis: float,
        alarm: bool,
        over: bool,
    ) -> bytes:
        msg = np.zeros(self.sizeof("score"), dtype=np.uint8)
        # tinypdm_score_msg_t: u64 t_us; f32 score, threshold, rms, kurtosis; u8 alarm, over
        msg[0:8] = np.frombuffer(np.uint64(t_us).tobytes(), np.uint8)
        msg[8:24] = np.frombuffer(
            np.array([score, threshold, rms, kurtosis], np.float32).tobytes(), np.uint8
        )
        msg[24], msg[25] = int(bool(alarm)), int(bool(over))
        return self._encode("tinypdm_frame_encode_score", seq, _ptr(msg))

    def encode_score_v2(self, seq: int, fields: dict[str, float]) -> bytes:
        """SCORE frame from a ``tinypdm_score_msg_t`` given by field name (v2 fields included;
        missing ones are 0)."""
        # u64 t_us; f32 score, threshold, rms, kurtosis; u8 alarm, over, state, flags;
        # f32 speed_rpm, velocity_rms_mm_s; u8 iso_zone, top_feature_1, top_feature_2
        dtype = np.dtype(
            [
                ("t_us", "<u8"),
                ("score", "<f4"),
                ("threshold", "<f4"),
                ("rms", "<f4"),
                ("kurtosis", "<f4"),
                ("alarm", "u1"),
                ("over", "u1"),
                ("state", "u1"),
                ("flags", "u1"),
                ("speed_rpm", "<f4"),
                ("velocity_rms_mm_s", "<f4"),
                ("iso_zone", "u1"),
                ("top_feature_1", "u1"),
                ("top_feature_2", "u1"),
            ]
        )
        rec = np.zeros(1, dtype=dtype)
        for name, value in fields.items():
            rec[name] = value
        msg = np.zeros(self.sizeof("score"), dtype=np.uint8)
        msg[: dtype.itemsize] = np.frombuffer(rec.tobytes(), np.uint8)
        return self._encode("tinypdm_frame_encode_score", seq, _ptr(msg))

    def encode_result(self, seq: int, t_us: int, row: ArrayLike) -> bytes:
        """SCORE frame of a :meth:`HostPipeline.push` row via ``tinypdm_result_to_score``."""
        r = np.ascontiguousarray(row, dtype=np.float64)
        if r.shape != (len(RESULT_FIELDS),):
            raise ValueError(f"row must have shape ({len(RESULT_FIELDS)},), got {r.shape!r}")
        out = np.zeros(256, dtype=np.uint8)
        n = self._lib.tinypdm_host_result_frame(_ptr(r), t_us, seq, _ptr(out), out.size)
        if n == 0:
            raise ValueError("tinypdm_frame_encode_score refused the frame")
        return out[:n].tobytes()

    def encode_control(self, seq: int, command: int, value: float) -> bytes:
        """CONTROL frame (``tinypdm_control_t``: u8 command, f32 value at offset 4)."""
        msg = np.zeros(8, dtype=np.uint8)
        msg[0] = command
        msg[4:8] = np.frombuffer(np.float32(value).tobytes(), np.uint8)
        return self._encode("tinypdm_frame_encode_control", seq, _ptr(msg))

    def encode_hello(
        self,
        seq: int,
        *,
        axes: int,
        flags: int,
        samples_per_frame: int,
        sample_rate_hz: float,
        scale: float,
        units: str,
        device_id: str,
        firmware_version: str,
        model_sha256: bytes,
    ) -> bytes:
        h = np.zeros(self.sizeof("hello"), dtype=np.uint8)
        h[0], h[1] = axes, flags
        h[2:4] = np.frombuffer(np.uint16(samples_per_frame).tobytes(), np.uint8)
        h[4:12] = np.frombuffer(np.array([sample_rate_hz, scale], np.float32).tobytes(), np.uint8)
        for off, size, text in ((12, 8, units), (20, 16, device_id), (36, 16, firmware_version)):
            raw = text.encode("ascii")[:size]
            h[off : off + len(raw)] = np.frombuffer(raw, np.uint8) if raw else h[off:off]
        h[52:84] = np.frombuffer(bytes(model_sha256), np.uint8)
        return self._encode("tinypdm_frame_encode_hello", seq, _ptr(h))

    def decoder(self) -> HostDecoder:
        """A fresh ``tinypdm_frame_decoder_t``."""
        return HostDecoder(self)


class _ControlMsg(ctypes.Structure):
    """``tinypdm_control_t``."""

    _fields_ = [("command", ctypes.c_uint8), ("value", ctypes.c_float)]


class HostPipeline:
    """A ``tinypdm_pipeline_t`` in Python-owned memory."""

    def __init__(self, host: HostLibrary) -> None:
        self._host = host
        self._mem = np.zeros(host.sizeof("pipeline") + 16, dtype=np.uint8)
        self._p = ctypes.c_void_p((self._mem.ctypes.data + 15) // 16 * 16)
        host._lib.tinypdm_pipeline_init(self._p)

    def set_scale(self, units_per_lsb: float) -> None:
        self._host._lib.tinypdm_pipeline_set_scale(self._p, units_per_lsb)

    def set_units(self, units: str) -> None:
        """``tinypdm_pipeline_set_units`` (the HELLO units string)."""
        raw = units.encode("ascii")[:8].ljust(8, b"\0")
        self._host._lib.tinypdm_pipeline_set_units(self._p, raw)

    def acknowledge(self) -> bool:
        """``tinypdm_pipeline_acknowledge``: True when a latched alarm was released."""
        return bool(self._host._lib.tinypdm_pipeline_acknowledge(self._p))

    def control(self, command: int, value: float = 0.0) -> bool:
        """``tinypdm_pipeline_control`` with a CONTROL message (1 set external speed,
        2 acknowledge): True when the command is known."""
        msg = _ControlMsg(int(command), float(value))
        return bool(self._host._lib.tinypdm_pipeline_control(self._p, ctypes.byref(msg)))

    def set_speed(self, rpm: float) -> None:
        """``tinypdm_pipeline_set_speed``: external shaft speed of the next windows (NaN,
        <= 0: back to the pipeline's tachless estimate)."""
        self._host._lib.tinypdm_pipeline_set_speed(self._p, float(rpm))

    def push_at_speeds(self, samples: ArrayLike, speed_rpm: ArrayLike) -> NDArray[np.float64]:
        """Push a stream from a fresh pipeline's first sample, setting the external speed of
        window ``i`` (``speed_rpm[i]``; NaN: the estimate) before its last sample arrives.

        Returns
        -------
        ndarray of shape (n_results, len(RESULT_FIELDS)), float64
        """
        s = np.ascontiguousarray(samples, dtype=np.int16)
        rpm = np.asarray(speed_rpm, np.float64).reshape(-1)
        hop, window = self._host.config["hop"], self._host.config["window"]
        rows = []
        pos = 0
        for i, value in enumerate(rpm):
            end = window + i * hop  # window i is scored when sample end - 1 arrives
            if end > s.shape[0]:
                break
            self.set_speed(value)
            rows.append(self.push(s[pos:end]))
            pos = end
        if pos < s.shape[0]:
            rows.append(self.push(s[pos:]))
        cols = len(RESULT_FIELDS)
        return np.concatenate(rows) if rows else np.zeros((0, cols), np.float64)

    def push(self, samples: ArrayLike) -> NDArray[np.float64]:
        """Push int16 samples: shape (n,) is the scored axis alone, (n, axes) all axes.

        Returns
        -------
        ndarray of shape (n_results, len(RESULT_FIELDS)), float64
            Columns :data:`RESULT_FIELDS`.
        """
        s = np.ascontiguousarray(samples, dtype=np.int16)
        axes = 0 if s.ndim == 1 else int(s.shape[1])
        n = int(s.shape[0])
        hop, window = self._host.config["hop"], self._host.config["window"]
        cap = n // hop + window // hop + 2
        out = np.zeros((cap, len(RESULT_FIELDS)), dtype=np.float64)
        got = self._host._lib.tinypdm_host_pipeline_push(self._p, _ptr(s), n, axes, _ptr(out), cap)
        if got < 0:
            raise ValueError(
                f"the pipeline scores axis {self._host.config['axis']}, got {axes} axes"
            )
        return out[: min(got, cap)]


class HostDecoder:
    """A ``tinypdm_frame_decoder_t`` fed from Python."""

    def __init__(self, host: HostLibrary) -> None:
        self._host = host
        self._mem = np.zeros(host.sizeof("decoder") + 16, dtype=np.uint8)
        self._d = ctypes.c_void_p((self._mem.ctypes.data + 15) // 16 * 16)
        host._lib.tinypdm_frame_decoder_init(self._d)

    def control(self) -> tuple[int, float] | None:
        """(command, value) of the last frame when it was CONTROL, else None
        (``tinypdm_frame_decode_control``)."""
        out = np.zeros(2, dtype=np.float32)
        if not self._host._lib.tinypdm_host_decoder_control(self._d, _ptr(out)):
            return None
        return int(out[0]), float(out[1])

    def feed(self, data: bytes) -> list[tuple[int, int, bytes, NDArray[np.int16] | None, int]]:
        """Feed bytes; return the completed frames as (type, seq, payload, samples, t_us)."""
        lib = self._host._lib
        buf = np.frombuffer(bytes(data) or b"\0", dtype=np.uint8)
        pos, total = 0, len(data)
        frames = []
        consumed = ctypes.c_uint32(0)
        state = np.zeros(14, dtype=np.uint64)
        while pos < total:
            t = lib.tinypdm_host_decoder_feed(
                self._d, ctypes.c_void_p(buf.ctypes.data + pos), total - pos, ctypes.byref(consumed)
            )
            pos += consumed.value
            if t:
                lib.tinypdm_host_decoder_state(self._d, _ptr(state))
                length, seq, t_us = int(state[9]), int(state[10]), int(state[11])
                payload = ctypes.string_at(lib.tinypdm_host_decoder_payload(self._d), length)
                samples = None
                if t == 2:
                    n, axes = int(state[12]), int(state[13])
                    ptr = lib.tinypdm_host_decoder_samples(self._d)
                    raw = ctypes.string_at(ptr, 2 * n * axes)
                    samples = np.frombuffer(raw, dtype=np.int16).reshape(n, axes).copy()
                frames.append((int(t), seq, payload, samples, t_us))
        return frames

    @property
    def counters(self) -> dict[str, int]:
        state = np.zeros(14, dtype=np.uint64)
        self._host._lib.tinypdm_host_decoder_state(self._d, _ptr(state))
        return {k: int(v) for k, v in zip(_COUNTERS, state[:8], strict=True)}

"""Import vibration files (CWRU/UESTC ``.mat``, CSV, WAV, NPY) and snapshot series (a
directory of FEMTO snapshot CSVs, a FEMTO ``.npz``) as recordings.

``rate`` means *the sample rate of the imported recording*:

* sources that declare their rate (WAV header, CSV time column, CWRU files through their
  manifest or name) are resampled to ``rate`` when it differs (CWRU default: 12 kHz, the
  rate of the fault files);
* sources that do not (NPY, CSV without a time column, other ``.mat`` files) are taken to
  be sampled at ``rate``, which is then required.

Resampling is polyphase with scipy's anti-aliasing FIR (``resample_poly``; Kaiser window,
cut-off at the lower of the two Nyquist frequencies). Import is all or nothing: every file
is read and checked before anything is written, and a failure while writing removes what
this call wrote. See ``docs/datasets.md``.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vibration.data.dataset import (
    MAX_AXES,
    Recording,
    RecordingWriter,
    open_recording,
    quantize,
    validate_name,
)
from vibration.errors import DatasetError

__all__ = [
    "CWRU_DEFAULT_RATE",
    "CWRU_LABELS",
    "FEMTO_CONDITIONS",
    "MIN_SAMPLES",
    "UESTC_LABELS",
    "ImportedSignal",
    "import_files",
    "read_signal",
    "recording_name_for",
]

MIN_SAMPLES = 2048
"""Shortest importable signal, samples per axis (two windows of 1024)."""

CWRU_DEFAULT_RATE = 12000.0
"""CWRU files are resampled to this rate unless ``rate`` says otherwise."""

CWRU_LABELS = {"normal": "normal", "innerrace": "inner", "ball": "ball", "outerrace": "outer"}
"""Manifest ``condition`` (lower case, without ``@position``) to label."""

_CWRU_FILE_LABELS = (("normal", "normal"), ("ir", "inner"), ("or", "outer"), ("b", "ball"))
_TIME_COLUMNS = {
    "t": 1.0, "time": 1.0, "time_s": 1.0, "t_s": 1.0, "seconds": 1.0, "timestamp": 1.0,
    "time_ms": 1e-3, "t_ms": 1e-3, "time_us": 1e-6, "t_us": 1e-6,
}  # fmt: skip
_SUFFIXES = (".mat", ".csv", ".txt", ".tsv", ".wav", ".npy", ".npz", "(directory of snapshots)")

UESTC_LABELS = {"N": "normal", "B": "ball", "I": "inner", "O": "outer"}
"""UESTC file name condition letter (``<condition>_<rpm>_<k>.mat``) to label."""

FEMTO_CONDITIONS = {1: (1800.0, 4000.0), 2: (1650.0, 4200.0), 3: (1500.0, 5000.0)}
"""FEMTO-ST PRONOSTIA operating condition (``Bearing<c>_<k>``) to (rpm, radial load in N)."""

_FEMTO_COLUMNS = 6  # hour, minute, second, microsecond, horizontal g, vertical g


@dataclass(frozen=True)
class ImportedSignal:
    """A signal read from a file, in physical units, before quantisation.

    Attributes
    ----------
    samples : ndarray of float64, shape (n, axes)
    sample_rate : float
        Hz, after any resampling.
    units : str
    label : str or None
    source : str
        The file it came from.
    extra : dict
        Provenance and conditions (``importer``, ``variable``, ``source_rate``, ``rpm``, ...).
    gaps : tuple of int
        Sample indices where a new contiguous segment starts (snapshot series: every
        snapshot after the first); ``extra["segment_start_s"]`` then holds each segment's
        time from the start.
    """

    samples: np.ndarray
    sample_rate: float
    units: str
    label: str | None
    source: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    gaps: tuple[int, ...] = ()


# --------------------------------------------------------------------------- helpers


def _check_target_rate(rate: float | None) -> float | None:
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise DatasetError(f"rate must be a positive number of Hz, got {rate!r}")
    if rate <= 0:
        raise DatasetError(f"rate must be a positive number of Hz, got {rate!r}")
    return float(rate)


def _resample(x: np.ndarray, source_rate: float, rate: float) -> tuple[np.ndarray, float]:
    """Polyphase resampling of (n, axes) from ``source_rate`` to about ``rate``.

    Returns the signal and its exact rate (``rate`` itself when the rational approximation
    is within 1e-6).
    """
    if math.isclose(source_rate, rate, rel_tol=1e-9):
        return x, source_rate
    from scipy.signal import resample_poly

    ratio = Fraction(rate / source_rate).limit_denominator(1000)
    if ratio.numerator == 0 or ratio.numerator > 1000:
        raise DatasetError(
            f"cannot resample from {source_rate:g} Hz to {rate:g} Hz (ratio out of range)"
        )
    y = resample_poly(x, ratio.numerator, ratio.denominator, axis=0)
    exact = source_rate * ratio.numerator / ratio.denominator
    return y, (rate if math.isclose(exact, rate, rel_tol=1e-6) else exact)


def _as_2d(x: np.ndarray, what: str) -> np.ndarray:
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim == 2 and x.shape[0] == 1:
        x = x.T  # a MATLAB row vector
    if x.ndim != 2:
        raise DatasetError(f"{what}: expected shape (n,) or (n, axes), got {x.shape}")
    if not 1 <= x.shape[1] <= MAX_AXES:
        raise DatasetError(f"{what}: {x.shape[1]} axes (at most {MAX_AXES})")
    return x


def _numeric(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        raise DatasetError(f"{what}: expected real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _select_axis(x: np.ndarray, axis: int | None, what: str) -> np.ndarray:
    if axis is None:
        return x
    if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < x.shape[1]:
        raise DatasetError(f"{what}: axis must be in 0..{x.shape[1] - 1}, got {axis!r}")
    return x[:, axis : axis + 1]


# --------------------------------------------------------------------------- CWRU manifest


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read manifest {str(path)!r}: {exc}") from None
    if not rows or "file" not in rows[0]:
        raise DatasetError(f"manifest {str(path)!r} has no 'file' column")
    return {row["file"]: row for row in rows}


def _manifest_row(path: Path, manifest: str | os.PathLike[str] | None) -> dict[str, str] | None:
    candidate = Path(manifest) if manifest is not None else path.parent / "manifest.csv"
    if manifest is not None and not candidate.is_file():
        raise DatasetError(f"manifest not found: {str(candidate)!r}")
    if not candidate.is_file():
        return None
    return _read_manifest(candidate).get(path.name)


def _cwru_label(condition: str) -> str:
    key = condition.split("@")[0].strip().lower()
    if key not in CWRU_LABELS:
        raise DatasetError(f"unknown CWRU condition {condition!r} (known: {sorted(CWRU_LABELS)})")
    return CWRU_LABELS[key]


def _label_from_cwru_name(stem: str) -> str | None:
    """``normal_0_97`` -> normal, ``12k_Drive_End_IR007_0_105`` -> inner, ..."""
    for part in stem.lower().split("_"):
        for prefix, label in _CWRU_FILE_LABELS:
            if part == prefix or (
                part.startswith(prefix) and part[len(prefix) : len(prefix) + 1].isdigit()
            ):
                return label
    return None


# --------------------------------------------------------------------------- readers


def _read_mat(
    path: Path,
    variable: str | None,
    rate: float | None,
    manifest: str | os.PathLike[str] | None,
) -> tuple[np.ndarray, float, dict[str, Any], str | None, str]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises many types for non-MAT input
        raise DatasetError(f"{path.name}: not a readable MATLAB file ({exc})") from None
    arrays = {
        k: v
        for k, v in mat.items()
        if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "iuf"
        and v.size > 1
    }  # fmt: skip
    if not arrays:
        raise DatasetError(f"{path.name}: no numeric array in this MATLAB file")
    row = _manifest_row(path, manifest)
    de = sorted(k for k in arrays if re.fullmatch(r"X\d+_DE_time", k))
    cwru = row is not None or bool(de)
    if variable is None:
        if de:
            wanted = f"X{int(row['file_id']):03d}_DE_time" if row and row.get("file_id") else None
            name = wanted if wanted in arrays else de[0]
        elif len(arrays) == 1:
            name = next(iter(arrays))
        else:
            raise DatasetError(
                f"{path.name}: several variables, choose one with --variable: "
                f"{', '.join(sorted(arrays))}"
            )
    elif variable in arrays:
        name = variable
    else:
        short = [k for k in arrays if re.fullmatch(rf"X\d+_{re.escape(variable)}_time", k)]
        if len(short) != 1:
            raise DatasetError(
                f"{path.name}: no variable {variable!r}; available: {', '.join(sorted(arrays))}"
            )
        name = short[0]
    x = _as_2d(_numeric(arrays[name], f"{path.name}:{name}"), f"{path.name}:{name}")

    extra: dict[str, Any] = {"importer": "mat", "variable": name}
    label: str | None = None
    units = "g"
    source_rate: float | None = None
    if row is not None:
        extra.update(
            {
                "cwru_file_id": int(row["file_id"]),
                "condition": row["condition"],
                "fault_diameter_mil": float(row["fault_diam_mil"]),
                "load_hp": float(row["load_hp"]),
                "rpm": float(row["rpm"]),
            }
        )
        label = _cwru_label(row["condition"])
        source_rate = float(row["fs_hz"])
    elif cwru:
        label = _label_from_cwru_name(path.stem)
        match = re.search(r"(?:^|_)(12|48)k(?:_|$)", path.stem)
        if match:
            source_rate = float(match.group(1)) * 1000.0
    rpm_vars = [k for k in mat if re.fullmatch(r"X\d+RPM", k)]
    if "rpm" not in extra and rpm_vars:
        extra["rpm"] = float(np.asarray(mat[rpm_vars[0]]).ravel()[0])
    if cwru:
        extra["importer"] = "cwru-mat"
        if source_rate is None:
            if rate is None:
                raise DatasetError(
                    f"{path.name}: sample rate unknown (no manifest row, no 12k/48k in the "
                    "name): give --rate or --manifest"
                )
            source_rate = rate
        target = rate if rate is not None else CWRU_DEFAULT_RATE
    else:
        declared = _mat_scalar(mat, "SampleFrequency")
        if declared is not None and declared > 0:
            source_rate = declared
            target = rate if rate is not None else declared
        elif rate is None:
            raise DatasetError(f"{path.name}: a .mat file has no sample rate: give --rate")
        else:
            source_rate = target = rate
        uestc = re.fullmatch(r"([NBIO])_(\d+)_(\d+)", path.stem)
        if uestc and declared is not None:
            extra.update(
                {
                    "importer": "uestc-mat",
                    "condition": uestc.group(1),
                    "rpm": float(uestc.group(2)),
                    "part": int(uestc.group(3)),
                }
            )
            label = UESTC_LABELS[uestc.group(1)]
    extra["source_rate"] = source_rate
    x, final_rate = _resample(x, source_rate, target)
    return x, final_rate, extra, label, units


def _mat_scalar(mat: dict[str, Any], key: str) -> float | None:
    value = mat.get(key)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        number = float(value.ravel()[0])
        return number if math.isfinite(number) else None
    return None


# --------------------------------------------------------------------------- snapshot series


def snapshot_times(clock_s: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Seconds from the first snapshot, from each snapshot's clock (time of day).

    The clock may pass midnight (a step back of more than 12 h adds a day). A snapshot
    whose clock is wrong (not later than the last good one by half the median interval,
    or a jump that the next snapshot does not confirm) is timed by its index instead:
    last good time + (index difference) x median interval.

    Parameters
    ----------
    clock_s : ndarray of shape (n_snapshots,)
        Time of day of each snapshot's first sample, seconds.

    Returns
    -------
    times : ndarray of shape (n_snapshots,), float64
        ``times[0] == 0``.
    fallbacks : list of int
        Indices (0-based) of the snapshots timed by index.
    """
    raw = np.asarray(clock_s, dtype=np.float64).ravel()
    n = raw.size
    if n == 0:
        return np.zeros(0), []
    steps = np.diff(raw)
    steps = np.where(steps < -43200.0, steps + 86400.0, steps)  # past midnight
    t = np.concatenate([[0.0], np.cumsum(steps)])
    positive = steps[steps > 0]
    interval = float(np.median(positive)) if positive.size else 0.0
    times = np.zeros(n)
    fallbacks: list[int] = []
    last_t, last_i = 0.0, 0
    for i in range(1, n):
        ok = bool(np.isfinite(t[i])) and t[i] > last_t + 0.5 * interval
        expected = last_t + (i - last_i) * interval
        if ok and i + 1 < n and t[i] > expected + 0.5 * interval:
            ok = bool(t[i + 1] > t[i] + 0.5 * interval)  # a jump the next snapshot confirms
        if ok:
            times[i], last_t, last_i = t[i], t[i], i
        else:
            times[i] = expected
            fallbacks.append(i)
    return times, fallbacks


def _femto_conditions(stem: str) -> dict[str, Any]:
    match = re.fullmatch(r"Bearing(\d)_(\d+)", stem)
    if not match or int(match.group(1)) not in FEMTO_CONDITIONS:
        return {}
    rpm, load = FEMTO_CONDITIONS[int(match.group(1))]
    return {"rpm": rpm, "load": load, "load_units": "N", "femto_condition": int(match.group(1))}


def _snapshot_signal(
    snapshots: list[np.ndarray],
    clock_s: np.ndarray,
    source_rate: float,
    rate: float | None,
    extra: dict[str, Any],
) -> tuple[np.ndarray, float, dict[str, Any], tuple[int, ...]]:
    """Concatenate snapshots (each (n_i, axes)) as segments, timed by their clocks."""
    times, fallbacks = snapshot_times(clock_s)
    target = rate if rate is not None else source_rate
    parts = []
    final_rate = source_rate
    for snap in snapshots:
        y, final_rate = _resample(snap, source_rate, target)
        parts.append(y)
    lengths = np.array([p.shape[0] for p in parts], dtype=np.int64)
    gaps = tuple(int(g) for g in np.cumsum(lengths)[:-1])
    positive = np.diff(times)
    extra.update(
        {
            "source_rate": source_rate,
            "snapshots": len(parts),
            "snapshot_samples": int(np.median(lengths)) if lengths.size else 0,
            "snapshot_interval_s": float(np.median(positive)) if positive.size else None,
            "clock_start_s": float(clock_s[0]) if len(clock_s) else None,
            "clock_fallbacks": len(fallbacks),
            "clock_fallback_snapshots": fallbacks,
            "segment_start_s": [round(float(v), 6) for v in times],
        }
    )
    x = np.concatenate(parts, axis=0) if parts else np.zeros((0, 1))
    return x, final_rate, extra, gaps


def _read_femto_dir(
    path: Path, rate: float | None
) -> tuple[np.ndarray, float, dict[str, Any], tuple[int, ...]]:
    """A directory of FEMTO snapshot CSVs (``acc_00001.csv``, ...): one recording."""
    files = sorted(path.glob("acc_*.csv")) or sorted(path.glob("*.csv"))
    if not files:
        raise DatasetError(f"{path.name}: a directory without snapshot CSV files (acc_*.csv)")
    snapshots: list[np.ndarray] = []
    clocks: list[float] = []
    rates: list[float] = []
    for f in files:
        try:
            first = f.read_text(encoding="utf-8").split("\n", 1)[0]
            delimiter = ";" if ";" in first else ","
            data = np.loadtxt(f, delimiter=delimiter, ndmin=2)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise DatasetError(
                f"{path.name}/{f.name}: not a numeric snapshot CSV ({exc})"
            ) from None
        if data.shape[1] != _FEMTO_COLUMNS or data.shape[0] < 2:
            raise DatasetError(
                f"{path.name}/{f.name}: expected {_FEMTO_COLUMNS} columns (hour, minute, "
                f"second, microsecond, horizontal, vertical), got {data.shape[1]}"
            )
        t = data[:, 0] * 3600.0 + data[:, 1] * 60.0 + data[:, 2] + data[:, 3] * 1e-6
        step = float(np.polyfit(np.arange(t.size), t - t[0], 1)[0])  # seconds per sample
        if step > 0 and np.all(np.diff(t) >= 0):
            rates.append(1.0 / step)
        clocks.append(float(t[0]))
        snapshots.append(data[:, 4:6])
    if not rates:
        raise DatasetError(f"{path.name}: no snapshot has an increasing clock: no sample rate")
    # Least-squares slope of the per-sample clock (1 µs steps, truncated): within ~1e-5,
    # then rounded to whole Hz.
    source_rate = float(round(float(np.median(rates))))
    extra: dict[str, Any] = {
        "importer": "femto-csv",
        "columns": ["horizontal", "vertical"],
        "snapshot_files": [files[0].name, files[-1].name],
        **_femto_conditions(path.name),
    }
    return _snapshot_signal(snapshots, np.array(clocks), source_rate, rate, extra)


def _read_femto_npz(
    path: Path, rate: float | None
) -> tuple[np.ndarray, float, dict[str, Any], tuple[int, ...]]:
    """A FEMTO ``.npz`` (``horiz``, ``vert`` of shape (n_snapshots, n), ``clock_s``,
    ``sample_rate``): one recording of snapshots."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path.name}: not a readable .npz archive ({exc})") from None
    missing = [k for k in ("horiz", "vert", "clock_s", "sample_rate") if k not in arrays]
    if missing:
        raise DatasetError(
            f"{path.name}: not a snapshot archive: lacks {', '.join(missing)} (has "
            f"{', '.join(sorted(arrays))})"
        )
    horiz = _numeric(arrays["horiz"], f"{path.name}:horiz")
    vert = _numeric(arrays["vert"], f"{path.name}:vert")
    clock = _numeric(arrays["clock_s"], f"{path.name}:clock_s").ravel()
    if horiz.ndim != 2 or horiz.shape != vert.shape or clock.size != horiz.shape[0]:
        raise DatasetError(
            f"{path.name}: horiz {horiz.shape} and vert {vert.shape} must be (n_snapshots, n) "
            f"with one clock_s each ({clock.size})"
        )
    source_rate = float(_numeric(arrays["sample_rate"], f"{path.name}:sample_rate").ravel()[0])
    if not (math.isfinite(source_rate) and source_rate > 0):
        raise DatasetError(f"{path.name}: sample_rate must be > 0, got {source_rate!r}")
    snapshots = [np.column_stack([h, v]) for h, v in zip(horiz, vert, strict=True)]
    extra: dict[str, Any] = {
        "importer": "femto-npz",
        "columns": ["horizontal", "vertical"],
        **_femto_conditions(path.stem),
    }
    return _snapshot_signal(snapshots, clock, source_rate, rate, extra)


def _read_csv(path: Path, rate: float | None) -> tuple[np.ndarray, float, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path.name}: cannot read as UTF-8 text ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DatasetError(f"{path.name}: empty file")
    first = lines[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)

    def split(line: str) -> list[str]:
        return [c.strip() for c in (line.split(delimiter) if delimiter else line.split())]

    header: list[str] | None = None
    try:
        [float(c) for c in split(first)]
    except ValueError:
        header = [c.strip().strip('"').lower() for c in split(first)]
        lines = lines[1:]
    if not lines:
        raise DatasetError(f"{path.name}: a header but no data")
    ncols = len(split(lines[0]))
    data = np.empty((len(lines), ncols))
    for i, line in enumerate(lines):
        cells = split(line)
        if len(cells) != ncols:
            raise DatasetError(
                f"{path.name}: data line {i + 1} has {len(cells)} columns, expected {ncols}"
            )
        try:
            data[i] = [float(c) for c in cells]
        except ValueError:
            raise DatasetError(f"{path.name}: data line {i + 1} is not numeric: {line!r}") from None
    extra: dict[str, Any] = {"importer": "csv"}
    time_col = None
    if header is not None:
        if len(header) != ncols:
            raise DatasetError(f"{path.name}: header has {len(header)} columns, data {ncols}")
        time_col = next((i for i, h in enumerate(header) if h in _TIME_COLUMNS), None)
        extra["columns"] = header
    if time_col is None:
        if rate is None:
            raise DatasetError(f"{path.name}: no time column: give --rate")
        return data, rate, extra
    assert header is not None
    t = data[:, time_col] * _TIME_COLUMNS[header[time_col]]
    x = np.delete(data, time_col, axis=1)
    if x.shape[1] == 0:
        raise DatasetError(f"{path.name}: only a time column, no data")
    dt = np.diff(t)
    if len(dt) == 0 or not np.all(np.isfinite(dt)) or np.any(dt <= 0):
        raise DatasetError(f"{path.name}: time column {header[time_col]!r} is not increasing")
    step = float(np.median(dt))
    if float(np.max(np.abs(dt - step))) > 0.01 * step + 1e-12 * abs(float(t[-1])):
        raise DatasetError(
            f"{path.name}: time column {header[time_col]!r} is not uniformly sampled "
            "(resample it first, or drop it and give --rate)"
        )
    source_rate = 1.0 / step
    extra["source_rate"] = source_rate
    extra["time_column"] = header[time_col]
    x, final_rate = _resample(x, source_rate, rate if rate is not None else source_rate)
    return x, final_rate, extra


def _read_wav(path: Path, rate: float | None) -> tuple[np.ndarray, float, dict[str, Any]]:
    import warnings

    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown chunks (metadata) are skipped with a warning
            source_rate, data = wavfile.read(path)
    except Exception as exc:  # ValueError, EOFError, ... for non-WAV input
        raise DatasetError(f"{path.name}: not a readable WAV file ({exc})") from None
    kind, bits = data.dtype.kind, data.dtype.itemsize * 8
    if kind == "u":  # 8-bit WAV is unsigned, centred on 128
        x = (data.astype(np.float64) - 2 ** (bits - 1)) / 2 ** (bits - 1)
    elif kind == "i":
        x = data.astype(np.float64) / 2 ** (bits - 1)
    else:
        x = data.astype(np.float64)
    extra = {"importer": "wav", "source_rate": float(source_rate), "wav_dtype": str(data.dtype)}
    if data.ndim == 2 and data.shape[1] > MAX_AXES:
        raise DatasetError(f"{path.name}: {data.shape[1]} channels (at most {MAX_AXES})")
    x = x[:, None] if x.ndim == 1 else x
    target = rate if rate is not None else float(source_rate)
    x, final_rate = _resample(x, float(source_rate), target)
    return x, final_rate, extra


def _read_npy(path: Path, rate: float | None) -> tuple[np.ndarray, float, dict[str, Any]]:
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise DatasetError(f"{path.name}: not a .npy file (no NPY header)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path.name}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise DatasetError(f"{path.name}: expected one .npy array")
    if rate is None:
        raise DatasetError(f"{path.name}: a .npy file has no sample rate: give --rate")
    return _numeric(arr, path.name), rate, {"importer": "npy"}


def read_signal(
    path: str | os.PathLike[str],
    *,
    rate: float | None = None,
    variable: str | None = None,
    axis: int | None = None,
    manifest: str | os.PathLike[str] | None = None,
    units: str | None = None,
) -> ImportedSignal:
    """Read one file into physical units, resampled as the module docstring says.

    Parameters
    ----------
    path : path
        ``.mat``, ``.csv`` / ``.txt`` / ``.tsv``, ``.wav``, ``.npy``; a snapshot series: a
        FEMTO ``.npz`` or a directory of FEMTO snapshot CSVs (one segment per snapshot).
    rate : float, optional
        Sample rate of the result, Hz (required for sources without a rate).
    variable : str, optional
        ``.mat`` variable: a full name, or ``DE`` / ``FE`` / ``BA`` for ``X<id>_<..>_time``.
    axis : int, optional
        Keep only this column / channel (0-based).
    manifest : path, optional
        CWRU ``manifest.csv``; default: ``manifest.csv`` beside the file, if any.
    units : str, optional
        Physical unit; default ``g`` (WAV: ``FS``, fraction of full scale).

    Returns
    -------
    ImportedSignal
        ``samples`` of shape (n, axes), n >= :data:`MIN_SAMPLES`.

    Raises
    ------
    DatasetError
        Unreadable or unsupported file, unknown variable, missing rate, wrong shape,
        NaN/Inf, too short.
    """
    p = Path(path)
    rate = _check_target_rate(rate)
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, int) or axis < 0):
        raise DatasetError(f"axis must be an integer >= 0, got {axis!r}")
    if not p.is_file() and not p.is_dir():
        raise DatasetError(f"no such file: {str(p)!r}")
    suffix = "" if p.is_dir() else p.suffix.lower()
    label: str | None = None
    default_units = "g"
    gaps: tuple[int, ...] = ()
    if p.is_dir():
        x, final_rate, extra, gaps = _read_femto_dir(p, rate)
    elif suffix == ".npz":
        x, final_rate, extra, gaps = _read_femto_npz(p, rate)
    elif suffix == ".mat":
        x, final_rate, extra, label, default_units = _read_mat(p, variable, rate, manifest)
    elif variable is not None:
        raise DatasetError(f"{p.name}: --variable applies to .mat files only")
    elif suffix in (".csv", ".txt", ".tsv"):
        x, final_rate, extra = _read_csv(p, rate)
    elif suffix == ".wav":
        x, final_rate, extra = _read_wav(p, rate)
        default_units = "FS"
    elif suffix == ".npy":
        x, final_rate, extra = _read_npy(p, rate)
    else:
        raise DatasetError(
            f"{p.name}: unsupported file type {suffix or '(none)'!r} (supported: "
            f"{', '.join(_SUFFIXES)})"
        )
    x = _select_axis(_as_2d(x, p.name), axis, p.name)
    if axis is not None:
        extra["axis"] = axis
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DatasetError(f"{p.name}: {bad} samples are NaN or Inf")
    if x.shape[0] < MIN_SAMPLES:
        raise DatasetError(
            f"{p.name}: too short: {x.shape[0]} samples per axis at {final_rate:g} Hz "
            f"(at least {MIN_SAMPLES})"
        )
    if units is not None and (not isinstance(units, str) or not units):
        raise DatasetError(f"units must be a non-empty string, got {units!r}")
    return ImportedSignal(
        samples=np.ascontiguousarray(x, dtype=np.float64),
        sample_rate=float(final_rate),
        units=units or default_units,
        label=label,
        source=str(p),
        extra=extra,
        gaps=gaps,
    )


# --------------------------------------------------------------------------- import


def recording_name_for(path: str | os.PathLike[str]) -> str:
    """Recording name for a file: its stem, characters outside ``[A-Za-z0-9._-]`` -> ``_``.

    ``12k_Drive_End_OR007@6_0_130.mat`` -> ``12k_Drive_End_OR007_6_0_130``; a directory
    (snapshot series) by its whole name.
    """
    p = Path(path)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", p.name if p.is_dir() else p.stem).lstrip(".")
    if stem.endswith(".part"):
        stem = stem[: -len(".part")] + "_part"
    return validate_name(stem[:200] or "recording")


def import_files(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    rate: float | None = None,
    label: str | None = None,
    variable: str | None = None,
    manifest: str | os.PathLike[str] | None = None,
    axis: int | None = None,
    units: str | None = None,
    progress: Callable[[Path], None] | None = None,
    rpm: float | None = None,
    load: float | None = None,
) -> list[Recording]:
    """Import files into the dataset ``out_dir``, one recording per file, all or nothing.

    Each recording is named by :func:`recording_name_for`, quantised to int16 with its own
    scale (peak -> about 30000 codes) and labelled ``label``, else from the CWRU manifest,
    else left unlabelled.

    Parameters
    ----------
    paths : sequence of path
    out_dir : path
        Dataset directory (created when needed).
    rate, variable, axis, manifest, units
        As for :func:`read_signal`.
    label : str, optional
        Label for every recording (overrides the manifest).
    progress : callable, optional
        Called with each file's path once it has been read and checked.
    rpm, load : float, optional
        The machine's operating point during every recording: shaft speed (rpm) and load
        (any unit the user keeps to), stored as ``extra["rpm"]`` / ``extra["load"]`` over
        what the file or its name said.

    Returns
    -------
    list of Recording
        In the order of ``paths``.

    Raises
    ------
    DatasetError
        Any file is bad, two files map to one name, or a name exists in ``out_dir``.
        Nothing is left in ``out_dir`` then.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise DatasetError("no files to import")
    if label is not None and (not isinstance(label, str) or not label):
        raise DatasetError(f"label must be a non-empty string, got {label!r}")
    operating: dict[str, float] = {}
    for key, value in (("rpm", rpm), ("load", load)):
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise DatasetError(f"{key} must be a finite number, got {value!r}")
        if key == "rpm" and value <= 0:
            raise DatasetError(f"rpm must be > 0, got {value!r}")
        operating[key] = float(value)
    names = [recording_name_for(f) for f in files]
    seen: dict[str, Path] = {}
    for name, f in zip(names, files, strict=True):
        if name in seen:
            raise DatasetError(f"{str(seen[name])!r} and {str(f)!r} would both be named {name!r}")
        seen[name] = f
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {str(out)!r} is not a directory")
    taken = [n for n in names if (out / n).exists() or (out / f"{n}.part").exists()]
    if taken:
        raise DatasetError(f"{str(out)!r} already holds {', '.join(taken)}")

    # 1. Read and check everything; keep only the int16 data.
    prepared: list[tuple[str, ImportedSignal, np.ndarray, float]] = []
    for name, f in zip(names, files, strict=True):
        sig = read_signal(f, rate=rate, variable=variable, axis=axis, manifest=manifest,
                          units=units)  # fmt: skip
        q, scale = quantize(sig.samples)
        prepared.append((name, _without_samples(sig), q, scale))
        if progress is not None:
            progress(f)

    # 2. Write every recording as .part, then finish them all; undo on any failure.
    created_dir = not out.exists()
    writers: list[RecordingWriter] = []
    finished: list[Path] = []
    try:
        for name, sig, q, scale in prepared:
            f = Path(sig.source)
            writer = RecordingWriter(
                out,
                name,
                sample_rate=sig.sample_rate,
                axes=q.shape[1],
                scale=scale,
                units=sig.units,
                label=label if label is not None else sig.label,
                sensor_id=_sensor_id(sig),
                source=str(f.resolve()),
                start_time=datetime.fromtimestamp(f.stat().st_mtime, UTC),
                extra={**sig.extra, **operating, "source_file": f.name},
            )
            writers.append(writer)
            bounds = [0, *sig.gaps, q.shape[0]]
            for n, (a, b) in enumerate(itertools.pairwise(bounds)):
                if n:
                    writer.mark_gap(0)  # snapshots: not acquired in between, nothing lost
                writer.append(q[a:b])
            writer.flush()
        for writer in writers:
            finished.append(writer.close())
    except BaseException:
        for writer in writers:
            writer.abort()
        for path in finished:
            shutil.rmtree(path, ignore_errors=True)
        if created_dir:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return [open_recording(p) for p in finished]


def _without_samples(sig: ImportedSignal) -> ImportedSignal:
    return ImportedSignal(
        samples=np.empty((0, 0)),
        sample_rate=sig.sample_rate,
        units=sig.units,
        label=sig.label,
        source=sig.source,
        extra=dict(sig.extra),
        gaps=sig.gaps,
    )


def _sensor_id(sig: ImportedSignal) -> str:
    """``cwru-DE`` / ``cwru-FE`` / ``cwru-BA`` for CWRU channels, else empty."""
    match = re.fullmatch(r"X\d+_([A-Z]+)_time", str(sig.extra.get("variable", "")))
    return f"cwru-{match.group(1)}" if match and sig.extra.get("importer") == "cwru-mat" else ""

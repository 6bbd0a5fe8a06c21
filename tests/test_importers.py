from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import signal
from scipy.io import loadmat, savemat, wavfile

from vibration.data.dataset import list_recordings, open_recording
from vibration.data.importers import (
    MIN_SAMPLES,
    import_files,
    read_signal,
    recording_name_for,
)
from vibration.errors import DatasetError

FAULT_FILE = "12k_Drive_End_OR007@6_1_131.mat"
NORMAL_FILE = "normal_0_97.mat"


def _manifest(cwru_dir: Path) -> dict[str, dict[str, str]]:
    with open(cwru_dir / "manifest.csv", newline="") as fh:
        return {row["file"]: row for row in csv.DictReader(fh)}


def _snapshot(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*"))


def _sine(n: int, fs: float, f: float, amp: float = 1.0, axes: int = 1) -> np.ndarray:
    t = np.arange(n) / fs
    return np.column_stack([amp * (k + 1) * np.sin(2 * np.pi * f * t + k) for k in range(axes)])


# --------------------------------------------------------------------------- CWRU


def test_importers_cwru_fault_file_uses_manifest(cwru_dir, tmp_path):
    row = _manifest(cwru_dir)[FAULT_FILE]
    (rec,) = import_files([cwru_dir / FAULT_FILE], tmp_path / "ds")
    assert rec.name == "12k_Drive_End_OR007_6_1_131"
    assert rec.meta.label == "outer"
    assert rec.meta.sample_rate == 12000.0
    assert rec.meta.samples == int(row["n_de"])
    assert rec.meta.units == "g" and rec.meta.sensor_id == "cwru-DE"
    extra = rec.meta.extra
    assert extra["variable"] == "X131_DE_time"
    assert extra["condition"] == "OuterRace@6"
    assert (extra["fault_diameter_mil"], extra["load_hp"], extra["rpm"]) == (7.0, 1.0, 1773.0)
    assert extra["source_rate"] == 12000.0
    original = loadmat(cwru_dir / FAULT_FILE)["X131_DE_time"][:, 0]
    assert int(np.abs(rec.samples()).max()) == pytest.approx(30000, abs=2)
    np.testing.assert_allclose(rec.physical(0), original, atol=rec.meta.scale * 0.51 + 1e-6)
    rec.verify()


def test_importers_cwru_48k_normal_is_resampled_to_12k(cwru_dir):
    sig = read_signal(cwru_dir / NORMAL_FILE)
    assert sig.sample_rate == 12000.0
    assert sig.samples.shape == (60985, 1)  # 243938 / 4, about 61k as the data README says
    assert sig.label == "normal"
    assert sig.extra["source_rate"] == 48000.0
    raw = loadmat(cwru_dir / NORMAL_FILE)["X097_DE_time"][:, 0]
    reference = signal.decimate(raw, 4, ftype="fir", zero_phase=True)
    # Same band-limited signal as the README's recipe, within the filters' differences.
    rms = np.sqrt(np.mean(sig.samples[:, 0] ** 2))
    assert rms == pytest.approx(np.sqrt(np.mean(reference**2)), rel=0.02)
    assert np.corrcoef(sig.samples[1000:-1000, 0], reference[1000:-1000])[0, 1] > 0.99
    # The anti-aliasing filter removed what lay above the new Nyquist.
    freqs, psd = signal.welch(sig.samples[:, 0], fs=12000, nperseg=1024)
    assert psd[freqs > 5900].max() < 0.01 * psd.max()


def test_importers_cwru_rate_option_overrides_default(cwru_dir):
    sig = read_signal(cwru_dir / FAULT_FILE, rate=6000)
    assert sig.sample_rate == 6000.0
    assert sig.samples.shape[0] == pytest.approx(122426 / 2, abs=1)


@pytest.mark.parametrize("variable", ["FE", "X131_FE_time"])
def test_importers_cwru_variable_selects_channel(cwru_dir, variable):
    sig = read_signal(cwru_dir / FAULT_FILE, variable=variable)
    assert sig.extra["variable"] == "X131_FE_time"
    fe = loadmat(cwru_dir / FAULT_FILE)["X131_FE_time"]
    np.testing.assert_array_equal(sig.samples, fe)


def test_importers_cwru_unknown_variable_lists_available(cwru_dir):
    with pytest.raises(DatasetError, match="X131_BA_time, X131_DE_time, X131_FE_time"):
        read_signal(cwru_dir / FAULT_FILE, variable="XY")


def test_importers_cwru_without_manifest_uses_file_name(cwru_dir, tmp_path):
    copy = tmp_path / "12k_Drive_End_IR007_0_105.mat"
    shutil.copy(cwru_dir / copy.name, copy)
    sig = read_signal(copy)
    assert (sig.label, sig.sample_rate) == ("inner", 12000.0)
    assert "condition" not in sig.extra and sig.extra["rpm"] == 1797.0  # from X105RPM
    with_manifest = read_signal(copy, manifest=cwru_dir / "manifest.csv")
    assert with_manifest.extra["condition"] == "InnerRace"
    normal = tmp_path / NORMAL_FILE
    shutil.copy(cwru_dir / NORMAL_FILE, normal)
    with pytest.raises(DatasetError, match="sample rate unknown"):
        read_signal(normal)  # 48 kHz, but nothing says so
    with pytest.raises(DatasetError, match="manifest not found"):
        read_signal(copy, manifest=tmp_path / "nope.csv")


def test_importers_generic_mat_needs_rate_and_variable(tmp_path):
    path = tmp_path / "lab.mat"
    x = _sine(4000, 2000.0, 50.0)[:, 0]
    savemat(path, {"acc": x[None, :], "temp": np.arange(5.0)})
    with pytest.raises(DatasetError, match="several variables"):
        read_signal(path, rate=2000)
    with pytest.raises(DatasetError, match="give --rate"):
        read_signal(path, variable="acc")
    sig = read_signal(path, variable="acc", rate=2000)
    np.testing.assert_allclose(sig.samples[:, 0], x)  # MATLAB row vector becomes a column


# --------------------------------------------------------------------------- CSV / WAV / NPY


def test_importers_csv_with_time_column_round_trip(tmp_path):
    fs = 2500.0
    x = _sine(5000, fs, 40.0, axes=2)
    path = tmp_path / "log.csv"
    t = np.arange(len(x)) / fs
    lines = ["time,ax,ay"] + [f"{ti:.7f},{a:.9f},{b:.9f}" for ti, (a, b) in zip(t, x, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    sig = read_signal(path)
    assert sig.sample_rate == pytest.approx(fs)
    assert sig.samples.shape == (5000, 2)
    np.testing.assert_allclose(sig.samples, x, atol=1e-8)
    assert sig.extra["time_column"] == "time"


def test_importers_csv_without_header_needs_rate(tmp_path):
    x = _sine(3000, 1000.0, 20.0, axes=3)
    path = tmp_path / "plain.txt"
    path.write_text("\n".join("; ".join(f"{v:.6f}" for v in row) for row in x))
    with pytest.raises(DatasetError, match="no time column: give --rate"):
        read_signal(path)
    sig = read_signal(path, rate=1000)
    np.testing.assert_allclose(sig.samples, x, atol=1e-6)
    one = read_signal(path, rate=1000, axis=2)
    np.testing.assert_allclose(one.samples[:, 0], x[:, 2], atol=1e-6)


def test_importers_csv_time_in_ms_and_resampling(tmp_path):
    fs = 4000.0
    x = _sine(8000, fs, 100.0)
    path = tmp_path / "ms.csv"
    rows = [f"{i * 1000 / fs:.6f}\t{v:.9f}" for i, v in enumerate(x[:, 0])]
    path.write_text("t_ms\tacc\n" + "\n".join(rows))
    sig = read_signal(path, rate=2000)
    assert sig.sample_rate == 2000.0
    assert sig.samples.shape == (4000, 1)
    np.testing.assert_allclose(sig.samples[200:-200], _sine(4000, 2000.0, 100.0)[200:-200],
                               atol=2e-3)  # fmt: skip


@pytest.mark.parametrize("dtype", ["int16", "float32", "uint8"])
def test_importers_wav_round_trip(tmp_path, dtype):
    fs = 8000
    x = _sine(6000, fs, 300.0, amp=0.4, axes=2)
    if dtype == "int16":
        data = np.round(x * 32768).astype(np.int16)
        expected = data / 32768
    elif dtype == "uint8":
        data = np.round(x * 128 + 128).astype(np.uint8)
        expected = (data.astype(float) - 128) / 128
    else:
        data = x.astype(np.float32)
        expected = data.astype(np.float64)
    path = tmp_path / f"rec_{dtype}.wav"
    wavfile.write(path, fs, data)
    sig = read_signal(path)
    assert (sig.sample_rate, sig.units) == (fs, "FS")
    np.testing.assert_allclose(sig.samples, expected, atol=1e-7)


def test_importers_wav_resampling_keeps_tones_and_removes_aliases(tmp_path):
    fs = 48000
    x = _sine(48000, fs, 1000.0, amp=0.3)[:, 0] + 0.3 * np.sin(
        2 * np.pi * 10000.0 * np.arange(48000) / fs
    )
    path = tmp_path / "two_tones.wav"
    wavfile.write(path, fs, x.astype(np.float32))
    sig = read_signal(path, rate=12000)
    assert sig.sample_rate == 12000.0 and sig.samples.shape == (12000, 1)
    freqs, psd = signal.welch(sig.samples[:, 0], fs=12000, nperseg=2048)
    assert freqs[np.argmax(psd)] == pytest.approx(1000.0, abs=6)
    alias = psd[np.abs(freqs - 2000.0) < 20].max()  # 10 kHz would fold to 2 kHz
    assert alias < 1e-6 * psd.max()
    rms = np.sqrt(np.mean(sig.samples[500:-500, 0] ** 2))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.01)


def test_importers_wav_odd_rate_resampled_rationally(tmp_path):
    x = _sine(44100, 44100.0, 440.0, amp=0.5)
    path = tmp_path / "cd.wav"
    wavfile.write(path, 44100, (x * 32767).astype(np.int16))
    sig = read_signal(path, rate=12000)
    assert sig.sample_rate == 12000.0
    assert sig.samples.shape[0] == 12000


@pytest.mark.parametrize("shape", [(4096,), (4096, 3)], ids=["1d", "3-axes"])
def test_importers_npy_round_trip(tmp_path, shape):
    x = np.random.default_rng(0).normal(0, 0.1, size=shape)
    path = tmp_path / "x.npy"
    np.save(path, x)
    with pytest.raises(DatasetError, match="give --rate"):
        read_signal(path)
    sig = read_signal(path, rate=5000)
    np.testing.assert_array_equal(sig.samples, x.reshape(4096, -1))
    assert sig.sample_rate == 5000.0


def test_importers_import_files_quantises_each_recording_with_its_own_scale(tmp_path):
    loud, quiet = tmp_path / "loud.npy", tmp_path / "quiet.npy"
    np.save(loud, _sine(4096, 1000.0, 10.0, amp=5.0))
    np.save(quiet, _sine(4096, 1000.0, 10.0, amp=0.01))
    recs = import_files([loud, quiet], tmp_path / "ds", rate=1000, label="normal")
    assert [r.name for r in recs] == ["loud", "quiet"]
    assert recs[0].meta.scale > 100 * recs[1].meta.scale
    for rec, amp in zip(recs, (5.0, 0.01), strict=True):
        assert rec.meta.label == "normal"
        assert int(np.abs(rec.samples()).max()) == pytest.approx(30000, abs=2)
        np.testing.assert_allclose(rec.physical(0).max(), amp, rtol=1e-3)
    assert [r.name for r in list_recordings(tmp_path / "ds")] == ["loud", "quiet"]


def test_importers_progress_called_per_file(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"f{i}.npy")
        np.save(paths[-1], np.ones(MIN_SAMPLES) * i)
    seen: list[Path] = []
    import_files(paths, tmp_path / "ds", rate=100, progress=seen.append)
    assert seen == paths


def test_importers_recording_names_are_sanitised():
    assert recording_name_for("/x/12k_Drive_End_OR007@6_0_130.mat") == "12k_Drive_End_OR007_6_0_130"
    assert recording_name_for("a b(1).csv") == "a_b_1_"
    assert recording_name_for(".hidden.npy") == "hidden"
    assert recording_name_for("run.part.npy") == "run_part"


# --------------------------------------------------------------------------- bad input


def _write_bad(tmp_path: Path, kind: str) -> tuple[Path, dict]:
    p = tmp_path / "in"
    p.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    if kind == "garbage-mat":
        f = p / "x.mat"
        f.write_bytes(rng.bytes(3000))
        return f, {}
    if kind == "garbage-wav":
        f = p / "x.wav"
        f.write_bytes(b"RIFF" + rng.bytes(100))
        return f, {}
    if kind == "garbage-npy":
        f = p / "x.npy"
        f.write_bytes(rng.bytes(500))
        return f, {"rate": 100.0}
    if kind == "object-npy":
        f = p / "x.npy"
        np.save(f, np.array([{"a": 1}] * 3000, dtype=object), allow_pickle=True)
        return f, {"rate": 100.0}
    if kind == "complex-npy":
        f = p / "x.npy"
        np.save(f, np.ones(3000, dtype=complex))
        return f, {"rate": 100.0}
    if kind == "3d-npy":
        f = p / "x.npy"
        np.save(f, np.ones((3000, 2, 2)))
        return f, {"rate": 100.0}
    if kind == "too-many-axes":
        f = p / "x.npy"
        np.save(f, np.ones((3000, 9)))
        return f, {"rate": 100.0}
    if kind == "inf-npy":
        f = p / "x.npy"
        x = np.zeros(3000)
        x[1234] = np.inf
        np.save(f, x)
        return f, {"rate": 100.0}
    if kind == "nan-csv":
        f = p / "x.csv"
        f.write_text("a\n" + "\n".join(["0.5"] * 2500 + ["nan"]))
        return f, {"rate": 100.0}
    if kind == "text-csv":
        f = p / "x.csv"
        f.write_text("a,b\n" + "1,2\n" * 3000 + "3,hello\n")
        return f, {"rate": 100.0}
    if kind == "ragged-csv":
        f = p / "x.csv"
        f.write_text("1,2\n" * 3000 + "3\n")
        return f, {"rate": 100.0}
    if kind == "irregular-time":
        f = p / "x.csv"
        t = np.cumsum(np.random.default_rng(2).uniform(0.5, 1.5, 3000)) / 1000
        f.write_text("time,a\n" + "\n".join(f"{v:.6f},1.0" for v in t))
        return f, {}
    if kind == "too-short":
        f = p / "x.npy"
        np.save(f, np.ones(MIN_SAMPLES - 1))
        return f, {"rate": 100.0}
    if kind == "too-short-after-resampling":
        f = p / "x.wav"
        wavfile.write(f, 8000, np.ones(3000, dtype=np.int16))
        return f, {"rate": 1000.0}
    if kind == "variable-on-npy":
        f = p / "x.npy"
        np.save(f, np.ones(3000))
        return f, {"rate": 100.0, "variable": "acc"}
    if kind == "rate-missing":
        f = p / "x.csv"
        f.write_text("1.0\n" * 3000)
        return f, {"rate": None}
    if kind == "rate-negative":
        f = p / "x.npy"
        np.save(f, np.ones(3000))
        return f, {"rate": -5.0}
    if kind == "unknown-suffix":
        f = p / "x.xlsx"
        f.write_bytes(b"PK")
        return f, {"rate": 100.0}
    if kind == "missing-file":
        return p / "nope.csv", {"rate": 100.0}
    if kind == "axis-out-of-range":
        f = p / "x.npy"
        np.save(f, np.ones((3000, 2)))
        return f, {"rate": 100.0, "axis": 2}
    if kind == "empty-csv":
        f = p / "x.csv"
        f.write_text("\n# only a comment\n")
        return f, {"rate": 100.0}
    raise AssertionError(kind)


BAD_KINDS = [
    "garbage-mat", "garbage-wav", "garbage-npy", "object-npy", "complex-npy", "3d-npy",
    "too-many-axes", "inf-npy", "nan-csv", "text-csv", "ragged-csv", "irregular-time",
    "too-short", "too-short-after-resampling", "variable-on-npy", "rate-missing", "rate-negative",
    "unknown-suffix", "missing-file", "axis-out-of-range", "empty-csv",
]  # fmt: skip


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_importers_bad_input_raises_and_writes_nothing(tmp_path, kind):
    bad, kwargs = _write_bad(tmp_path, kind)
    good = tmp_path / "in" / "good.csv"
    good.write_text("time,a\n" + "".join(f"{i / 100},{i % 7}\n" for i in range(4000)))
    out = tmp_path / "out"
    with pytest.raises(DatasetError) as info:
        import_files([good, bad], out, **{"rate": 100.0, **kwargs})
    assert "\n" not in str(info.value)
    assert not out.exists()
    # An existing dataset stays exactly as it was.
    out.mkdir()
    np.save(tmp_path / "in" / "first.npy", np.ones(4000))
    import_files([tmp_path / "in" / "first.npy"], out, rate=100.0)
    before = _snapshot(out)
    with pytest.raises(DatasetError):
        import_files([good, bad], out, **{"rate": 100.0, **kwargs})
    assert _snapshot(out) == before


def test_importers_name_clashes_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    np.save(a / "x.npy", np.ones(4000))
    np.save(b / "x.npy", np.ones(4000))
    with pytest.raises(DatasetError, match="both be named 'x'"):
        import_files([a / "x.npy", b / "x.npy"], tmp_path / "ds", rate=10)
    import_files([a / "x.npy"], tmp_path / "ds", rate=10)
    before = _snapshot(tmp_path / "ds")
    with pytest.raises(DatasetError, match="already holds x"):
        import_files([b / "x.npy"], tmp_path / "ds", rate=10)
    assert _snapshot(tmp_path / "ds") == before


_FSIZE_SCRIPT = """
import resource, signal, sys
import numpy as np
from vibration.data.importers import import_files
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    import_files(sys.argv[2:], sys.argv[1], rate=10)
except OSError as exc:
    print("OSError", exc.errno)
"""


def test_importers_failure_while_writing_leaves_nothing(tmp_path):
    # A real write failure after every file was read and checked (a file-size limit, like
    # a full disk): the recordings this call had started are removed again.
    import errno
    import subprocess
    import sys

    from tests.support import REPO

    paths = []
    for i, n in enumerate((3000, 3000, 20000)):  # the third is 40 kB of int16: over the limit
        paths.append(tmp_path / f"f{i}.npy")
        np.save(paths[-1], np.linspace(-1, 1, n))
    out = tmp_path / "ds"
    done = subprocess.run(
        [sys.executable, "-c", _FSIZE_SCRIPT, str(out), *map(str, paths)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["OSError", str(errno.EFBIG)]
    assert not out.exists()


def test_importers_open_recording_of_import_is_stable(cwru_dir, tmp_path):
    (rec,) = import_files([cwru_dir / NORMAL_FILE], tmp_path, label="healthy")
    again = open_recording(rec.path)
    assert again.meta == rec.meta
    assert again.meta.label == "healthy"  # --label wins over the manifest

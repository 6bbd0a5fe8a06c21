from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import REPO
from vibration.data.dataset import (
    Recording,
    RecordingMeta,
    RecordingWriter,
    dataset_info,
    iter_recordings,
    list_recordings,
    open_recording,
    quantize,
    write_recording,
)
from vibration.errors import DatasetError


def _samples(n: int, axes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-32768, 32768, size=(n, axes)).astype(np.int16)


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


# --------------------------------------------------------------------------- round trip


def test_dataset_writer_round_trip_multi_axis(tmp_path):
    data = _samples(5000, 3)
    with RecordingWriter(
        tmp_path,
        "run1",
        sample_rate=12000,
        axes=3,
        scale=0.0005,
        units="g",
        label="normal",
        sensor_id="dev-7",
        source="socket://127.0.0.1:9",
        start_time="2024-05-01T12:00:00+02:00",
        extra={"rpm": 1797, "note": "bench"},
        hello={"device_id": "dev-7", "firmware_version": "1.0", "model_sha256": "ab" * 32},
    ) as writer:
        writer.append(data[:1200])
        writer.flush()
        writer.append(data[1200:])
        writer.update_counters(frames=42, crc_errors=2, resyncs=1, dropped_frames=3)
    rec = open_recording(tmp_path / "run1")
    assert rec.complete
    np.testing.assert_array_equal(rec.samples(), data)
    assert rec.samples().dtype == np.int16
    np.testing.assert_allclose(rec.physical(), data.astype(np.float32) * np.float32(0.0005))
    assert rec.physical(2).shape == (5000,)
    assert rec.physical().dtype == np.float32
    m = rec.meta
    assert (m.name, m.samples, m.axes, m.sample_rate, m.scale) == ("run1", 5000, 3, 12000.0, 0.0005)
    assert (m.label, m.sensor_id, m.units) == ("normal", "dev-7", "g")
    assert m.start_time == "2024-05-01T10:00:00.000000Z"
    assert m.counters == {"frames": 42, "crc_errors": 2, "resyncs": 1, "dropped_frames": 3}
    assert m.extra == {"rpm": 1797, "note": "bench"}
    assert m.hello is not None and m.hello["model_sha256"] == "ab" * 32
    assert rec.seconds == pytest.approx(5000 / 12000)
    rec.verify()
    raw = (tmp_path / "run1" / "samples.i16").read_bytes()
    assert raw == data.astype("<i2").tobytes()  # interleaved little-endian int16


def test_dataset_meta_json_has_documented_fields(tmp_path):
    rec = write_recording(tmp_path, "r", _samples(100, 1), sample_rate=100.0, scale=0.01)
    meta = json.loads((rec.path / "meta.json").read_text())
    assert meta["format"] == "tinypdm-recording"
    assert meta["format_version"] == 1
    assert (meta["dtype"], meta["byte_order"]) == ("int16", "little")
    assert meta["complete"] is True
    assert meta["samples"] == 100
    assert len(meta["sha256"]) == 64
    for key in (
        "name",
        "sensor_id",
        "sample_rate",
        "axes",
        "scale",
        "units",
        "label",
        "start_time",
        "source",
        "counters",
        "gaps",
        "hello",
        "extra",
    ):
        assert key in meta
    assert RecordingMeta.from_dict(meta) == rec.meta


@settings(max_examples=25, deadline=None)
@given(
    chunks=st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=8),
    axes=st.integers(min_value=1, max_value=8),
    flush_every=st.integers(min_value=1, max_value=4),
)
def test_dataset_writer_chunked_appends_equal_whole(chunks, axes, flush_every):
    total = sum(chunks)
    data = _samples(total, axes, seed=total)
    with tempfile.TemporaryDirectory() as tmp:
        with RecordingWriter(tmp, "x", sample_rate=1000.0, axes=axes) as writer:
            start = 0
            for i, n in enumerate(chunks):
                writer.append(data[start : start + n])
                start += n
                if i % flush_every == 0:
                    writer.flush()
        rec = open_recording(Path(tmp) / "x")
        np.testing.assert_array_equal(rec.samples(), data)
        assert rec.meta.samples == total


def test_dataset_gaps_split_segments(tmp_path):
    data = _samples(300, 2)
    with RecordingWriter(tmp_path, "g", sample_rate=1000, axes=2) as writer:
        writer.mark_gap(7)  # at index 0: no split
        writer.append(data[:100])
        writer.mark_gap(16)
        writer.append(data[100:250])
        writer.mark_gap(3)
        writer.append(data[250:])
    rec = open_recording(tmp_path / "g")
    assert rec.meta.gaps == (0, 100, 250)
    assert rec.segments() == [(0, 100), (100, 250), (250, 300)]
    assert rec.meta.counters["missing_samples"] == 26


def test_dataset_empty_recording_opens(tmp_path):
    with RecordingWriter(tmp_path, "empty", sample_rate=10.0, axes=2):
        pass
    rec = open_recording(tmp_path / "empty")
    assert rec.samples().shape == (0, 2)
    assert rec.segments() == []


# --------------------------------------------------------------------------- crash safety


def test_dataset_part_is_readable_while_writing(tmp_path):
    data = _samples(2000, 2)
    writer = RecordingWriter(tmp_path, "live", sample_rate=500, axes=2, label="normal")
    part = tmp_path / "live.part"
    assert json.loads((part / "meta.json").read_text())["complete"] is False
    assert open_recording(part).meta.samples == 0
    writer.append(data[:700])
    writer.flush()
    rec = open_recording(part)
    assert not rec.complete
    assert rec.meta.samples == 700
    np.testing.assert_array_equal(rec.samples(), data[:700])
    assert [r.name for r in list_recordings(tmp_path)] == ["live"]
    assert list_recordings(tmp_path, include_partial=False) == []
    writer.append(data[700:])
    path = writer.close()
    assert path == tmp_path / "live"
    assert not part.exists()
    np.testing.assert_array_equal(open_recording(path).samples(), data)


_KILL_SCRIPT = """
import sys, time
import numpy as np
from vibration.data.dataset import RecordingWriter
rng = np.random.default_rng(3)
data = rng.integers(-32768, 32768, size=(5000, 3)).astype(np.int16)
w = RecordingWriter(sys.argv[1], "killed", sample_rate=12000, axes=3, scale=0.001)
w.append(data[:1500]); w.flush()
w.mark_gap(9)
w.append(data[1500:3001]); w.update_counters(frames=77); w.flush()
w.append(data[3001:3050])  # buffered, never flushed
print("ready", flush=True)
time.sleep(60)
"""


def test_dataset_sigkill_leaves_readable_part_up_to_last_flush(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    rec = open_recording(tmp_path / "killed.part")
    assert not rec.complete
    assert rec.meta.samples == 3001
    expected = np.random.default_rng(3).integers(-32768, 32768, size=(5000, 3)).astype(np.int16)
    np.testing.assert_array_equal(rec.samples(), expected[:3001])
    assert rec.meta.counters["frames"] == 77
    assert rec.segments() == [(0, 1500), (1500, 3001)]


def test_dataset_part_with_torn_frame_floors_to_whole_frames(tmp_path):
    writer = RecordingWriter(tmp_path, "torn", sample_rate=100, axes=3)
    writer.append(_samples(10, 3))
    writer.flush()
    with open(tmp_path / "torn.part" / "samples.i16", "ab") as fh:
        fh.write(b"\x01\x02\x03")  # a frame cut in the middle by a crash
    assert open_recording(tmp_path / "torn.part").meta.samples == 10
    writer.abort()


def test_dataset_exception_in_context_keeps_part(tmp_path):
    with pytest.raises(RuntimeError), RecordingWriter(tmp_path, "r", sample_rate=100) as writer:
        writer.append(_samples(50, 1))
        raise RuntimeError("boom")
    rec = open_recording(tmp_path / "r.part")
    assert rec.meta.samples == 50 and not rec.complete
    assert not (tmp_path / "r").exists()


def test_dataset_abort_removes_everything(tmp_path):
    writer = RecordingWriter(tmp_path, "gone", sample_rate=100)
    writer.append(_samples(50, 1))
    writer.flush()
    writer.abort()
    assert _tree(tmp_path) == []
    with pytest.raises(DatasetError, match="closed"):
        writer.append(_samples(1, 1))


# --------------------------------------------------------------------------- names, clashes


def test_dataset_name_taken_at_creation_is_refused(tmp_path):
    write_recording(tmp_path, "dup", _samples(10, 1), sample_rate=10.0)
    before = _tree(tmp_path)
    with pytest.raises(DatasetError, match="already exists"):
        RecordingWriter(tmp_path, "dup", sample_rate=10.0)
    with pytest.raises(DatasetError, match="already exists"):
        write_recording(tmp_path, "dup", _samples(10, 1), sample_rate=10.0)
    assert _tree(tmp_path) == before


def test_dataset_unique_picks_free_name(tmp_path):
    write_recording(tmp_path, "cap", _samples(10, 1), sample_rate=10.0)
    other = RecordingWriter(tmp_path, "cap", sample_rate=10.0, unique=True)
    third = RecordingWriter(tmp_path, "cap", sample_rate=10.0, unique=True)
    assert (other.name, third.name) == ("cap-1", "cap-2")
    assert other.close() == tmp_path / "cap-1"
    assert third.close() == tmp_path / "cap-2"


def test_dataset_close_refuses_to_overwrite_and_keeps_part(tmp_path):
    writer = RecordingWriter(tmp_path, "race", sample_rate=10.0)
    writer.append(_samples(20, 1))
    (tmp_path / "race").mkdir()  # someone else finished a recording of that name meanwhile
    with pytest.raises(DatasetError, match="already exists"):
        writer.close()
    assert open_recording(tmp_path / "race.part").meta.samples == 20
    assert list((tmp_path / "race").iterdir()) == []
    writer.abort()


@pytest.mark.parametrize(
    "name",
    ["", ".hidden", "a/b", "../up", "x y", "run.part", "ü", "a" * 201, "..", "a\\b"],
    ids=[
        "empty",
        "dot",
        "slash",
        "dotdot-slash",
        "space",
        "part",
        "unicode",
        "long",
        "dotdot",
        "backslash",
    ],
)
def test_dataset_bad_names_rejected(tmp_path, name):
    with pytest.raises(DatasetError, match="bad recording name"):
        RecordingWriter(tmp_path, name, sample_rate=10.0)
    assert _tree(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": float("nan")}, "sample_rate"),
        ({"sample_rate": "12k"}, "sample_rate"),
        ({"sample_rate": 10.0, "axes": 0}, "axes"),
        ({"sample_rate": 10.0, "axes": 9}, "axes"),
        ({"sample_rate": 10.0, "scale": -1.0}, "scale"),
        ({"sample_rate": 10.0, "extra": {"x": float("inf")}}, "extra"),
        ({"sample_rate": 10.0, "start_time": "yesterday"}, "start_time"),
    ],
    ids=[
        "rate-zero",
        "rate-nan",
        "rate-str",
        "axes-0",
        "axes-9",
        "scale-neg",
        "extra-inf",
        "time-bad",
    ],
)
def test_dataset_bad_meta_rejected(tmp_path, kwargs, match):
    with pytest.raises(DatasetError, match=match):
        RecordingWriter(tmp_path, "r", **kwargs)
    assert _tree(tmp_path) == []


@pytest.mark.parametrize(
    "samples",
    [
        np.zeros((10, 2), dtype=np.float32),
        np.zeros((10, 3), dtype=np.int16),
        np.zeros((10,), dtype=np.int16),
        np.zeros((2, 10, 2), dtype=np.int16),
        np.zeros((10, 2), dtype=np.int32),
    ],
    ids=["float", "wrong-axes", "1d-for-2-axes", "3d", "int32"],
)
def test_dataset_append_rejects_bad_samples(tmp_path, samples):
    writer = RecordingWriter(tmp_path, "r", sample_rate=10.0, axes=2)
    with pytest.raises(DatasetError, match="samples must"):
        writer.append(samples)
    writer.abort()


def test_dataset_write_recording_bad_samples_writes_nothing(tmp_path):
    with pytest.raises(DatasetError):
        write_recording(tmp_path / "ds", "r", np.zeros(10, dtype=np.float64), sample_rate=10.0)
    assert _tree(tmp_path / "ds") == []


def test_dataset_set_meta_and_refusals(tmp_path):
    writer = RecordingWriter(tmp_path, "r", sample_rate=100.0)
    writer.set_meta(label="outer", sample_rate=99.5, hello={"device_id": "d"})
    with pytest.raises(ValueError, match="cannot set"):
        writer.set_meta(samples=5)
    writer.append(_samples(5, 1))
    rec = open_recording(writer.close())
    assert (rec.meta.label, rec.meta.sample_rate, rec.meta.hello) == (
        "outer",
        99.5,
        {"device_id": "d"},
    )


# --------------------------------------------------------------------------- damaged input


def test_dataset_open_rejects_damaged_recordings(tmp_path):
    rec = write_recording(tmp_path, "ok", _samples(100, 2), sample_rate=10.0)
    data = rec.path / "samples.i16"
    with open(data, "r+b") as fh:
        fh.truncate(150)
    with pytest.raises(DatasetError, match="damaged"):
        open_recording(rec.path)

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text("{not json")
    (bad / "samples.i16").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"unreadable meta\.json"):
        open_recording(bad)
    (bad / "meta.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DatasetError, match="not a tinypdm recording"):
        open_recording(bad)
    newer = {**rec.meta.to_dict(), "format_version": 2}
    (bad / "meta.json").write_text(json.dumps(newer))
    with pytest.raises(DatasetError, match="format_version"):
        open_recording(bad)
    with pytest.raises(DatasetError, match="not a recording"):
        open_recording(tmp_path / "missing")
    with pytest.raises(DatasetError):
        list_recordings(tmp_path)  # a damaged member makes the dataset unreadable, loudly


def test_dataset_verify_detects_changed_samples(tmp_path):
    rec = write_recording(tmp_path, "v", _samples(100, 1), sample_rate=10.0)
    rec.verify()
    with open(rec.path / "samples.i16", "r+b") as fh:
        fh.seek(10)
        fh.write(b"\x00\x80")
    with pytest.raises(DatasetError, match="SHA-256"):
        open_recording(rec.path).verify()


# --------------------------------------------------------------------------- helpers


def test_dataset_quantize_maps_peak_to_30000():
    x = np.random.default_rng(1).normal(0, 0.3, size=(4000, 2))
    q, scale = quantize(x)
    assert q.dtype == np.int16 and q.shape == x.shape
    assert int(np.abs(q).max()) == pytest.approx(30000, abs=2)
    np.testing.assert_allclose(q * scale, x, atol=scale / 2 + 1e-12)
    assert np.float32(scale) == scale
    zeros, zscale = quantize(np.zeros(10))
    assert not zeros.any() and zscale > 0
    with pytest.raises(DatasetError, match="NaN"):
        quantize(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="headroom"):
        quantize(x, headroom=0.5)


def test_dataset_iter_recordings_accepts_datasets_and_recordings(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_recording(a, "r1", _samples(10, 1), sample_rate=10.0, label="normal")
    write_recording(a, "r2", _samples(10, 1), sample_rate=10.0, label="outer")
    write_recording(b, "r3", _samples(10, 1), sample_rate=10.0)
    (a / "notes").mkdir()  # no meta.json: ignored
    names = [r.name for r in iter_recordings([a, b / "r3"])]
    assert names == ["r1", "r2", "r3"]
    assert all(isinstance(r, Recording) for r in iter_recordings(a))
    with pytest.raises(DatasetError, match="no such dataset directory"):
        list(iter_recordings([tmp_path / "nope"]))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a dataset or recording directory"):
        list(iter_recordings([tmp_path / "file.txt"]))


def test_dataset_info_summarises(tmp_path):
    write_recording(tmp_path, "n", _samples(1200, 1), sample_rate=12000.0, label="normal")
    write_recording(
        tmp_path,
        "f",
        _samples(600, 2),
        sample_rate=12000.0,
        label="inner",
        counters={"crc_errors": 4, "dropped_frames": 2},
    )
    partial = RecordingWriter(tmp_path, "p", sample_rate=100.0)
    partial.append(_samples(100, 1))
    partial.flush()
    info = dataset_info(tmp_path)
    json.dumps(info, allow_nan=False)
    rows = {r["name"]: r for r in info["recordings"]}
    assert set(rows) == {"n", "f", "p"}
    assert rows["f"]["crc_errors"] == 4 and rows["f"]["dropped_frames"] == 2
    assert rows["f"]["axes"] == 2 and rows["f"]["samples"] == 600
    assert rows["p"]["complete"] is False
    assert rows["n"]["seconds"] == pytest.approx(0.1)
    assert info["total_samples"] == 1900
    assert info["labels"]["normal"] == pytest.approx(0.1)
    assert info["partial"] == 1
    partial.abort()

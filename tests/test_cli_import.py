from __future__ import annotations

import json

import numpy as np

from vibration.app.cli import main
from vibration.data.dataset import RecordingWriter, list_recordings, write_recording

FAULT_FILE = "12k_Drive_End_IR007_0_105.mat"


def test_cli_import_cwru_json_contract(cwru_dir, tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["import", str(cwru_dir / FAULT_FILE), str(cwru_dir / "normal_0_97.mat")]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in result["recordings"]}
    assert set(rows) == {"12k_Drive_End_IR007_0_105", "normal_0_97"}
    assert rows["normal_0_97"]["label"] == "normal"
    assert rows["normal_0_97"]["samples"] == 60985
    assert rows["12k_Drive_End_IR007_0_105"]["label"] == "inner"
    for row in rows.values():
        assert row["sample_rate"] == 12000.0
        assert row["crc_errors"] == 0 and row["dropped_frames"] == 0
    assert result["total_samples"] == 60985 + 121265
    assert len(list_recordings(out)) == 2


def test_cli_import_options_reach_the_importer(tmp_path, capsys):
    src = tmp_path / "acc.npy"
    np.save(src, np.random.default_rng(0).normal(size=(6000, 3)))
    out = tmp_path / "ds"
    argv = ["import", str(src), "--out", str(out), "--rate", "3000", "--label", "normal"]
    assert main([*argv, "--axis", "1", "--units", "m/s2"]) == 0
    assert "acc" in capsys.readouterr().out  # the table
    (rec,) = list_recordings(out)
    assert (rec.meta.sample_rate, rec.meta.label, rec.meta.axes, rec.meta.units) == (
        3000.0,
        "normal",
        1,
        "m/s2",
    )


def test_cli_import_bad_file_one_line_error_nothing_written(tmp_path, capsys):
    good = tmp_path / "good.npy"
    np.save(good, np.ones(5000))
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,x\n" * 2000)
    out = tmp_path / "ds"
    assert main(["import", str(good), str(bad), "--out", str(out), "--rate", "100"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().startswith("tinypdm: error: bad.csv: data line 2")
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""
    assert not out.exists()


def test_cli_import_requires_out(tmp_path, capsys):
    assert main(["import", str(tmp_path / "x.npy")]) == 2
    assert "--out" in capsys.readouterr().err


def test_cli_datasets_info_json_contract(tmp_path, capsys):
    rng = np.random.default_rng(1)
    write_recording(
        tmp_path, "a", rng.integers(-100, 100, (1200, 2)).astype(np.int16),
        sample_rate=12000.0, label="normal", counters={"crc_errors": 3, "dropped_frames": 1},
    )  # fmt: skip
    writer = RecordingWriter(tmp_path, "live", sample_rate=1000.0)
    writer.append(np.zeros((500, 1), dtype=np.int16))
    writer.flush()
    assert main(["datasets", "info", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in info["recordings"]}
    a = rows["a"]
    for key in ("name", "samples", "sample_rate", "label", "crc_errors", "dropped_frames",
                "axes", "seconds", "complete", "sensor_id", "source"):  # fmt: skip
        assert key in a
    assert (a["samples"], a["sample_rate"], a["label"], a["axes"]) == (1200, 12000.0, "normal", 2)
    assert (a["crc_errors"], a["dropped_frames"], a["complete"]) == (3, 1, True)
    assert rows["live"]["complete"] is False and rows["live"]["samples"] == 500
    assert info["total_samples"] == 1700
    writer.abort()


def test_cli_datasets_info_table(tmp_path, capsys):
    write_recording(tmp_path, "quiet_run", np.zeros(100, dtype=np.int16), sample_rate=100.0,
                    label="normal")  # fmt: skip
    assert main(["datasets", "info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "quiet_run" in out and "normal" in out and "1 recordings, 100 samples" in out


def test_cli_datasets_info_missing_dir(tmp_path, capsys):
    assert main(["datasets", "info", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.startswith("tinypdm: error: no such dataset directory")


def test_cli_datasets_verify_detects_corruption(tmp_path, capsys):
    rec = write_recording(tmp_path, "r", np.arange(100, dtype=np.int16), sample_rate=10.0)
    assert main(["datasets", "verify", str(tmp_path)]) == 0
    assert "1 recordings ok" in capsys.readouterr().out
    data = rec.path / "samples.i16"
    raw = bytearray(data.read_bytes())
    raw[0] ^= 1
    data.write_bytes(bytes(raw))
    assert main(["datasets", "verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "tinypdm: error: 1 recordings fail their checksum" in err

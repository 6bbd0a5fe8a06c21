"""Implausible inputs are refused or flagged: sample rates outside the one accepted range
(import, train on a tampered meta.json), flat (all-zero) training signals, and
``datasets info`` on a directory that is not a dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vibration.app.cli import main
from vibration.data.dataset import write_recording
from vibration.data.dataset.validation import (
    MAX_SAMPLE_RATE_HZ,
    MIN_SAMPLE_RATE_HZ,
    check_sample_rate,
)
from vibration.errors import DatasetError


def _one_error(args: list[str], capsys) -> str:
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("tinypdm: error:"), err
    return err[0]


def test_sample_rate_range_is_one_pair_of_constants():
    assert (MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ) == (1.0, 1_000_000.0)
    assert check_sample_rate(12000) == 12000.0
    for bad in (0.5, 1e-30, 1e300, float("nan"), float("inf"), -1.0, True, "12000"):
        with pytest.raises(DatasetError):
            check_sample_rate(bad)


@pytest.mark.parametrize("rate", ["1e-30", "1e300", "0.5", "2e6"])
def test_import_refuses_an_implausible_rate(tmp_path, capsys, rate):
    src = tmp_path / "x.npy"
    np.save(src, np.random.default_rng(0).normal(size=5000))
    out = tmp_path / "ds"
    err = _one_error(["import", str(src), "--rate", rate, "--out", str(out)], capsys)
    assert "rate must be 1..1e+06 Hz" in err
    assert not out.exists()


def test_import_refuses_a_csv_time_column_at_an_implausible_rate(tmp_path, capsys):
    src = tmp_path / "x.csv"
    src.write_text("time,a\n" + "".join(f"{i * 1e-9:.12e},{i % 7}\n" for i in range(3000)))
    err = _one_error(["import", str(src), "--out", str(tmp_path / "ds")], capsys)
    assert "sample rate of the time column 'time' must be 1..1e+06 Hz" in err


@pytest.mark.parametrize("rate", [1e-30, 1e300])
def test_train_refuses_a_recording_at_an_implausible_rate(tmp_path, capsys, rate):
    ds = tmp_path / "ds"
    rng = np.random.default_rng(0)
    write_recording(ds, "r", rng.integers(-999, 999, 40000, dtype=np.int16),
                    sample_rate=12000.0, label="normal")  # fmt: skip
    meta = ds / "r" / "meta.json"
    doc = json.loads(meta.read_text())
    doc["sample_rate"] = rate
    meta.write_text(json.dumps(doc))
    out = tmp_path / "model"
    err = _one_error(["train", str(ds), "--out", str(out), "--epochs", "1"], capsys)
    assert "sample_rate must be 1..1e+06 Hz" in err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.tensorflow
def test_train_warns_about_an_all_zero_recording(tmp_path, capsys):
    ds = tmp_path / "ds"
    rng = np.random.default_rng(0)
    write_recording(ds, "live", rng.integers(-999, 999, 40000, dtype=np.int16),
                    sample_rate=12000.0, label="normal")  # fmt: skip
    write_recording(ds, "dead", np.zeros(40000, np.int16), sample_rate=12000.0, label="normal")
    rc = main(["train", str(ds), "--out", str(tmp_path / "m"), "--epochs", "1", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    warnings = [ln for ln in captured.err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "recording dead is a flat signal" in warnings[0]
    assert json.loads(captured.out)["warnings"] == [warnings[0].removeprefix("warning: ")]


@pytest.mark.parametrize("layout", ["files-only", "empty", "subdirs"])
def test_datasets_info_on_a_directory_that_is_not_a_dataset(tmp_path, capsys, layout):
    d = tmp_path / "d"
    d.mkdir()
    if layout == "files-only":
        (d / "notes.txt").write_text("x")
    elif layout == "subdirs":
        (d / "src").mkdir()
        (d / "src" / "a.py").write_text("")
    err = _one_error(["datasets", "info", str(d)], capsys)
    assert "is not a dataset: it holds no recording" in err
    err = _one_error(["datasets", "info", str(d), "--json"], capsys)
    assert capsys.readouterr().out == ""

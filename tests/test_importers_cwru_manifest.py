"""CWRU manifest rows and RPM variables that cannot be trusted: one clear error each, through
``tinypdm import``, and nothing written."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from vibration.app.cli import main

FAULT_FILE = "12k_Drive_End_IR007_0_105.mat"


def _import_error(args: list[str], out: Path, capsys) -> str:
    rc = main(["import", *args, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("tinypdm: error:"), err
    assert not out.exists()
    return err[0]


def _manifest_with(cwru_dir: Path, tmp_path: Path, change) -> Path:
    with open(cwru_dir / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows = [r for r in rows if r["file"] == FAULT_FILE]
    columns = list(rows[0])
    columns = change(rows[0], columns) or columns
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


CASES = {
    "file_id-text": (lambda r, c: r.update(file_id="abc"), "file_id must be a whole number"),
    "missing-column": (lambda r, c: [x for x in c if x != "fs_hz"], "lacks the column(s) fs_hz"),
    "fs-zero": (lambda r, c: r.update(fs_hz="0"), "fs_hz must be 1..1e+06 Hz, got 0.0"),
    "fs-nan": (lambda r, c: r.update(fs_hz="nan"), "fs_hz must be 1..1e+06 Hz, got nan"),
    "fs-negative": (lambda r, c: r.update(fs_hz="-12000"), "fs_hz must be 1..1e+06 Hz"),
    "fs-text": (lambda r, c: r.update(fs_hz="fast"), "fs_hz must be a number, got 'fast'"),
    "fs-empty": (lambda r, c: r.update(fs_hz=""), "fs_hz is empty"),
    "rpm-inf": (lambda r, c: r.update(rpm="inf"), "rpm must be a finite number >= 0"),
}


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_importers_cwru_bad_manifest_row_is_one_error(cwru_dir, tmp_path, capsys, case):
    change, message = CASES[case]
    manifest = _manifest_with(cwru_dir, tmp_path, change)
    err = _import_error(
        [str(cwru_dir / FAULT_FILE), "--manifest", str(manifest)], tmp_path / "ds", capsys
    )
    assert message in err
    if case != "missing-column":
        assert f"manifest row {FAULT_FILE!r}" in err


@pytest.mark.parametrize(
    ("rpm", "message"),
    [
        (np.zeros((0, 0)), "X097RPM must hold the shaft speed in rpm, a number"),
        ("fast", "X097RPM must hold the shaft speed in rpm, a number"),
        (np.array([[np.nan]]), "X097RPM must be a finite number >= 0, got nan"),
    ],
    ids=["empty", "text", "nan"],
)
def test_importers_cwru_bad_rpm_variable_is_one_error(tmp_path, capsys, rpm, message):
    src = tmp_path / "in" / "normal_0_97.mat"
    src.parent.mkdir()
    signal = np.random.default_rng(0).normal(size=(4096, 1))
    savemat(src, {"X097_DE_time": signal, "X097RPM": rpm})
    err = _import_error([str(src), "--rate", "12000"], tmp_path / "ds", capsys)
    assert message in err


def test_importers_cwru_good_manifest_still_imports(cwru_dir, tmp_path, capsys):
    src = tmp_path / FAULT_FILE
    shutil.copy(cwru_dir / FAULT_FILE, src)
    manifest = _manifest_with(cwru_dir, tmp_path, lambda r, c: None)
    assert (
        main(["import", str(src), "--manifest", str(manifest), "--out", str(tmp_path / "d")]) == 0
    )

"""A model.json with a tampered threshold or scaler: evaluate, export and train --from stop
with one clear error and write nothing (no report, no timeline.png, no bundle, no model)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from vibration.app.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]

CWRU_FILES = ["normal_0_97.mat", "12k_Drive_End_IR007_0_105.mat"]


@pytest.fixture(scope="module")
def trained(cwru_dir, tmp_path_factory):
    from vibration.app.commands.train import train_model
    from vibration.data.importers import import_files

    root = tmp_path_factory.mktemp("trained")
    dataset = root / "dataset"
    import_files([cwru_dir / f for f in CWRU_FILES], dataset, variable="DE")
    train_model([dataset], root / "model", epochs=2, seed=0, detector_params={"hidden": (8, 4)})
    return root / "model", dataset


def _tampered(trained, tmp_path: Path, change) -> Path:
    model = tmp_path / "model"
    shutil.copytree(trained[0], model)
    doc = json.loads((model / "model.json").read_text())
    change(doc)
    (model / "model.json").write_text(json.dumps(doc))
    return model


def _one_error(args: list[str], capsys) -> str:
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("tinypdm: error:"), err
    return err[0]


@pytest.mark.parametrize("threshold", [0.0, math.nan, -1.0], ids=["zero", "nan", "negative"])
def test_evaluate_report_with_a_tampered_threshold_writes_nothing(
    trained, tmp_path, capsys, threshold
):
    model = _tampered(trained, tmp_path, lambda d: d.update(threshold=threshold))
    report = tmp_path / "report"
    err = _one_error(["evaluate", str(model), str(trained[1]), "--report", str(report)], capsys)
    assert "threshold must be > 0" in err
    assert not report.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_export_with_a_float32_overflowing_threshold_writes_nothing(trained, tmp_path, capsys):
    model = _tampered(trained, tmp_path, lambda d: d.update(threshold=1e308))
    out = tmp_path / "fw"
    err = _one_error(["export", str(model), "--out", str(out), "--no-measure"], capsys)
    assert "threshold must be > 0 and at most 3.403e+38" in err
    assert not out.exists()


@pytest.mark.parametrize("bad", [0.0, -2.0, math.inf], ids=["zero", "negative", "inf"])
def test_train_from_a_model_with_a_bad_scaler_scale_writes_nothing(trained, tmp_path, capsys, bad):
    def change(d):
        d["scaler"]["scale"][3] = bad

    model = _tampered(trained, tmp_path, change)
    out = tmp_path / "m2"
    err = _one_error(["train", str(trained[1]), "--from", str(model), "--out", str(out)], capsys)
    assert "scaler scale must be finite and > 0" in err
    assert not out.exists()

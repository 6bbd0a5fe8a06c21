"""The model registry: finding model dirs and bundles, and checking a sensor's model hash."""

from __future__ import annotations

import json

import pytest

from dashboard.registry import Registry, RegistryEntry, check_model, scan_registry
from tests.support import make_registry


def entry(found: RegistryEntry | None) -> RegistryEntry:
    assert found is not None
    return found


def test_registry_finds_model_dirs_and_bundles_and_hashes_tflite(tmp_path):
    hashes = make_registry(tmp_path)
    reg = scan_registry(tmp_path)
    assert sorted((e.name, e.kind) for e in reg) == [
        ("ae-v1", "model"),
        ("bundles/v1", "bundle"),
        ("bundles/v2", "bundle"),
    ]
    assert entry(reg.by_hash(hashes["bundles/v1"])).name == "bundles/v1"
    assert entry(reg.newest_bundle()).name == "bundles/v2"
    model = entry(reg.by_name("ae-v1"))
    assert model.report_md is not None and [p.name for p in model.plots] == ["timeline.png"]
    assert model.report_text() == "### Report\n\nAUC 0.998\n\n\n"
    assert model.metrics()["summary.epochs"] == 12


def test_check_model_flags_unknown_outdated_and_missing_models(tmp_path):
    hashes = make_registry(tmp_path)
    reg = scan_registry(tmp_path)
    assert check_model(reg, hashes["bundles/v2"], "s1").status == "ok"
    outdated = check_model(reg, hashes["bundles/v1"], "s1")
    assert outdated.status == "outdated" and outdated.flagged
    assert entry(outdated.expected).name == "bundles/v2"
    assert check_model(reg, "ef" * 32, "s1").status == "unknown"
    assert check_model(reg, "0" * 64, "s1").status == "no model"
    assert check_model(None, hashes["bundles/v2"], "s1").status == "unchecked"
    assert check_model(reg, "", "s1").status == "unchecked"


def test_check_model_honours_fleet_json_pins(tmp_path):
    hashes = make_registry(tmp_path)
    (tmp_path / "fleet.json").write_text(
        json.dumps({"expected": {"old-pump": "bundles/v1", "fans": hashes["bundles/v1"]}})
    )
    reg = scan_registry(tmp_path)
    assert check_model(reg, hashes["bundles/v1"], "old-pump").status == "ok"
    assert check_model(reg, hashes["bundles/v1"], "fan-9", "fans").status == "ok"
    assert check_model(reg, hashes["bundles/v2"], "old-pump").status == "outdated"


def test_registry_reports_bad_files_instead_of_raising(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    (tmp_path / "fleet.json").write_text("[]")
    reg = scan_registry(tmp_path)
    assert "cannot read manifest.json" in entry(reg.by_name("broken")).error
    assert reg.error
    missing = scan_registry(tmp_path / "nope")
    assert len(missing) == 0 and "not a directory" in missing.error


@pytest.mark.parametrize("root", [None], ids=["no-registry"])
def test_registry_without_root_is_empty(root):
    reg: Registry = scan_registry(root)
    assert reg.root is None and len(reg) == 0 and reg.newest_bundle() is None

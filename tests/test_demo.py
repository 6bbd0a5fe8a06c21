"""`tinypdm demo --quick --json`: every stage of the loop, checked from its JSON summary
and from what it left on disk; then the dashboard on the demo's store shows the alarm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.config import ENV_MODELS, ENV_STORE
from firmware_export.firmware import qemu_available, toolchain_available
from tests.support import APP, IN_CI, frame

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]  # the demo trains a model


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo") / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "vibration.app.cli", "demo", "--quick", "--json", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, json.loads(proc.stdout)


def test_demo_quick_dataset_stage_captured_clean_recordings(demo_run):
    out, s = demo_run
    recs = s["dataset"]["recordings"]
    assert len(recs) == 2
    assert all(r["complete"] and r["label"] == "normal" for r in recs)
    assert all(r["crc_errors"] == 0 and r["dropped_frames"] == 0 for r in recs)
    assert s["dataset"]["total_samples"] == sum(r["samples"] for r in recs) >= 2 * 8 * 12000
    assert (out / "dataset" / recs[0]["name"] / "meta.json").exists()


def test_demo_quick_model_stage_detects_faults_without_false_alarms(demo_run):
    out, s = demo_run
    model = s["model"]
    assert (out / "model" / "model.json").exists()
    assert model["false_alarm_rate"] <= 0.01
    assert model["detection"]["outer-0.8"] >= 0.9
    assert model["detection"]["inner-0.8"] >= 0.9


def test_demo_quick_bundle_stage_passes_every_parity_rung(demo_run):
    out, s = demo_run
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    assert s["parity_passed"] is True
    assert [r["passed"] for r in manifest["parity"]] == [True] * len(manifest["parity"]) != []
    if toolchain_available() and qemu_available():
        assert manifest["sizes"]["flash_bytes"] <= 32 * 1024
        assert manifest["instructions_per_window"] <= 400_000


def test_demo_quick_fleet_stores_scores_and_alarms_the_faulty_sensor_only(demo_run):
    _, s = demo_run
    fleet = s["fleet"]
    if IN_CI or (qemu_available() and toolchain_available()):
        # The real firmware scores where it can: the faulty pump-1 and pump-2 in QEMU.
        engines = {name: v["engine"] for name, v in fleet["sensors"].items()}
        assert engines == {"pump-1": "qemu", "pump-2": "qemu", "pump-3": "host"}
    assert s["points_stored"] == fleet["scores_received"] > 0  # every SCORE frame stored once
    assert fleet["lost"] == 0
    assert s["alarms"]["pump-1"] >= 1
    assert {k: v for k, v in s["alarms"].items() if k != "pump-1"} == {
        "pump-2": 0,
        "pump-3": 0,
    }


def test_demo_quick_store_shows_the_alarm_on_the_fleet_page(demo_run, monkeypatch):
    out, s = demo_run
    monkeypatch.setenv(ENV_STORE, s["store"])
    monkeypatch.setenv(ENV_MODELS, str(out))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    df = frame(at, "fleet_table").set_index("sensor")
    assert set(df.index) == {"pump-1", "pump-2", "pump-3"}
    assert df.loc["pump-1", "state"] == "alarm"
    assert "alarm" not in set(df.loc[["pump-2", "pump-3"], "state"])

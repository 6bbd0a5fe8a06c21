"""Snapshot series (FEMTO CSV directory, FEMTO .npz) import as one recording of segments,
UESTC file names and the operating point (--rpm/--load) as recording metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vibration.app.cli import main
from vibration.data.dataset import list_recordings
from vibration.data.importers import import_files, read_signal, snapshot_times
from vibration.errors import DatasetError
from vibration.learning.features import FeatureConfig
from vibration.learning.windows import recording_windows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FEMTO_RAW = DATA / "femto" / "raw" / "Bearing1_1"
UESTC = DATA / "uestc"


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared data missing: {path}")


def _femto_npz(path: Path, clock: list[float], n: int = 2560, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    k = len(clock)
    np.savez(
        path,
        horiz=rng.normal(size=(k, n)).astype(np.float32),
        vert=rng.normal(size=(k, n)).astype(np.float32),
        clock_s=np.asarray(clock, dtype=np.float64),
        sample_rate=np.float64(25600.0),
    )
    return path


def test_importers_snapshots_femto_raw_csv_directory_is_one_recording(tmp_path):
    _need(FEMTO_RAW)
    (rec,) = import_files([FEMTO_RAW], tmp_path / "ds")
    assert rec.name == "Bearing1_1"
    assert rec.meta.sample_rate == 25600.0  # derived from the per-sample clock columns
    assert (rec.meta.axes, rec.meta.samples, rec.meta.units) == (2, 25600, "g")
    assert rec.segments() == [(i * 2560, (i + 1) * 2560) for i in range(10)]
    assert rec.segment_times() == pytest.approx([10.0 * i for i in range(10)])
    assert rec.duration_s() == pytest.approx(90.1)
    extra = rec.meta.extra
    assert extra["importer"] == "femto-csv" and extra["snapshots"] == 10
    assert extra["clock_start_s"] == pytest.approx(9 * 3600 + 39 * 60 + 39.065664)
    assert (extra["rpm"], extra["load"], extra["load_units"]) == (1800.0, 4000.0, "N")
    assert extra["clock_fallbacks"] == 0
    assert rec.meta.counters["missing_samples"] == 0
    third = np.loadtxt(FEMTO_RAW / "acc_00003.csv", delimiter=",")
    got = rec.physical()[2 * 2560 : 3 * 2560]
    np.testing.assert_allclose(got, third[:, 4:6], atol=rec.meta.scale * 0.51 + 1e-6)
    rec.verify()


def test_importers_snapshots_windows_never_cross_a_snapshot(tmp_path):
    _need(FEMTO_RAW)
    (rec,) = import_files([FEMTO_RAW], tmp_path / "ds")
    config = FeatureConfig.for_rate(25600.0)  # 2048-sample windows, hop 1024
    w = recording_windows(rec, config)
    assert w.n_windows == 10  # one per 2560-sample snapshot, none across two
    assert np.all(w.starts % 2560 + config.window <= 2560)
    # Window times follow the snapshots' clocks, in time order across the gaps.
    np.testing.assert_allclose(w.times(config), 10.0 * np.arange(10) + 2048 / 25600)
    assert w.duration_s == pytest.approx(90.1)


def test_importers_snapshots_times_survive_a_wrong_clock():
    clock = [100.0, 110.0, 120.0, 50.0, 50.0, 150.0, 160.0, 9999.0, 180.0]
    times, fallbacks = snapshot_times(np.array(clock))
    np.testing.assert_allclose(times, [0, 10, 20, 30, 40, 50, 60, 70, 80])
    assert fallbacks == [3, 4, 7]
    # Past midnight, a pause the next snapshot confirms: clocks kept.
    times, fallbacks = snapshot_times(np.array([86380.0, 86390.0, 0.0, 10.0, 500.0, 510.0]))
    np.testing.assert_allclose(times, [0, 10, 20, 30, 520, 530])
    assert fallbacks == []


def test_importers_snapshots_npz_with_a_wrong_clock_is_timed_by_index(tmp_path):
    src = _femto_npz(tmp_path / "Bearing2_1.npz", [500.0, 510.0, 3.0, 530.0, 540.0])
    (rec,) = import_files([src], tmp_path / "ds", axis=0)
    assert rec.meta.axes == 1 and rec.meta.extra["axis"] == 0
    assert rec.segment_times() == pytest.approx([0.0, 10.0, 20.0, 30.0, 40.0])
    extra = rec.meta.extra
    assert (extra["clock_fallbacks"], extra["clock_fallback_snapshots"]) == (1, [2])
    assert (extra["rpm"], extra["load"]) == (1650.0, 4200.0)  # condition 2
    with np.load(src) as z:
        np.testing.assert_allclose(
            rec.physical(0)[2560:5120], z["horiz"][1], atol=rec.meta.scale * 0.51 + 1e-6
        )


def test_importers_snapshots_npz_missing_keys_is_one_clear_error(tmp_path):
    np.savez(tmp_path / "x.npz", horiz=np.zeros((3, 4096)))
    with pytest.raises(DatasetError, match="lacks vert, clock_s, sample_rate"):
        read_signal(tmp_path / "x.npz")


def test_importers_snapshots_uestc_names_give_rpm_label_and_rate(tmp_path):
    _need(UESTC / "O_1200_1.mat")
    sig = read_signal(UESTC / "O_1200_1.mat")
    assert sig.sample_rate == 20000.0  # the file's SampleFrequency, no --rate needed
    assert sig.label == "outer"
    assert (sig.extra["rpm"], sig.extra["condition"], sig.extra["part"]) == (1200.0, "O", 1)


def test_importers_snapshots_cli_rpm_and_load_are_metadata(tmp_path, capsys):
    src = _femto_npz(tmp_path / "run.npz", [0.0, 10.0, 20.0])
    out = tmp_path / "ds"
    argv = ["import", str(src), "--out", str(out), "--rpm", "1234.5", "--load", "3", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["recordings"][0]["gaps"] == 2
    (rec,) = list_recordings(out)
    assert (rec.meta.extra["rpm"], rec.meta.extra["load"]) == (1234.5, 3.0)
    assert main(["import", str(src), "--out", str(tmp_path / "b"), "--rpm", "-5"]) != 0
    assert not (tmp_path / "b").exists()

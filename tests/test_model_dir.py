"""Model directories: round trip, atomic replacement, clear errors, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vibration.errors import ModelError
from vibration.learning.detector import AutoencoderDetector
from vibration.learning.features import FeatureConfig
from vibration.learning.model_dir import CALIBRATION_MAX, load_model_dir, save_model_dir
from vibration.learning.thresholds import AlarmPolicy

pytestmark = pytest.mark.tensorflow

CONFIG = FeatureConfig(sample_rate=8000.0, window=256, hop=128, n_bands=9)
SUMMARY = {"label": "normal", "recordings": [{"name": "a", "sha256": "0" * 64}], "seed": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, CONFIG.n_features)) * 0.3 + np.arange(CONFIG.n_features)
    detector = AutoencoderDetector(hidden=(16, 4), epochs=3, random_state=1).fit(X)
    path = save_model_dir(
        tmp_path_factory.mktemp("models") / "m", detector, CONFIG, SUMMARY, features=X
    )
    return detector, X, path


def test_model_dir_round_trip_gives_identical_scores(trained):
    detector, X, path = trained
    for keras in (True, False):
        model = load_model_dir(path, keras=keras)
        np.testing.assert_array_equal(model.detector.anomaly_score(X), detector.anomaly_score(X))
        np.testing.assert_array_equal(model.detector.predict(X), detector.predict(X))
        assert model.threshold == detector.threshold_ == model.detector.threshold_
        assert model.feature_config == CONFIG
        assert (model.alarm_policy.k, model.alarm_policy.n) == (3, 5)
        assert model.detector.get_params() == detector.get_params()
        assert model.path == path
        assert (model.detector.model_ is None) is (not keras)
    assert load_model_dir(path).detector.model_.count_params() == detector.n_parameters_


def test_model_dir_files_are_plain_data(trained):
    detector, X, path = trained
    assert sorted(p.name for p in path.iterdir()) == [
        "calibration.npy",
        "features.npy",
        "model.json",
        "model.keras",
        "weights.npz",
    ]
    calibration = np.load(path / "calibration.npy", allow_pickle=False)
    assert calibration.dtype == np.float32
    assert calibration.shape == (CALIBRATION_MAX, CONFIG.n_features)  # of 2250 train windows
    train = X[: detector.n_train_]
    assert calibration.shape[0] <= train.shape[0]
    np.testing.assert_allclose(calibration[0], detector.standardise(train[:1])[0], rtol=1e-6)
    np.testing.assert_allclose(calibration[-1], detector.standardise(train[-1:])[0], rtol=1e-6)
    np.testing.assert_array_equal(np.load(path / "features.npy", allow_pickle=False), X)
    with np.load(path / "weights.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["b0", "b1", "b2", "b3", "k0", "k1", "k2", "k3"]


def test_model_dir_json_describes_the_model(trained):
    detector, X, path = trained
    doc = json.loads((path / "model.json").read_text())
    assert doc["format"] == "tinypdm-model" and doc["format_version"] == 1
    assert doc["feature_config"] == CONFIG.to_dict()
    assert doc["feature_names"] == CONFIG.feature_names
    assert doc["scaler"]["mean"] == detector.mean_.tolist()
    assert doc["scaler"]["scale"] == detector.scale_.tolist()
    assert doc["threshold"] == detector.threshold_
    assert doc["alarm_policy"] == AlarmPolicy().to_dict()
    assert doc["detector"]["params"]["hidden"] == [16, 4]
    assert doc["detector"]["n_parameters"] == detector.n_parameters_
    assert [layer["activation"] for layer in doc["detector"]["layers"]] == [
        "relu",
        "relu",
        "relu",
        "linear",
    ]
    training = doc["training"]
    assert training["recordings"] == SUMMARY["recordings"]
    assert training["n_windows_train"] == detector.n_train_
    assert training["n_windows_held_out"] == len(X) - detector.n_train_
    assert training["tinypdm_version"] and training["created_at"].endswith("Z")
    assert set(doc["files"]) == {"model.keras", "weights.npz", "calibration.npy", "features.npy"}


def test_model_dir_save_replaces_a_model_but_nothing_else(trained, tmp_path):
    detector, X, _ = trained
    target = tmp_path / "m"
    save_model_dir(target, detector, CONFIG, SUMMARY, features=X)
    save_model_dir(target, detector, CONFIG, {**SUMMARY, "seed": 2}, features=X)
    assert load_model_dir(target, keras=False).summary["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary left over
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ModelError, match="not a model directory"):
        save_model_dir(other, detector, CONFIG, SUMMARY, features=X)
    assert sorted(p.name for p in other.iterdir()) == ["keep.txt"]


def test_model_dir_save_refuses_mismatched_features(trained, tmp_path):
    detector, X, _ = trained
    with pytest.raises(ModelError, match="feature config"):
        save_model_dir(tmp_path / "m", detector, FeatureConfig(), SUMMARY, features=X)
    with pytest.raises(ModelError, match="JSON"):
        save_model_dir(tmp_path / "m", detector, CONFIG, {"when": object()}, features=X)
    assert not (tmp_path / "m").exists()


def _copy(path: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(path, tmp_path / "copy"))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda p: (p / "model.json").unlink(), "not a model directory"),
        (lambda p: (p / "model.json").write_text("{not json"), "unreadable model.json"),
        (lambda p: (p / "model.json").write_text('{"format": "x"}'), "not a tinypdm model"),
        (lambda p: (p / "weights.npz").unlink(), "lacks weights.npz"),
        (lambda p: (p / "calibration.npy").write_bytes(b"garbage"), "corrupt"),
        (
            lambda p: (p / "model.json").write_text(
                json.dumps({**json.loads((p / "model.json").read_text()), "format_version": 9})
            ),
            "format_version 9",
        ),
        (
            lambda p: (p / "model.json").write_text(
                json.dumps({**json.loads((p / "model.json").read_text()), "scaler": {}})
            ),
            "inconsistent",
        ),
    ],
    ids=["no-json", "bad-json", "wrong-format", "missing-file", "corrupt", "version", "scaler"],
)
def test_model_dir_load_reports_damage_clearly(trained, tmp_path, damage, match):
    copy = _copy(trained[2], tmp_path)
    damage(copy)
    with pytest.raises(ModelError, match=match):
        load_model_dir(copy, keras=False)


def test_model_dir_load_missing_directory(tmp_path):
    with pytest.raises(ModelError, match="no model directory"):
        load_model_dir(tmp_path / "absent")


def test_model_dir_save_failure_leaves_the_old_model(trained, tmp_path, monkeypatch):
    detector, X, _ = trained
    target = tmp_path / "m"
    save_model_dir(target, detector, CONFIG, SUMMARY, features=X)
    before = (target / "model.json").read_bytes()

    def disk_full(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vibration.learning.model_dir.sha256_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_model_dir(target, detector, CONFIG, {**SUMMARY, "seed": 9}, features=X)
    assert (target / "model.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_model_dir_without_lifecycle_keys_loads_default_lifecycle(trained, tmp_path):
    import shutil

    _, _, path = trained
    old = tmp_path / "old-model"
    shutil.copytree(path, old)
    doc = json.loads((old / "model.json").read_text())
    doc["alarm_policy"] = {"k": 3, "n": 5}  # written before the alarm lifecycle existed
    (old / "model.json").write_text(json.dumps(doc))
    assert load_model_dir(old, keras=False).alarm_policy == AlarmPolicy()

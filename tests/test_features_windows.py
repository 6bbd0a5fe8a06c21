"""vibration.learning.windows: recordings on disk -> windows -> features, rate checks."""

from __future__ import annotations

import numpy as np
import pytest

from vibration.data.dataset import open_recording, write_recording
from vibration.errors import ModelError
from vibration.learning import windows as windows_module
from vibration.learning.features import FeatureConfig, extract_features
from vibration.learning.windows import common_sample_rate, load_windows, recording_windows


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    samples = rng.integers(-3000, 3000, size=(9000, 2), dtype=np.int16)
    write_recording(
        tmp_path, "gappy", samples, sample_rate=12000.0, scale=0.001, label="normal", gaps=[4000]
    )
    write_recording(tmp_path, "fault", samples[:3000, 0], sample_rate=12000.0, label="outer")
    return tmp_path


def test_features_recording_windows_match_extract_features(dataset, monkeypatch):
    monkeypatch.setattr(windows_module, "_CHUNK_WINDOWS", 3)  # several feature batches
    recording = open_recording(dataset / "gappy")
    config = FeatureConfig(axis=1)
    result = recording_windows(recording, config)
    expected = extract_features(recording.physical(), config, recording.segments())
    np.testing.assert_array_equal(result.features, expected)
    # 4000 samples then 5000 after the gap: 6 + 8 windows, none across sample 4000.
    assert result.n_windows == 14
    assert result.starts.tolist()[:7] == [0, 512, 1024, 1536, 2048, 2560, 4000]
    assert result.sha256 == recording.meta.sha256
    assert result.label == "normal" and result.name == "gappy"
    np.testing.assert_allclose(result.times(config)[0], 1024 / 12000.0)


def test_features_load_windows_filters_by_label(dataset):
    config, kept, skipped = load_windows([dataset], label="normal")
    assert [w.name for w in kept] == ["gappy"]
    assert [r.name for r in skipped] == ["fault"]
    assert config == FeatureConfig.for_rate(12000.0)
    with pytest.raises(ModelError, match="no recordings labelled 'inner'"):
        load_windows([dataset], label="inner")


def test_features_load_windows_refuses_mismatched_rates(dataset):
    write_recording(dataset, "fast", np.zeros(5000, np.int16), sample_rate=48000.0)
    with pytest.raises(ModelError, match="different sample rates"):
        load_windows([dataset])
    with pytest.raises(ModelError, match="48000 Hz but the model expects 12000 Hz"):
        load_windows([dataset / "fast"], FeatureConfig())
    with pytest.raises(ModelError, match="reads axis 2"):
        load_windows([dataset / "gappy"], FeatureConfig(axis=2))


def test_features_common_rate_tolerates_estimated_rates(dataset):
    write_recording(dataset, "text", np.zeros(5000, np.int16), sample_rate=11990.0)
    rate = common_sample_rate([open_recording(dataset / "text"), open_recording(dataset / "gappy")])
    assert 11990.0 <= rate <= 12000.0


@pytest.mark.parametrize(
    ("rate", "window"),
    [(1000.0, 64), (3200.0, 256), (12000.0, 1024), (25600.0, 2048), (48000.0, 4096), (1e5, 4096)],
)
def test_features_for_rate_keeps_the_window_duration(rate, window):
    config = FeatureConfig.for_rate(rate)
    assert (config.sample_rate, config.window, config.hop) == (rate, window, window // 2)
    assert FeatureConfig.for_rate(12000.0) == FeatureConfig()
    assert FeatureConfig.for_rate(rate, hop=16).hop == 16

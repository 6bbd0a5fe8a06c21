from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import signal, stats

from vibration.data.bearing import BearingGeometry
from vibration.data.dataset import open_recording
from vibration.data.simulator import BearingSimulator, SimulatorConfig, simulate_recording


def _envelope_spectrum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Spectrum of the Hilbert envelope of the resonance band (classic envelope analysis)."""
    sos = signal.butter(4, (0.15 * fs, 0.35 * fs), btype="bandpass", fs=fs, output="sos")
    env = np.abs(signal.hilbert(signal.sosfiltfilt(sos, x)))
    env -= env.mean()
    spec = np.abs(np.fft.rfft(env * np.hanning(len(env))))
    return np.fft.rfftfreq(len(env), 1 / fs), spec


def _line(freqs: np.ndarray, spec: np.ndarray, f0: float, tol: float = 1.5) -> float:
    return float(spec[(freqs > f0 - tol) & (freqs < f0 + tol)].max())


def _window_kurtosis(x: np.ndarray, window: int = 1024) -> float:
    w = x[: len(x) // window * window].reshape(-1, window)
    return float(np.median(stats.kurtosis(w, axis=1, fisher=False)))


# --------------------------------------------------------------------------- geometry


def test_simulator_geometry_matches_cwru_6205_frequencies():
    ff = BearingGeometry().fault_frequencies(1.0)
    # Multiples of shaft speed published for the 6205-2RS of the CWRU rig.
    assert ff["bpfo"] == pytest.approx(3.5848, abs=1e-3)
    assert ff["bpfi"] == pytest.approx(5.4152, abs=1e-3)
    assert ff["bsf"] == pytest.approx(2.3570, abs=1e-3)
    assert ff["ftf"] == pytest.approx(0.39828, abs=1e-4)
    assert BearingGeometry().fault_frequencies(29.95)["bpfo"] == pytest.approx(107.36, abs=0.01)


def test_simulator_geometry_contact_angle_changes_frequencies():
    angled = BearingGeometry(contact_angle_deg=40.0).fault_frequencies(10.0)
    plain = BearingGeometry().fault_frequencies(10.0)
    assert angled["bpfo"] > plain["bpfo"] and angled["bpfi"] < plain["bpfi"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_balls": 2},
        {"ball_diameter_mm": 0.0},
        {"pitch_diameter_mm": 5.0},
        {"contact_angle_deg": 75.0},
    ],
    ids=["balls", "ball-diameter", "pitch-smaller", "angle"],
)
def test_simulator_geometry_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="got"):
        BearingGeometry(**kwargs)


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("split", [1, 1023, 1024, 5000, 11999], ids=lambda s: f"split{s}")
def test_simulator_stream_split_equals_whole(split):
    cfg = SimulatorConfig(fault="inner", severity=0.4, axes=3, seed=7)
    whole = BearingSimulator(cfg).generate(12000)
    sim = BearingSimulator(cfg)
    parts = np.concatenate([sim.generate(split), sim.generate(0), sim.generate(12000 - split)])
    np.testing.assert_array_equal(parts, whole)
    assert sim.samples_generated == 12000


def test_simulator_many_small_calls_equal_one_call():
    cfg = SimulatorConfig(fault="ball", severity=0.5, seed=3)
    rng = np.random.default_rng(0)
    sizes = rng.integers(0, 700, size=60)
    sim = BearingSimulator(cfg)
    chunks = [sim.generate(int(n)) for n in sizes]
    np.testing.assert_array_equal(
        np.concatenate(chunks), BearingSimulator(cfg).generate(int(sizes.sum()))
    )


def test_simulator_shaft_phase_is_continuous_across_blocks():
    # Only a 1x sine at constant speed: the output must be one perfect sinusoid for many
    # internal blocks -- no phase jumps at block or call boundaries.
    cfg = SimulatorConfig(
        harmonics=(0.1,),
        noise_g=0.0,
        roughness_g=0.0,
        speed_variation=0.0,
        load_variation=0.0,
        rpm=1500.0,
        seed=11,
    )
    sim = BearingSimulator(cfg)
    x = np.concatenate([sim.generate(777), sim.generate(30000)])[:, 0]
    t = np.arange(len(x)) / cfg.sample_rate
    basis = np.column_stack([np.sin(2 * np.pi * 25.0 * t), np.cos(2 * np.pi * 25.0 * t)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    assert np.max(np.abs(basis @ coef - x)) < 1e-9
    assert np.hypot(*coef) == pytest.approx(0.1)


def test_simulator_seed_determines_output():
    cfg = SimulatorConfig(fault="outer", severity=0.3, seed=5)
    a = BearingSimulator(cfg).generate(5000)
    b = BearingSimulator(cfg).generate(5000)
    c = BearingSimulator(dataclasses.replace(cfg, seed=6)).generate(5000)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_simulator_int16_is_quantised_physical_signal():
    cfg = SimulatorConfig(fault="outer", severity=1.0, seed=2, scale=0.01)
    x = BearingSimulator(cfg).generate(4000)
    q = BearingSimulator(cfg).generate_int16(4000)
    assert q.dtype == np.int16 and q.shape == (4000, 1)
    np.testing.assert_array_equal(q, np.rint(x / 0.01).astype(np.int16))
    loud = dataclasses.replace(cfg, scale=1e-5)  # 0.33 g full scale: clips
    clipped = BearingSimulator(loud).generate_int16(4000)
    assert clipped.max() == 32767 and clipped.min() == -32768


# --------------------------------------------------------------------------- physics


def test_simulator_healthy_level_resembles_cwru_normal():
    x = BearingSimulator(SimulatorConfig(seed=1)).generate(60000)[:, 0]
    rms = float(np.sqrt(np.mean(x**2)))
    assert 0.05 <= rms <= 0.1  # CWRU normal_0_97 drive end: 0.072 g
    assert 2.5 < _window_kurtosis(x) < 3.3


@pytest.mark.parametrize("fault", ["outer", "inner", "ball"])
def test_simulator_kurtosis_rises_with_severity(fault):
    kurt = []
    for severity in (0.0, 0.15, 0.4, 1.0):
        cfg = SimulatorConfig(fault=fault, severity=severity, seed=4)
        kurt.append(_window_kurtosis(BearingSimulator(cfg).generate(48000)[:, 0]))
    assert kurt == sorted(kurt)
    assert kurt[-1] > 5.0
    assert kurt[0] < 3.3


def test_simulator_small_severity_is_not_obvious():
    healthy = BearingSimulator(SimulatorConfig(seed=8)).generate(48000)[:, 0]
    slight = BearingSimulator(SimulatorConfig(fault="outer", severity=0.05, seed=8)).generate(
        48000
    )[:, 0]
    rms_ratio = np.sqrt(np.mean(slight**2)) / np.sqrt(np.mean(healthy**2))
    assert rms_ratio < 1.1
    assert _window_kurtosis(slight) - _window_kurtosis(healthy) < 0.3


def test_simulator_envelope_spectrum_outer_peaks_at_bpfo():
    cfg = SimulatorConfig(fault="outer", severity=0.3, seed=3)
    x = BearingSimulator(cfg).generate(24000)[:, 0]
    freqs, spec = _envelope_spectrum(x, cfg.sample_rate)
    band = (freqs > 20) & (freqs < 400)
    bpfo = cfg.fault_frequencies()["bpfo"]
    assert freqs[band][np.argmax(spec[band])] == pytest.approx(bpfo, abs=1.0)
    assert _line(freqs, spec, bpfo) > 20 * np.median(spec[band])
    assert _line(freqs, spec, 2 * bpfo) > 5 * np.median(spec[band])


def test_simulator_envelope_spectrum_inner_peaks_at_bpfi_with_shaft_sidebands():
    cfg = SimulatorConfig(fault="inner", severity=0.3, seed=1)
    x = BearingSimulator(cfg).generate(24000)[:, 0]
    freqs, spec = _envelope_spectrum(x, cfg.sample_rate)
    band = (freqs > 20) & (freqs < 400)
    floor = np.median(spec[band])
    ff = cfg.fault_frequencies()
    above_shaft = (freqs > 2.5 * cfg.shaft_hz) & (freqs < 400)
    assert freqs[above_shaft][np.argmax(spec[above_shaft])] == pytest.approx(ff["bpfi"], abs=1.0)
    assert _line(freqs, spec, ff["bpfi"]) > 10 * floor
    assert _line(freqs, spec, ff["bpfi"] - cfg.shaft_hz) > 5 * floor  # load-zone sidebands
    assert _line(freqs, spec, ff["bpfi"] + cfg.shaft_hz) > 5 * floor
    assert _line(freqs, spec, cfg.shaft_hz) > 10 * floor  # modulation once per turn
    assert _line(freqs, spec, ff["bpfo"]) < 3 * floor  # not an outer-race signature


def test_simulator_envelope_spectrum_healthy_has_no_defect_lines():
    cfg = SimulatorConfig(seed=5)
    x = BearingSimulator(cfg).generate(24000)[:, 0]
    freqs, spec = _envelope_spectrum(x, cfg.sample_rate)
    floor = np.median(spec[(freqs > 20) & (freqs < 400)])
    for key in ("bpfo", "bpfi"):
        assert _line(freqs, spec, cfg.fault_frequencies()[key]) < 6 * floor


def test_simulator_ball_fault_shows_spin_lines_and_cage_modulation():
    cfg = SimulatorConfig(fault="ball", severity=0.5, seed=2)
    x = BearingSimulator(cfg).generate(36000)[:, 0]
    freqs, spec = _envelope_spectrum(x, cfg.sample_rate)
    floor = np.median(spec[(freqs > 5) & (freqs < 400)])
    ff = cfg.fault_frequencies()
    assert _line(freqs, spec, 2 * ff["bsf"]) > 5 * floor
    assert _line(freqs, spec, ff["ftf"], tol=0.6) > 5 * floor


def test_simulator_defect_frequency_follows_speed_and_rate():
    cfg = SimulatorConfig(fault="outer", severity=0.5, rpm=1200.0, sample_rate=48000.0, seed=9)
    x = BearingSimulator(cfg).generate(96000)[:, 0]
    freqs, spec = _envelope_spectrum(x, cfg.sample_rate)
    band = (freqs > 20) & (freqs < 400)
    assert freqs[band][np.argmax(spec[band])] == pytest.approx(3.5848 * 20.0, abs=1.0)


@pytest.mark.parametrize("fs", [2000.0, 4000.0, 48000.0])
def test_simulator_resonance_stays_below_04_fs(fs):
    cfg = SimulatorConfig(
        fault="outer", severity=1.0, sample_rate=fs, seed=1, noise_g=0.0, harmonics=()
    )
    assert cfg.effective_resonance_hz < 0.4 * fs
    x = BearingSimulator(cfg).generate(int(fs * 4))[:, 0]
    assert np.all(np.isfinite(x))
    freqs, psd = signal.welch(x, fs=fs, nperseg=256)
    assert freqs[np.argmax(psd)] == pytest.approx(cfg.effective_resonance_hz, rel=0.1)


def test_simulator_axes_share_sources_with_own_noise():
    cfg = SimulatorConfig(fault="outer", severity=0.5, axes=3, seed=4)
    x = BearingSimulator(cfg).generate(24000)
    assert x.shape == (24000, 3)
    corr = np.corrcoef(x.T)
    assert 0.1 < abs(corr[0, 1]) < 0.99 and 0.1 < abs(corr[0, 2]) < 0.99
    rms = np.sqrt(np.mean(x**2, axis=0))
    assert rms[0] > rms[2]  # the axial path is the weakest
    first = BearingSimulator(dataclasses.replace(cfg, axes=1)).generate(24000)[:, 0]
    np.testing.assert_allclose(x[:, 0], first, atol=0.5)  # same physics on axis 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"sample_rate": 0.0}, "sample_rate"),
        ({"axes": 9}, "axes"),
        ({"rpm": -5.0}, "rpm"),
        ({"fault": "cage"}, "fault"),
        ({"severity": 1.5}, "severity"),
        ({"seed": -1}, "seed"),
        ({"scale": 0.0}, "scale"),
        ({"damping": 0.0}, "damping"),
        ({"noise_g": float("nan")}, "noise_g"),
        ({"harmonics": [0.1]}, "harmonics"),
        ({"slip": 0.5}, "slip"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_simulator_config_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=rf"{name} .*got"):
        SimulatorConfig(**kwargs)


def test_simulator_generate_rejects_bad_count():
    sim = BearingSimulator(SimulatorConfig())
    with pytest.raises(ValueError, match="got -1"):
        sim.generate(-1)


def test_simulator_simulate_recording_writes_a_labelled_recording(tmp_path):
    cfg = SimulatorConfig(fault="inner", severity=0.5, axes=2, seed=3)
    rec = simulate_recording(tmp_path, "sim-inner", cfg, seconds=0.5)
    assert rec.meta.label == "inner" and rec.meta.samples == 6000 and rec.meta.axes == 2
    assert rec.meta.source == "simulator" and rec.meta.extra["simulator"]["severity"] == 0.5
    np.testing.assert_array_equal(
        open_recording(rec.path).samples(), BearingSimulator(cfg).generate_int16(6000)
    )
    healthy = simulate_recording(tmp_path, "sim-ok", SimulatorConfig(fault="outer"), seconds=0.1)
    assert healthy.meta.label == "normal"


def test_simulator_set_severity_grows_the_fault_and_keeps_the_healthy_part():
    from scipy.stats import kurtosis

    cfg = SimulatorConfig(fault="outer", severity=0.0, seed=3)
    ramp, healthy = BearingSimulator(cfg), BearingSimulator(cfg)
    head = ramp.generate(12000)
    np.testing.assert_array_equal(head, healthy.generate(12000))
    ramp.set_severity(0.8)
    assert ramp.severity == 0.8
    tail = ramp.generate(24000)[4096:, 0]
    assert kurtosis(tail, fisher=False) > kurtosis(head[:, 0], fisher=False) + 1.0
    with pytest.raises(ValueError, match="severity"):
        ramp.set_severity(1.5)

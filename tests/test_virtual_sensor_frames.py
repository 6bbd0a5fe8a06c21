"""VirtualSensor's chunk stream, without a pty: frames, clock, HELLOs, impairments, replay."""

from __future__ import annotations

import numpy as np
import pytest

from vibration.acquisition.virtual_sensor import (
    ArraySource,
    SimulatedSource,
    VirtualSensor,
    VirtualSensorConfig,
    load_replay,
)
from vibration.data.dataset import write_recording
from vibration.data.simulator import BearingSimulator, SimulatorConfig
from vibration.protocol import (
    AsciiDecoder,
    FrameDecoder,
    Hello,
    Samples,
    Score,
    encode_frame,
)


def _sensor(rate: float = 4000.0, axes: int = 1, **config: object) -> VirtualSensor:
    sim = SimulatorConfig(sample_rate=rate, axes=axes, fault="outer", severity=0.5, seed=3)
    return VirtualSensor(VirtualSensorConfig(**config), SimulatedSource(sim))  # type: ignore[arg-type]


def _decode(chunks: list) -> tuple[list, FrameDecoder]:
    decoder = FrameDecoder()
    frames = decoder.feed(b"".join(c.data for c in chunks))
    return frames, decoder


def test_virtual_sensor_streams_hello_then_the_simulator_samples():
    sensor = _sensor(rate=4000.0, axes=2, samples_per_frame=100, sensor_id="pump-7")
    chunks = list(sensor.chunks(max_samples=1000))
    frames, decoder = _decode(chunks)

    assert decoder.stats.crc_errors == 0 and decoder.stats.dropped_frames == 0
    assert [f.seq for f in frames] == list(range(len(frames)))
    hello = frames[0].body
    assert isinstance(hello, Hello)
    assert (hello.axes, hello.samples_per_frame, hello.sample_rate_hz) == (2, 100, 4000.0)
    assert hello.device_id == "pump-7" and hello.flags == Hello.FLAG_STREAMS
    assert hello.scale == pytest.approx(SimulatorConfig().scale)

    blocks = [f.body for f in frames[1:]]
    assert all(isinstance(b, Samples) for b in blocks)
    assert [b.t_us for b in blocks] == [k * 100 * 250 for k in range(10)]  # 250 us per sample
    got = np.concatenate([b.samples for b in blocks])
    sim = SimulatorConfig(sample_rate=4000.0, axes=2, fault="outer", severity=0.5, seed=3)
    np.testing.assert_array_equal(got, BearingSimulator(sim).generate_int16(1000))
    # each chunk is due when its last sample has been acquired
    assert [c.due_s for c in chunks[1:]] == pytest.approx([(k + 1) * 0.025 for k in range(10)])


def test_virtual_sensor_chunks_continue_where_they_stopped():
    one = _sensor(samples_per_frame=64)
    two = _sensor(samples_per_frame=64)
    first = list(one.chunks(max_samples=640)) + list(one.chunks(max_samples=640))
    whole = list(two.chunks(max_samples=1280))
    assert [c.data for c in first] == [c.data for c in whole]
    assert one.samples_emitted == 1280


def test_virtual_sensor_hello_repeats_every_interval_of_device_time():
    sensor = _sensor(rate=2560.0, samples_per_frame=256, hello_interval_s=1.0)
    chunks = list(sensor.chunks(max_samples=2560 * 3 + 256))
    hellos = [c for c in chunks if c.kind == "hello"]
    assert [c.due_s for c in hellos] == [0.0, 1.0, 2.0, 3.0]
    frames, _ = _decode(chunks)
    assert [f.seq for f in frames] == list(range(len(chunks)))  # one seq for every frame


@pytest.mark.parametrize("corrupt, drop", [(0.1, 0.0), (0.0, 0.1), (0.08, 0.05)])
def test_virtual_sensor_impairments_reach_the_decoder_as_counted(corrupt, drop):
    sensor = _sensor(samples_per_frame=50, corrupt=corrupt, drop=drop, seed=11)
    chunks = list(sensor.chunks(max_samples=50 * 400))
    frames, decoder = _decode(chunks)
    # one more good frame, so that the decoder can see a loss at the very end too
    frames += decoder.feed(encode_frame(chunks[-1].seq + 1, Samples(0, np.zeros((1, 1), "i2"))))

    corrupted = sum(c.fate == "corrupt" for c in chunks)
    dropped = sum(c.fate == "drop" for c in chunks)
    assert corrupted + dropped > 10
    assert all(c.kind == "samples" for c in chunks if c.fate != "ok")
    assert decoder.stats.crc_errors == corrupted
    assert decoder.stats.dropped_frames == corrupted + dropped
    assert decoder.stats.frames == len(chunks) - corrupted - dropped + 1
    good = [c.n_samples for c in chunks if c.fate == "ok"]
    decoded = [f.body.n for f in frames if isinstance(f.body, Samples)]
    assert sum(decoded) == sum(good) + 1


def test_virtual_sensor_impairments_are_seeded():
    def fates(seed: int) -> list[str]:
        sensor = _sensor(samples_per_frame=50, corrupt=0.2, drop=0.1, seed=seed)
        return [c.fate for c in sensor.chunks(max_samples=5000)]

    assert fates(5) == fates(5)
    assert fates(5) != fates(6)


def test_virtual_sensor_corrupted_frame_differs_in_a_few_bits_only():
    clean = list(_sensor(samples_per_frame=200).chunks(max_samples=200 * 50))
    noisy = list(_sensor(samples_per_frame=200, corrupt=0.5, seed=2).chunks(max_samples=200 * 50))
    hit = [(a, b) for a, b in zip(clean, noisy, strict=True) if b.fate == "corrupt"]
    assert hit
    from vibration.protocol import cobs_decode

    for a, b in hit:
        raw_a, raw_b = cobs_decode(a.data[:-1]), cobs_decode(b.data[:-1])
        assert len(raw_a) == len(raw_b)
        flips = np.unpackbits(np.frombuffer(raw_a, np.uint8) ^ np.frombuffer(raw_b, np.uint8))
        assert 1 <= int(flips.sum()) <= 3
        assert raw_a[:8] == raw_b[:8]  # the header is left alone


def test_virtual_sensor_ascii_lines_carry_the_same_samples():
    sensor = _sensor(axes=3, samples_per_frame=32, encoding="ascii")
    chunks = list(sensor.chunks(max_samples=320))
    assert all(c.kind == "lines" and c.seq is None for c in chunks)
    decoder = AsciiDecoder()
    rows = np.concatenate([decoder.feed(c.data, c.due_s) for c in chunks])
    sim = SimulatorConfig(sample_rate=4000.0, axes=3, fault="outer", severity=0.5, seed=3)
    np.testing.assert_array_equal(rows, BearingSimulator(sim).generate_int16(320))
    assert decoder.stats.errors == 0


def test_virtual_sensor_scorer_hook_sends_score_frames_after_samples():
    calls = []

    def scorer(samples: np.ndarray, t_us_last: int) -> list[Score]:
        calls.append((samples.shape, t_us_last))
        return [Score(t_us_last, 0.5, 1.0, 0.1, 3.0, False, False)]

    sim = SimulatorConfig(sample_rate=1000.0)
    sensor = VirtualSensor(
        VirtualSensorConfig(samples_per_frame=100), SimulatedSource(sim), scorer=scorer
    )
    chunks = list(sensor.chunks(max_samples=300))
    frames, decoder = _decode(chunks)
    assert [c.seq for c in chunks] == [f.seq for f in frames] == list(range(7))
    kinds = [type(f.body).__name__ for f in frames]
    assert kinds == ["Hello", "Samples", "Score", "Samples", "Score", "Samples", "Score"]
    assert frames[0].body.flags == Hello.FLAG_STREAMS | Hello.FLAG_SCORES
    assert calls == [((100, 1), 99_000), ((100, 1), 199_000), ((100, 1), 299_000)]
    assert decoder.stats.dropped_frames == 0


def test_virtual_sensor_replays_a_recording_once_or_looped(tmp_path):
    data = (np.arange(1000, dtype=np.int16) - 500).reshape(500, 2)
    write_recording(tmp_path, "rec", data, sample_rate=2000.0, scale=0.01, units="m/s2")
    source, info = load_replay(tmp_path / "rec")
    assert (source.sample_rate, source.axes, source.scale, source.units) == (
        2000.0,
        2,
        0.01,
        "m/s2",
    )
    sensor = VirtualSensor(VirtualSensorConfig(samples_per_frame=128), source)
    frames, _ = _decode(list(sensor.chunks()))
    blocks = [f.body.samples for f in frames if isinstance(f.body, Samples)]
    assert [len(b) for b in blocks] == [128, 128, 128, 116]  # the last frame is short
    np.testing.assert_array_equal(np.concatenate(blocks), data)
    assert sensor.ended

    looped, _ = load_replay(tmp_path / "rec", loop=True)
    out = np.concatenate([looped.read(300) for _ in range(4)])
    np.testing.assert_array_equal(out, np.concatenate([data, data, data[:200]]))
    assert info["source"] == str(tmp_path / "rec")


def test_virtual_sensor_replay_resamples_to_the_asked_rate(tmp_path):
    t = np.arange(4000) / 4000.0
    x = np.sin(2 * np.pi * 50 * t)[:, None]
    np.save(tmp_path / "sig.npy", x)
    source, _ = load_replay(tmp_path / "sig.npy", rate=4000.0)
    assert source.sample_rate == 4000.0 and source.samples.shape == (4000, 1)
    write_recording(tmp_path / "ds", "r", source.samples, sample_rate=4000.0, scale=source.scale)
    half, _ = load_replay(tmp_path / "ds" / "r", rate=2000.0)
    assert half.sample_rate == 2000.0 and abs(len(half.samples) - 2000) <= 1
    peak = np.abs(half.samples.astype(float) * half.scale).max()
    assert peak == pytest.approx(1.0, rel=0.02)


def test_virtual_sensor_array_source_stops_at_the_end():
    src = ArraySource(np.zeros((10, 1), np.int16), 100.0, 1.0)
    assert [len(src.read(4)) for _ in range(4)] == [4, 4, 2, 0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sensor_id": ""},
        {"sensor_id": "x" * 17},
        {"sensor_id": "pömpe"},
        {"samples_per_frame": 0},
        {"samples_per_frame": 1019},
        {"hello_interval_s": 0.0},
        {"encoding": "hex"},
        {"corrupt": 1.5},
        {"drop": -0.1},
        {"corrupt": 0.6, "drop": 0.6},
        {"encoding": "ascii", "corrupt": 0.1},
        {"seed": -1},
        {"tx_buffer_bytes": 100},
    ],
    ids=lambda kw: ",".join(f"{k}={v!r}" for k, v in kw.items()),
)
def test_virtual_sensor_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match=r"must|only"):
        VirtualSensorConfig(**kwargs)


def test_virtual_sensor_rejects_frames_too_big_for_the_protocol():
    sim = SimulatorConfig(axes=4)
    with pytest.raises(ValueError, match="samples_per_frame \\* axes"):
        VirtualSensor(VirtualSensorConfig(samples_per_frame=300), SimulatedSource(sim))


def test_developing_fault_source_is_healthy_then_ramps_to_the_fault():
    from scipy.stats import kurtosis

    from vibration.acquisition.virtual_sensor import DevelopingFaultSource, SimulatedSource
    from vibration.data.simulator import SimulatorConfig

    cfg = SimulatorConfig(fault="outer", seed=4)
    ramp = DevelopingFaultSource(cfg, onset_s=2.0, ramp_s=2.0, final_severity=0.8)
    healthy = SimulatedSource(SimulatorConfig(fault="outer", severity=0.0, seed=4), block=1024)
    first = ramp.read(12000)
    np.testing.assert_array_equal(first, healthy.read(12000))  # healthy before the onset
    assert ramp.severity_at(1.0) == 0.0
    assert ramp.severity_at(3.0) == pytest.approx(0.4)
    assert ramp.severity_at(99.0) == pytest.approx(0.8)
    ramp.read(48000)  # through the ramp
    late = ramp.read(24000)[:, 0].astype(float)
    assert kurtosis(late, fisher=False) > kurtosis(first[:, 0].astype(float), fisher=False) + 1
    with pytest.raises(ValueError, match="fault"):
        DevelopingFaultSource(SimulatorConfig(), onset_s=1.0, ramp_s=1.0)

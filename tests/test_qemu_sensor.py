"""The reference sensor firmware under QEMU: HELLO, SAMPLES in, SCORE out, bit-exact with
the host build of the same C, instruction counts, sizes.

The C tree is generated from the golden int8 model in tests/data (no TensorFlow needed).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_export.firmware import QemuSensor, build_firmware
from firmware_export.firmware.session import (
    parse_report,
    read_available,
    run_sensor_firmware,
    samples_frames,
)
from tests.support import require_tool

pytestmark = [pytest.mark.qemu, pytest.mark.armgcc]

DATA = Path(__file__).resolve().parent / "data"
TFLITE = DATA / "golden_dense_pc.tflite"
SCALE = 0.001  # g per LSB built into the test firmware


@pytest.fixture(scope="module")
def c_tree(tmp_path_factory):
    from firmware_export.exporter.codegen import FirmwareSpec
    from firmware_export.exporter.sources import write_c_sources
    from firmware_export.exporter.testing import synthetic_windows
    from firmware_export.runtime.tflite_model import read_tflite
    from vibration.learning.features import FeatureConfig, window_features

    config = FeatureConfig()
    blob = TFLITE.read_bytes()
    features = window_features(synthetic_windows(config, 8, seed=1) * SCALE, config)
    spec = FirmwareSpec(
        model=read_tflite(blob, TFLITE.stem),
        feature_config=config,
        feature_mean=features.mean(axis=0),
        feature_scale=np.maximum(features.std(axis=0), 1e-3),
        threshold=1.0,
        alarm_k=2,
        alarm_n=3,
        sample_scale=SCALE,
        target="cortex-m4",
    )
    dest = tmp_path_factory.mktemp("c")
    write_c_sources(dest, spec, tflite=blob)
    return dest


@pytest.fixture(scope="module")
def sensor_elf(c_tree, tmp_path_factory):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    return build_firmware(c_tree, tmp_path_factory.mktemp("fw"), target="sensor").elf


@pytest.fixture(scope="module")
def host_lib(c_tree, tmp_path_factory):
    require_tool("gcc", "gcc")
    from firmware_export.runtime.host_build import HostLibrary, build_host_library

    return HostLibrary(build_host_library(c_tree, tmp_path_factory.mktemp("host")))


@pytest.fixture(scope="module")
def signal():
    """Eight windows' worth of varied int16 samples (noise, tone, impacts, constant)."""
    from firmware_export.exporter.testing import synthetic_windows
    from vibration.learning.features import FeatureConfig

    return synthetic_windows(FeatureConfig(), 8, seed=3).reshape(-1)


@pytest.fixture(scope="module")
def run(sensor_elf, signal):
    return run_sensor_firmware(sensor_elf, signal, sample_rate=12000.0, timeout=60)


def test_qemu_sensor_boots_and_sends_hello(run):
    hello = run.hello
    assert hello.device_id == "qemu-mps2-an386"
    assert hello.flags & hello.FLAG_SCORES
    assert hello.sample_rate_hz == 12000.0
    assert hello.scale == np.float32(SCALE)
    assert hello.units == "g"
    assert hello.model_sha256 == hashlib.sha256(TFLITE.read_bytes()).digest()
    assert run.texts[0].text.startswith("tinypdm reference firmware")


def test_qemu_sensor_scores_equal_host_compiled_c(run, host_lib, signal):
    expected = host_lib.pipeline().push(signal)
    assert run.exit_status == 0
    assert len(run.scores) == len(expected) == 15  # (8 * 1024 - 1024) / 512 + 1
    # Bit for bit: the same C, float32 on the Cortex-M4F's FPU and on the host's.
    np.testing.assert_array_equal(run.score_values, expected[:, 1].astype(np.float32))
    for score, row in zip(run.scores, expected, strict=True):
        assert score.threshold == np.float32(row[2])
        assert score.rms == np.float32(row[3])
        assert score.kurtosis == np.float32(row[4])
        assert (score.over, score.alarm) == (bool(row[6]), bool(row[7]))
        # t_us: the window's last sample on the stream's clock.
        assert abs(score.t_us - row[0] * 1e6 / 12000.0) <= 1
    assert any(s.over for s in run.scores) and not all(s.over for s in run.scores)


def test_qemu_sensor_reports_deterministic_instruction_counts(run, sensor_elf, signal):
    # One perf line per SAMPLES frame: the first 512 samples complete no window, each
    # later frame of hop = 512 samples completes one.
    assert [p.windows for p in run.perf] == [0] + [1] * 15
    for perf in run.perf:
        assert perf.samples == 512
        assert perf.instructions == 40 * perf.ticks > 0
        assert 0 < perf.stack < 0x4000
    # Scoring a window costs far more than buffering 512 samples.
    assert run.perf[0].instructions * 4 < run.instructions_per_window
    assert run.stats["windows"] == 15
    assert run.stats["crc_errors"] == 0 and run.stats["dropped"] == 0
    assert run.stats["results_dropped"] == 0
    assert run.stack_high_water == run.stats["stack"] >= max(p.stack for p in run.perf)
    # Interrupts are masked and SysTick restarted around the measured call: a second run
    # counts exactly the same ticks.
    again = run_sensor_firmware(sensor_elf, signal, sample_rate=12000.0, timeout=60)
    assert [p.ticks for p in again.perf] == [p.ticks for p in run.perf]


def test_qemu_sensor_takes_scale_from_host_hello_and_scores_axis_0(sensor_elf, host_lib, signal):
    noise = np.random.default_rng(7).integers(-3000, 3000, signal.size)
    two_axes = np.stack([signal, noise], axis=1).astype(np.int16)
    run = run_sensor_firmware(
        sensor_elf, two_axes, sample_rate=12000.0, scale=0.002, frame_samples=256, timeout=60
    )
    pipeline = host_lib.pipeline()
    pipeline.set_scale(0.002)
    expected = pipeline.push(signal)
    np.testing.assert_array_equal(run.score_values, expected[:, 1].astype(np.float32))
    default_scale = host_lib.pipeline().push(signal)[:, 1].astype(np.float32)
    assert not np.array_equal(run.score_values, default_scale)


def _read_to_end(port, timeout):
    """Everything the firmware sends until it exits (QEMU closes the socket)."""
    import serial

    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            received += read_available(port)
        except serial.SerialException:
            return received
    raise AssertionError(f"the firmware did not exit within {timeout} s")


def test_qemu_sensor_resynchronises_after_line_noise(sensor_elf, host_lib, signal):
    frames = list(samples_frames(signal, sample_rate=12000.0, frame_samples=512))
    corrupt = bytearray(frames[0])
    corrupt[20] ^= 0x55  # a bad CRC: the first 512 samples are lost
    stream = b"\x13\x37garbage" + bytes(corrupt) + b"".join(frames[1:])
    with QemuSensor(sensor_elf) as sensor:
        port = sensor.open_serial(timeout=0.2)
        port.write(stream)
        received = _read_to_end(port, timeout=60)
        status = sensor.wait(5)
    from vibration.protocol import FrameDecoder, Score, Text

    bodies = [f.body for f in FrameDecoder().feed(received)]
    stats = [parse_report(b.text) for b in bodies if isinstance(b, Text)]
    final = next(values for kind, values in filter(None, stats) if kind == "stats")
    assert status == 0
    assert final["crc_errors"] >= 1
    # The host-side reference skips the same 512 samples: the firmware saw frames 1.. only.
    expected = host_lib.pipeline().push(signal[512:])[:, 1].astype(np.float32)
    got = np.array([b.score for b in bodies if isinstance(b, Score)], dtype=np.float32)
    np.testing.assert_array_equal(got, expected)


def test_qemu_sensor_repeats_hello_periodically(c_tree, tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    from vibration.protocol import FrameDecoder, Hello

    elf = build_firmware(
        c_tree, tmp_path, target="sensor", defines={"TINYPDM_FW_HELLO_PERIOD_MS": "100u"}
    ).elf
    with QemuSensor(elf) as sensor:
        port = sensor.open_serial(timeout=0.1)
        decoder = FrameDecoder()
        hellos: list[int] = []
        deadline = time.monotonic() + 20
        while len(hellos) < 3 and time.monotonic() < deadline:
            frames = decoder.feed(read_available(port))
            hellos += [f.seq for f in frames if isinstance(f.body, Hello)]
    assert hellos[:3] == [0, 2, 3]  # boot HELLO, the ready TEXT (seq 1), then the timer's


def test_qemu_pipeline_image_runs_and_fits_the_budget(c_tree, tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    from firmware_export.firmware import measure_pipeline

    fig = measure_pipeline(c_tree, tmp_path)
    # Four whole speed-estimate periods (512 decimated samples x 12 = 6144 samples, 12
    # windows of hop 512), timed after the estimator's 1 s buffer has filled.
    assert fig.windows == 48
    # The stages of one window add up to less than a whole push of hop samples.
    assert fig.features_instructions > 0 and fig.score_instructions > 0
    assert fig.speed_instructions > 0
    assert fig.features_instructions + fig.score_instructions < fig.instructions_per_window
    # The project's budget for the inference pipeline with a model (docs/firmware-qemu.md);
    # deterministic figures, not timings. bench/bench_firmware.py reports them.
    assert fig.flash_bytes <= 32 * 1024
    # 8 KB before the speed estimator; issue 12 allows 12 KB for its 1 s decimated buffer
    # (4 KB of float32, docs/features.md "Shaft speed").
    assert fig.ram_bytes == fig.sizes.data + fig.sizes.bss + fig.stack_bytes <= 12 * 1024
    assert fig.instructions_per_window <= 400_000
    # the worst window (one that runs a speed estimate) is dearer than the average, and the
    # estimate is in it; still within the per-window goal
    assert fig.instructions_per_window < fig.worst_instructions <= 400_000
    assert fig.worst_instructions > fig.speed_instructions
    # No double-precision soft-float crept into the float32 pipeline.
    symbols = (tmp_path / "pipeline.map").read_text()
    assert "__aeabi_dmul" not in symbols and "__aeabi_dadd" not in symbols


def test_pipeline_report_parses_and_rejects_missing_fields():
    from firmware_export.errors import ExportError
    from firmware_export.firmware import parse_pipeline_report

    console = (
        "pipeline windows=4 samples=3072 ticks=100 insns=4000 stack=800\n"
        "stages features=900 score=80\n"
    )
    assert parse_pipeline_report(console)["features"] == 900
    with pytest.raises(ExportError, match="reported no features, score"):
        parse_pipeline_report(console.splitlines()[0])


def test_qemu_firmware_sensor_streams_samples_and_firmware_scores_on_a_pty(
    c_tree, host_lib, signal, tmp_path
):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    import threading

    from firmware_export.firmware import run_firmware_sensor
    from vibration.acquisition.serial_link import open_port
    from vibration.acquisition.virtual_sensor import ArraySource, RunOptions, VirtualSensorConfig
    from vibration.protocol import FrameDecoder, Hello, Samples, Score

    link = tmp_path / "fw-sensor"
    source = ArraySource(signal.astype(np.int16), 12000.0, SCALE)
    config = VirtualSensorConfig(sensor_id="qemu-1", samples_per_frame=512)
    result: dict[str, object] = {}

    def serve() -> None:
        try:
            result["report"] = run_firmware_sensor(
                c_tree,
                link,
                source,
                config=config,
                build_dir=tmp_path / "fw",
                options=RunOptions(wait_reader=0.1),
            )
        except BaseException as exc:  # surfaced by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    deadline = time.monotonic() + 60
    while not link.is_symlink() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    received = b""
    if link.is_symlink():
        import serial

        port = open_port(str(link), timeout=0.05)
        try:
            while thread.is_alive() and time.monotonic() < deadline:
                # Only what is there: a read(n) waiting for more loses its bytes when the
                # sensor closes the pty.
                received += port.read(max(1, port.in_waiting))
        except serial.SerialException:
            pass  # the sensor closed the pty after the reader took every byte
        finally:
            port.close()
    thread.join(10)
    assert "error" not in result, result.get("error")
    bodies = [f.body for f in FrameDecoder().feed(received)]
    hello = next(b for b in bodies if isinstance(b, Hello))
    assert hello.device_id == "qemu-1"
    assert hello.flags == Hello.FLAG_SCORES | Hello.FLAG_STREAMS
    streamed = np.concatenate([b.samples[:, 0] for b in bodies if isinstance(b, Samples)])
    np.testing.assert_array_equal(streamed, signal)
    scores = np.array([b.score for b in bodies if isinstance(b, Score)], dtype=np.float32)
    np.testing.assert_array_equal(scores, host_lib.pipeline().push(signal)[:, 1].astype(np.float32))
    firmware = result["report"].extra["firmware"]  # type: ignore[attr-defined]
    assert firmware["exit_status"] == 0 and firmware["windows"] == 15
    assert firmware["model_sha256"] == hashlib.sha256(TFLITE.read_bytes()).hexdigest()


def test_qemu_firmware_sensor_refuses_a_source_at_another_rate(c_tree, signal, tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    from firmware_export.errors import ExportError
    from firmware_export.firmware import run_firmware_sensor
    from vibration.acquisition.virtual_sensor import ArraySource

    source = ArraySource(signal.astype(np.int16), 48000.0, SCALE)
    with pytest.raises(ExportError, match="model expects 12000 Hz, the source streams 48000 Hz"):
        run_firmware_sensor(c_tree, tmp_path / "link", source)
    assert not (tmp_path / "link").exists()


def test_firmware_link_rejects_bad_arguments(tmp_path):
    from firmware_export.errors import ExportError
    from firmware_export.firmware import FirmwareLink

    with pytest.raises(ValueError, match="max_in_flight"):
        FirmwareLink(tmp_path / "x.elf", max_in_flight=0)
    with pytest.raises(ExportError, match="not started"):
        FirmwareLink(tmp_path / "x.elf").push(np.zeros(4, dtype=np.int16), 0)
    with pytest.raises(ValueError, match="frame_samples"):
        next(samples_frames(np.zeros(8, dtype=np.int16), sample_rate=1.0, frame_samples=2000))
    assert parse_report("perf n=1 windows=0 ticks=2 insns=80 stack=9") == (
        "perf",
        {"n": 1, "windows": 0, "ticks": 2, "insns": 80, "stack": 9},
    )
    assert parse_report("hello there") is None

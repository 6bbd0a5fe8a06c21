"""A sensor that prints more boot text than any binary frame, pauses, then speaks the
binary protocol, over a real pty: capture and the gateway switch to binary and count the
text they skipped; ``monitor --mode`` forces the stream type."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests._pty_feeder import PtyFeeder
from vibration.acquisition.capture import CaptureConfig, capture
from vibration.acquisition.serial_link import open_port
from vibration.app.cli import main
from vibration.data.dataset import open_recording
from vibration.protocol import Hello, Samples, Score, encode_frame
from vibration.telemetry.gateway import Gateway, GatewayConfig, format_status
from vibration.telemetry.stores import open_store

pytestmark = pytest.mark.slow

_BOOT = b"".join(b"[boot] module %02d ....... ok (self-test passed)\n" % k for k in range(50))
RATE = 4000.0
SPF = 100


def _hello() -> Hello:
    flags = Hello.FLAG_SCORES | Hello.FLAG_STREAMS
    return Hello(1, flags, SPF, RATE, 0.5, "g", "chatty", "fw2")


def _boot_then_binary(bodies: list) -> list[tuple[bytes, float]]:
    wire = [encode_frame(seq, body) for seq, body in enumerate([_hello(), *bodies])]
    chunks = [(_BOOT[i : i + 512], 0.01) for i in range(0, len(_BOOT), 512)]
    chunks.append((b"", 0.4))  # the pause: the host has decided "text" by now
    chunks += [(b"".join(wire[i : i + 5]), 0.05) for i in range(0, len(wire), 5)]
    return chunks


def test_capture_boot_text_then_binary_records_every_sample(tmp_path):
    assert len(_BOOT) > 2070  # longer than any binary frame: first taken for text
    data = np.random.default_rng(3).integers(-999, 999, size=(40 * SPF, 1)).astype(np.int16)
    period_us = SPF * 1e6 / RATE
    bodies = [Samples(round(k * period_us), data[k * SPF : (k + 1) * SPF]) for k in range(40)]
    feeder = PtyFeeder(tmp_path / "tty", _boot_then_binary(bodies))
    feeder.start()
    port = open_port(str(tmp_path / "tty"))
    try:
        result = capture(port, 60.0, CaptureConfig(out=tmp_path / "ds", name="rec"))
    finally:
        port.close()
        feeder.join(30)
    assert feeder.error is None

    assert result.mode == "binary" and result.end_reason == "link closed"
    assert result.samples == 40 * SPF and result.gaps == 0 and result.crc_errors == 0
    assert result.frames == 41 and result.sample_rate == RATE
    assert result.counters["skipped_bytes"] == len(_BOOT)
    rec = open_recording(result.path)
    assert rec.meta.counters["skipped_bytes"] == len(_BOOT)
    assert rec.meta.hello is not None and rec.meta.hello["device_id"] == "chatty"
    np.testing.assert_array_equal(rec.samples(), data)


def _gateway(tmp_path: Path, **kw: object) -> Gateway:
    config = GatewayConfig(
        ports=(str(tmp_path / "tty"),),
        store_url=f"sqlite://{tmp_path}/scores.db",
        spool_dir=str(tmp_path / "spool"),
        batch_interval_s=0.2,
        reconnect_min_s=0.05,
        read_timeout_s=0.05,
        **kw,  # type: ignore[arg-type]
    )
    return Gateway(config).start()


def _scores(n: int) -> list[Score]:
    return [Score(k * 25_000, 0.1 * k, 3.0, 0.2, 3.1, k % 20 == 19, False) for k in range(n)]


def test_gateway_boot_text_then_binary_stores_every_score(tmp_path):
    feeder = PtyFeeder(tmp_path / "tty", _boot_then_binary(_scores(59)))
    gw = _gateway(tmp_path)
    feeder.start()
    try:
        assert feeder.done.wait(60)
        deadline = time.monotonic() + 10
        while gw._links[0].report().frames["SCORE"] < 59 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        report = gw.stop()
    assert feeder.error is None

    (link,) = report.links
    assert link.mode == "binary" and link.sensor == "chatty"
    assert link.frames["SCORE"] == 59 and link.frames["HELLO"] == 1
    assert link.scores == 59 and link.crc_errors == 0
    assert link.skipped_bytes == len(_BOOT) and link.line_errors == 0
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    try:
        assert len(store.query_scores("chatty", 0, 2**62)) == 59
    finally:
        store.close()


def test_gateway_forced_ascii_counts_what_it_cannot_read(tmp_path):
    feeder = PtyFeeder(tmp_path / "tty", _boot_then_binary(_scores(59)))
    gw = _gateway(tmp_path, mode="ascii")
    feeder.start()
    try:
        assert feeder.done.wait(60)
        assert "not understood" in format_status(gw.status())
    finally:
        report = gw.stop()
    (link,) = report.links
    assert link.mode == "ascii" and link.scores == 0
    # the 50 boot lines, then the binary frames' bytes: refused lines, never a sample
    assert link.line_errors > 50 and link.frames["SAMPLES"] == 0 and link.skipped_bytes == 0
    out = report.as_dict()["sensors"]
    assert next(iter(out.values()))["line_errors"] == link.line_errors


def test_monitor_mode_option_reaches_the_gateway(tmp_path, capsys):
    assert GatewayConfig(ports=("loop://",), store_url="sqlite:///x.db", mode="binary").mode == (
        "binary"
    )
    with pytest.raises(ValueError, match="mode"):
        GatewayConfig(ports=("loop://",), store_url="sqlite:///x.db", mode="hex")
    code = main(["monitor", "--port", "loop://", "--mode", "hex", "--seconds", "1",
                 "--store", f"sqlite:///{tmp_path}/s.db"])  # fmt: skip
    assert code == 2 and "--mode" in capsys.readouterr().err
    code = main(["monitor", "--port", "loop://", "--mode", "binary", "--seconds", "0.3",
                 "--store", f"sqlite:///{tmp_path}/s.db", "--spool", str(tmp_path / "sp"),
                 "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    (sensor,) = out["sensors"].values()
    assert sensor["mode"] == "binary" and sensor["line_errors"] == sensor["skipped_bytes"] == 0

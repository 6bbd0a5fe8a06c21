"""Hostile input through the public :class:`~vibration.telemetry.gateway.Gateway`.

Hypothesis (derandomized, bounded) builds byte streams a broken or malicious sensor could
send: random bytes, frames with a good CRC but absurd fields, bad HELLOs, boot text before
the binary protocol. The stream is written into a real pyserial ``loop://`` port handed to
the gateway. Whatever comes in:

* no exception escapes (the reader thread never dies: a crash would show as a reconnect),
  and the gateway stops with its report;
* the books balance: every SCORE frame sent is stored or counted (dropped, invalid, lost);
* a password in the store URL appears in no log line, status line or report.
"""

from __future__ import annotations

import json
import logging
import math
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vibration.protocol import Hello, Score, Text, encode_frame
from vibration.protocol.cobs import cobs_encode
from vibration.telemetry.gateway import Gateway, GatewayConfig, GatewayReport, format_status
from vibration.telemetry.stores import open_store

SETTINGS = settings(
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SECRET = "hunter2-s3cret"
HELLO = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "target", "fw", bytes(32))


def _score(seq: int) -> bytes:
    return encode_frame(seq, Score(seq * 100_000, 0.1, 1.0, 0.2, 3.0, seq % 5 == 0, False))


def _raw_frame(ftype: int, seq: int, payload: bytes, version: int = 1) -> bytes:
    """A frame with a good CRC around any payload (fields unchecked)."""
    raw = struct.pack("<BBHI", version, ftype, len(payload), seq) + payload
    raw += struct.pack("<I", zlib.crc32(raw))
    return cobs_encode(raw) + b"\x00"


_floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
_u64 = st.integers(0, 2**64 - 1)
_seq = st.integers(0, 2**32 - 1)


@st.composite
def _crafted(draw: st.DrawFn) -> bytes:
    """One valid-CRC frame with hostile fields."""
    kind = draw(st.sampled_from(["hello", "score", "text", "samples", "unknown", "version"]))
    seq = draw(_seq)
    if kind == "hello":
        payload = struct.pack(
            "<BBHff8s16s16s32s",
            draw(st.integers(1, 8)),
            draw(st.integers(0, 255)),
            draw(st.integers(0, 65535)),
            draw(_floats),
            draw(_floats),
            draw(st.binary(min_size=8, max_size=8)),
            draw(st.binary(min_size=16, max_size=16)),
            draw(st.binary(min_size=16, max_size=16)),
            draw(st.binary(min_size=32, max_size=32)),
        )
        return _raw_frame(1, seq, payload)
    if kind == "score":
        payload = struct.pack(
            "<QffffBBH",
            draw(_u64),
            *(draw(_floats) for _ in range(4)),
            draw(st.integers(0, 255)),
            draw(st.integers(0, 255)),
            0,
        )
        return _raw_frame(3, seq, payload)
    if kind == "text":
        body = draw(st.binary(min_size=0, max_size=255))
        return _raw_frame(4, seq, bytes([draw(st.integers(0, 255))]) + body)
    if kind == "samples":
        n, axes = draw(st.integers(0, 40)), draw(st.integers(1, 8))
        head = struct.pack("<QHBB", draw(_u64), n, axes, 0)
        return _raw_frame(
            2, seq, head + draw(st.binary(min_size=2 * n * axes, max_size=2 * n * axes))
        )
    if kind == "unknown":
        return _raw_frame(draw(st.integers(5, 255)), seq, draw(st.binary(max_size=64)))
    return _raw_frame(1, seq, draw(st.binary(max_size=90)), version=draw(st.integers(2, 255)))


_boot_line = st.text(
    st.characters(min_codepoint=32, max_codepoint=126), min_size=0, max_size=60
).map(lambda s: f"I (12) boot: {s}\r\n".encode())


def _run(
    stream: bytes,
    store_url: str,
    directory: Path,
    *,
    inspect: Callable[[Gateway], None] | None = None,
) -> GatewayReport:
    """Feed ``stream`` to a gateway through a loop:// port and stop it once all was read."""
    port = serial.serial_for_url("loop://", timeout=0.02)
    port.write(stream)
    opened: list[Any] = []

    def open_port(url: str) -> Any:
        opened.append(url)
        return port if len(opened) == 1 else serial.serial_for_url("loop://", timeout=0.02)

    cfg = GatewayConfig(
        ports=("loop://hostile",),
        store_url=store_url,
        spool_dir=str(directory / "spool"),
        asset="fuzz",
        batch_interval_s=0.05,
        read_timeout_s=0.02,
        drain_timeout_s=5.0,
    )
    gw = Gateway(cfg, open_port=open_port).start()
    deadline = time.monotonic() + 20
    while port.in_waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not port.in_waiting, "the gateway stopped reading"
    if inspect is not None:
        inspect(gw)
    report = gw.stop()
    lk = report.links[0]
    assert report.reconnects == 0 and len(opened) == 1, f"the reader died: {lk.last_error}"
    assert not lk.last_error.startswith("lost:"), lk.last_error
    return report


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    caplog.set_level(logging.DEBUG)

    def tracebacks() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.exc_info]

    return tracebacks


def _books(report: GatewayReport, sent: int, stored: int) -> None:
    lk = report.links[0]
    assert stored + lk.dropped_frames + lk.invalid == sent, (stored, lk, report)
    assert report.lost == 0 and report.spool_pending == 0


@SETTINGS
@given(
    noise=st.lists(st.tuples(st.integers(0, 40), st.binary(min_size=1, max_size=80)), max_size=6),
    n=st.integers(5, 40),
)
def test_hostile_random_bytes_between_frames_keep_the_books(
    noise: list[tuple[int, bytes]], n: int, errors: Callable[[], list[logging.LogRecord]]
) -> None:
    frames = [encode_frame(0, HELLO)] + [_score(s) for s in range(1, n + 1)]
    for where, junk in sorted(noise, reverse=True):  # junk may cut into the next frame
        frames.insert(min(where, len(frames)) + 1, junk)
    stream = b"".join(frames) + b"\x00" + encode_frame(n + 1, Text(Text.INFO, "end"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/s.db"
        report = _run(stream, url, Path(tmp))
        with open_store(url) as store:
            stored = store.count_scores()
    _books(report, n, stored)
    assert not errors()


@SETTINGS
@given(
    hostile=st.lists(st.one_of(_crafted(), st.binary(min_size=1, max_size=60)), max_size=8),
    boot=st.lists(_boot_line, max_size=4),
    n=st.integers(1, 30),
)
def test_hostile_frames_then_a_good_sensor_are_survived(
    hostile: list[bytes],
    boot: list[bytes],
    n: int,
    errors: Callable[[], list[logging.LogRecord]],
) -> None:
    good = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "after-the-storm", "fw", bytes(32))
    stream = b"".join(boot) + b"".join(hostile) + b"\x00" + encode_frame(0, good)
    stream += b"".join(_score(s) for s in range(1, n + 1))
    stream += encode_frame(n + 1, Text(Text.INFO, "end"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/s.db"
        report = _run(stream, url, Path(tmp))
        with open_store(url) as store:
            stored = store.count_scores("after-the-storm")
            assert all(math.isfinite(p.score) for p in store.latest_scores().values())
    assert report.links[0].sensor == "after-the-storm"
    assert stored == n
    assert not errors()


@st.composite
def _hostile_score(draw: st.DrawFn, seq: int) -> bytes:
    """A SCORE frame numbered right, with any field values."""
    payload = struct.pack(
        "<QffffBBH",
        draw(st.one_of(_u64, st.just(seq * 100_000))),
        *(draw(st.one_of(_floats, st.just(0.5))) for _ in range(4)),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 65535)),
    )
    return _raw_frame(3, seq, payload)


@SETTINGS
@given(data=st.data(), n=st.integers(1, 30))
def test_hostile_score_fields_are_stored_or_counted_invalid(
    data: st.DataObject, n: int, errors: Callable[[], list[logging.LogRecord]]
) -> None:
    frames = [data.draw(_hostile_score(s)) for s in range(1, n + 1)]
    stream = encode_frame(0, HELLO) + b"".join(frames)
    stream += encode_frame(n + 1, Text(Text.INFO, "end"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/s.db"
        report = _run(stream, url, Path(tmp))
        with open_store(url) as store:
            stored = store.count_scores("target")
            series = store.query_scores("target", 0, 2**63 - 1)
    _books(report, n, stored)
    assert all(math.isfinite(v) for v in series.score)
    assert not errors()


@SETTINGS
@given(boot=st.lists(_boot_line, min_size=1, max_size=6), n=st.integers(1, 30))
def test_hostile_boot_text_before_binary_loses_no_score(
    boot: list[bytes], n: int, errors: Callable[[], list[logging.LogRecord]]
) -> None:
    stream = b"".join(boot) + encode_frame(0, HELLO) + b"".join(_score(s) for s in range(1, n + 1))
    stream += encode_frame(n + 1, Text(Text.INFO, "end"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/s.db"
        report = _run(stream, url, Path(tmp))
        with open_store(url) as store:
            stored = store.count_scores()  # the HELLO may be lost in the boot text
    _books(report, n, stored)
    assert not errors()


@SETTINGS
@given(hostile=st.lists(_crafted(), min_size=1, max_size=6), lose_hello=st.booleans())
def test_hostile_input_never_shows_the_store_password(
    hostile: list[bytes], lose_hello: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    stream = (b"" if lose_hello else encode_frame(0, HELLO)) + b"".join(hostile)
    stream += b"".join(_score(s) for s in range(1, 11))
    shown: list[str] = []

    def inspect(gw: Gateway) -> None:
        shown.append(format_status(gw.status()))
        shown.append(repr(gw.store))

    with tempfile.TemporaryDirectory() as tmp:
        # Nothing listens on port 1: the store is down, points wait in the spool.
        url = f"influxdb://gw:{SECRET}@127.0.0.1:1/plant?timeout=1"
        report = _run(stream, url, Path(tmp), inspect=inspect)
        shown += [json.dumps(report.as_dict()), repr(report)]
        shown += [str(p) for p in Path(tmp).rglob("*")]
    shown += [caplog.text]
    assert report.store == "influxdb://gw:***@127.0.0.1:1/plant"
    assert not [s for s in shown if SECRET in s]
    assert not [s for s in shown if "hunter2" in s]


def test_hostile_gateway_threads_are_gone_after_stop() -> None:
    before = {t.name for t in threading.enumerate()}
    with tempfile.TemporaryDirectory() as tmp:
        _run(b"\x00\xff" * 100, f"sqlite://{tmp}/s.db", Path(tmp))
    after = {t.name for t in threading.enumerate()}
    assert not {n for n in after - before if n.startswith(("port ", "gateway-", "spool-"))}

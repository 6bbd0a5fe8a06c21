"""tinypdm_frame.c against docs/protocol.md, the golden frames and vibration.protocol."""

from __future__ import annotations

import ctypes
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import random_int8_model
from firmware_export.runtime.host_build import HostLibrary, build_host_library
from tests.support import require_tool
from vibration.errors import ProtocolError
from vibration.learning.features import FeatureConfig
from vibration.protocol.cobs import cobs_decode, cobs_encode
from vibration.protocol.decoder import FrameDecoder
from vibration.protocol.frames import (
    PROTOCOL_VERSION,
    Hello,
    Samples,
    Score,
    Text,
    Unknown,
    encode_frame,
)

GOLDEN = json.loads((Path(__file__).parent / "data" / "protocol_golden.json").read_text("utf-8"))


def _build_host(tmp: Path, defines: tuple[str, ...] = ()) -> HostLibrary:
    config = FeatureConfig()
    spec = FirmwareSpec(
        model=random_int8_model(config.n_features),
        feature_config=config,
        feature_mean=np.zeros(config.n_features),
        feature_scale=np.ones(config.n_features),
        threshold=1.0,
    )
    write_c_sources(tmp / "src", spec)
    return HostLibrary(build_host_library(tmp / "src", tmp / "build", defines=defines))


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """The library as tinypdm builds it: this protocol version (2)."""
    require_tool("gcc", "gcc")
    return _build_host(tmp_path_factory.mktemp("frame"))


@pytest.fixture(scope="module")
def host_v1(tmp_path_factory):
    """The library built for protocol version 1: a 28-byte SCORE, as older devices send."""
    require_tool("gcc", "gcc")
    return _build_host(tmp_path_factory.mktemp("frame-v1"), ("TINYPDM_PROTOCOL_VERSION=1u",))


def _golden(name: str) -> dict:
    return next(f for f in GOLDEN["frames"] if f["name"] == name)


def test_c_frame_crc32_check_value(host):
    assert host.crc32(b"123456789") == 0xCBF43926
    assert host.crc32(b"") == 0


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600))
def test_c_frame_crc32_matches_zlib(host, data):
    assert host.crc32(data) == zlib.crc32(data)


_COBS_DATA = st.one_of(
    st.binary(max_size=700),
    st.lists(
        st.sampled_from([b"\x00", b"\x01" * 253, b"\x02" * 254, b"\x03" * 255, b"\x04"]), max_size=6
    ).map(b"".join),
)


@settings(max_examples=300, deadline=None)
@given(data=_COBS_DATA)
def test_c_frame_cobs_matches_python_reference(host, data):
    encoded = host.cobs_encode(data)
    assert encoded == cobs_encode(data)
    assert b"\x00" not in encoded
    assert host.cobs_decode(encoded) == data


@settings(max_examples=300, deadline=None)
@given(block=st.binary(min_size=0, max_size=300))
def test_c_frame_cobs_decode_accepts_what_python_accepts(host, block):
    try:
        expected: bytes | None = cobs_decode(block)
    except ProtocolError:
        expected = None
    assert host.cobs_decode(block) == expected


def test_c_frame_encoders_reproduce_golden_wire_bytes(host, host_v1):
    hello = _golden("hello")
    f = hello["fields"]
    wire = host.encode_hello(
        hello["seq"],
        axes=f["axes"],
        flags=f["flags"],
        samples_per_frame=f["samples_per_frame"],
        sample_rate_hz=f["sample_rate_hz"],
        scale=f["scale"],
        units=f["units"],
        device_id=f["device_id"],
        firmware_version=f["firmware_version"],
        model_sha256=bytes.fromhex(f["model_sha256"]),
    )
    assert wire.hex() == hello["wire_hex"]

    samples = _golden("samples")
    f = samples["fields"]
    values = np.array(f["samples_interleaved"], np.int16).reshape(f["n"], f["axes"])
    assert host.encode_samples(samples["seq"], f["t_us"], values).hex() == samples["wire_hex"]

    score = _golden("score")  # a version-1 SCORE
    assert score["version"] == 1
    f = score["fields"]
    wire = host_v1.encode_score(
        score["seq"],
        f["t_us"],
        f["score"],
        f["threshold"],
        f["rms"],
        f["kurtosis"],
        f["alarm"],
        f["over"],
    )
    assert wire.hex() == score["wire_hex"]

    score = _golden("score_v2")
    f = dict(score["fields"])
    f["top_feature_1"], f["top_feature_2"] = f.pop("top_features")
    assert host.encode_score_v2(score["seq"], f).hex() == score["wire_hex"]

    text = _golden("text")
    f = text["fields"]
    wire = host.encode_text(text["seq"], f["level"], f["text"].encode("utf-8"))
    assert wire.hex() == text["wire_hex"]


def test_c_frame_decoder_reads_golden_stream(host):
    decoder = host.decoder()
    stream = b"".join(bytes.fromhex(f["wire_hex"]) for f in GOLDEN["frames"])
    frames = decoder.feed(stream)
    assert [(t, seq) for t, seq, *_ in frames] == [(f["type"], f["seq"]) for f in GOLDEN["frames"]]
    for (_, _, payload, samples, t_us), golden in zip(frames, GOLDEN["frames"], strict=True):
        raw = bytes.fromhex(golden["raw_hex"])
        assert payload == raw[8:-4]
        if golden["name"] == "samples":
            f = golden["fields"]
            assert t_us == f["t_us"]
            np.testing.assert_array_equal(
                samples, np.array(f["samples_interleaved"]).reshape(f["n"], f["axes"])
            )
    # seq 2 -> 4294967295 is a jump backwards modulo 2^32? No: a gap of 2^32 - 3 >= 2^31.
    expected = FrameDecoder()
    expected.feed(stream)
    assert decoder.counters == {
        k: v for k, v in expected.stats.as_dict().items() if k in decoder.counters
    }


def test_c_frame_encoder_refuses_small_buffers_and_keeps_seq(host):
    lib = host._lib
    out = (ctypes.c_uint8 * 40)()
    seq = ctypes.c_uint32(7)
    payload = (ctypes.c_uint8 * 30)(*range(1, 31))
    n = lib.tinypdm_frame_encode(out, 40, ctypes.byref(seq), 4, payload, 30)
    assert n == 0 and seq.value == 7
    big = (ctypes.c_uint8 * 2100)()
    assert lib.tinypdm_frame_encode(big, 2100, ctypes.byref(seq), 4, payload, 2049) == 0
    n = lib.tinypdm_frame_encode(big, 2100, ctypes.byref(seq), 4, payload, 30)
    assert n > 0 and seq.value == 8


_BODIES = st.one_of(
    st.builds(
        Samples,
        t_us=st.integers(0, 2**64 - 1),
        samples=st.integers(1, 8).flatmap(
            lambda axes: st.lists(
                st.lists(st.integers(-32768, 32767), min_size=axes, max_size=axes),
                max_size=1018 // axes,
            ).map(lambda rows, a=axes: np.array(rows, np.int16).reshape(-1, a))
        ),
    ),
    st.builds(
        Score,
        t_us=st.integers(0, 2**64 - 1),
        score=st.floats(0, 1e6, width=32),
        threshold=st.floats(0, 10, width=32),
        rms=st.floats(0, 100, width=32),
        kurtosis=st.floats(0, 100, width=32),
        alarm=st.booleans(),
        over=st.booleans(),
    ),
    st.builds(Text, level=st.integers(0, 3), text=st.text(max_size=60)),
)


@settings(max_examples=120, deadline=None)
@given(seq=st.integers(0, 2**32 - 2), body=_BODIES)
def test_c_frame_encoders_match_python_encoder(host, host_v1, seq, body):
    if isinstance(body, Samples):
        wire = host.encode_samples(seq, body.t_us, body.samples)
    elif isinstance(body, Score):
        # the library's v1 SCORE call on a version-1 build: the 28-byte SCORE
        wire = host_v1.encode_score(
            seq,
            body.t_us,
            body.score,
            body.threshold,
            body.rms,
            body.kurtosis,
            body.alarm,
            body.over,
        )
    else:
        raw = body.text.encode("utf-8")
        if len(raw) > 255:
            return
        wire = host.encode_text(seq, body.level, raw)
    version = 1 if isinstance(body, Score) else PROTOCOL_VERSION
    assert wire == encode_frame(seq, body, version=version)


def _stream(rng: np.random.Generator, n_items: int) -> bytes:
    """Frames mixed with every kind of damage the decoders must count identically."""
    parts = []
    seq = 0
    for _ in range(n_items):
        kind = rng.integers(0, 12)
        seq = (seq + 1 + (rng.integers(1, 4) if kind == 1 else 0)) % 2**32
        if kind <= 3:
            n, axes = int(rng.integers(0, 60)), int(rng.integers(1, 4))
            body = Samples(
                int(rng.integers(0, 2**40)), rng.integers(-32768, 32768, (n, axes)).astype(np.int16)
            )
            parts.append(encode_frame(seq, body))
        elif kind == 4:
            parts.append(encode_frame(seq, Score(1, 0.5, 1.0, 0.1, 3.0, False, True)))
        elif kind == 5:
            parts.append(
                encode_frame(
                    0 if rng.random() < 0.5 else seq, Hello(1, 1, 64, 12000.0, 0.001, "g", "d", "1")
                )
            )
        elif kind == 6:
            wire = bytearray(encode_frame(seq, Text(1, "hello")))
            wire[int(rng.integers(0, len(wire) - 1))] ^= 1 << int(rng.integers(0, 8))
            parts.append(bytes(wire))  # corrupted (bit flip)
        elif kind == 7:
            wire = encode_frame(seq, Text(2, "cut"))
            parts.append(wire[: int(rng.integers(1, len(wire) - 1))])  # cut frame
        elif kind == 8:
            parts.append(rng.integers(1, 256, int(rng.integers(1, 40))).astype(np.uint8).tobytes())
        elif kind == 9:
            parts.append(
                bytes(rng.integers(1, 256, int(rng.integers(2070, 2600))).astype(np.uint8))
            )
        elif kind == 10:
            parts.append(encode_frame(seq, Unknown(0x42, b"future")))
        else:
            raw = bytearray(bytes.fromhex(_golden("text")["raw_hex"]))
            raw[0] = 3  # wrong version (1..2 are known), good CRC
            raw[-4:] = zlib.crc32(bytes(raw[:-4])).to_bytes(4, "little")
            parts.append(cobs_encode(bytes(raw)) + b"\x00")
        if rng.random() < 0.1:
            parts.append(b"\x00")  # idle delimiters
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(6))
def test_c_frame_decoder_counts_like_python_decoder(host, seed):
    stream = _stream(np.random.default_rng(seed), 300)
    c = host.decoder()
    rng = np.random.default_rng(seed + 100)
    frames = []
    pos = 0
    while pos < len(stream):  # arbitrary chunking: the decoder is byte-incremental
        step = int(rng.integers(1, 700))
        frames += c.feed(stream[pos : pos + step])
        pos += step
    py = FrameDecoder()
    expected = [f for f in py.feed(stream) if not isinstance(f.body, Unknown)]
    assert [(t, seq) for t, seq, *_ in frames] == [(int(f.type), f.seq) for f in expected]
    for (t, _, _, samples, t_us), f in zip(frames, expected, strict=True):
        if t == 2:
            assert t_us == f.body.t_us
            np.testing.assert_array_equal(samples, f.body.samples)
    stats = py.stats.as_dict()
    assert c.counters == {k: stats[k] for k in c.counters}
    assert (
        min(
            stats["crc_errors"],
            stats["oversize"],
            stats["resyncs"],
            stats["unknown"],
            stats["wrong_version"],
            stats["dropped_frames"],
            stats["reboots"],
        )
        > 0
    )

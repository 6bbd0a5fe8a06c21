"""Frame encoding and parsing: round trips of every type, layout, validation, bad frames."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings

from tests.support import bodies, seqs
from vibration.errors import ProtocolError
from vibration.protocol import (
    MAX_ENCODED,
    MAX_SAMPLE_VALUES,
    Frame,
    FrameType,
    Hello,
    Samples,
    Score,
    Text,
    Unknown,
    cobs_encode,
    crc32,
    decode_frame,
    encode_frame,
    pack_frame,
    unpack_frame,
)

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=150)

# -- round trips ----------------------------------------------------------------------------


@SETTINGS
@given(seqs, bodies)
def test_frame_round_trip_every_type(seq, body):
    wire = encode_frame(seq, body)
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert len(wire) <= MAX_ENCODED + 1
    frame = decode_frame(wire)
    assert frame == Frame(seq, body)
    assert frame.type == pack_frame(seq, body)[1]
    assert pack_frame(frame.seq, frame.body) == pack_frame(seq, body)


@pytest.mark.parametrize(
    ("body", "ftype"),
    [
        (Hello(1, 3, 256, 12800.0, 0.001, "g", "d", "1"), FrameType.HELLO),
        (Samples(0, np.zeros((2, 1), np.int16)), FrameType.SAMPLES),
        (Score(0, 0.0, 1.0, 0.0, 3.0, False, False), FrameType.SCORE),
        (Text(1, "hi"), FrameType.TEXT),
        (Unknown(200, b"x"), 200),
    ],
    ids=["hello", "samples", "score", "text", "unknown"],
)
def test_frame_type_property(body, ftype):
    assert Frame(0, body).type == ftype
    assert pack_frame(0, body)[1] == ftype


def test_frame_layout_header_payload_crc():
    body = Samples(0x0102030405060708, np.array([[1, -2], [300, -32768]], dtype=np.int16))
    raw = pack_frame(0xA1B2C3D4, body)
    assert raw[:8] == bytes([1, 2, 20, 0, 0xD4, 0xC3, 0xB2, 0xA1])
    payload = raw[8:-4]
    assert payload[:12] == struct.pack("<QHBB", 0x0102030405060708, 2, 2, 0)
    assert np.array_equal(np.frombuffer(payload[12:], "<i2"), [1, -2, 300, -32768])
    assert raw[-4:] == struct.pack("<I", crc32(raw[:-4]))
    assert encode_frame(0xA1B2C3D4, body) == cobs_encode(raw) + b"\x00"


def test_frame_hello_strings_are_nul_padded_ascii():
    raw = pack_frame(0, Hello(2, 1, 128, 1000.0, 0.5, "m/s2", "pump-7", "v1.2.3"))
    payload = raw[8:-4]
    assert len(payload) == 84
    assert payload[12:20] == b"m/s2\x00\x00\x00\x00"
    assert payload[20:36] == b"pump-7".ljust(16, b"\x00")
    assert payload[52:84] == bytes(32)


def test_frame_decoded_samples_are_readonly_int16():
    frame = decode_frame(encode_frame(1, Samples(5, np.arange(6).reshape(3, 2))))
    assert isinstance(frame.body, Samples)
    assert frame.body.samples.dtype == np.int16 and frame.body.samples.shape == (3, 2)
    assert (frame.body.n, frame.body.axes) == (3, 2)
    with pytest.raises(ValueError, match="read-only"):
        frame.body.samples[0, 0] = 1


# -- the Samples value type -----------------------------------------------------------------


def test_samples_converts_lists_and_1d_arrays():
    s = Samples(0, [1, 2, 3])  # type: ignore[arg-type]
    assert s.samples.dtype == np.int16 and s.samples.shape == (3, 1)
    assert s == Samples(0, np.array([[1], [2], [3]], dtype=np.int64))
    assert hash(s) == hash(Samples(0, np.array([[1], [2], [3]], dtype=np.int16)))
    assert s != Samples(1, np.array([1, 2, 3]))
    assert s != Samples(0, np.array([1, 2, 4]))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param([40000], "fit int16", id="too-big"),
        pytest.param([0.5], "integers", id="float"),
        pytest.param(np.zeros((2, 2, 2)), "shape", id="3d"),
    ],
)
def test_samples_rejects_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        Samples(0, values)


# -- validation when encoding ---------------------------------------------------------------

_HELLO = Hello(1, 0, 256, 1000.0, 1.0, "g", "dev", "1.0")


@pytest.mark.parametrize(
    ("seq", "body", "message"),
    [
        pytest.param(-1, Text(0, "x"), "seq", id="seq-negative"),
        pytest.param(2**32, Text(0, "x"), "seq", id="seq-too-big"),
        pytest.param(0, Text(4, "x"), "level", id="text-level"),
        pytest.param(0, Text(0, "é" * 128), "255 UTF-8 bytes", id="text-too-long"),
        pytest.param(0, Samples(-1, np.ones(1, np.int16)), "t_us", id="samples-negative-time"),
        pytest.param(0, Samples(0, np.zeros((1, 9), np.int16)), "axes", id="samples-9-axes"),
        pytest.param(0, Samples(0, np.zeros((1019, 1), np.int16)), "n \\* axes", id="too-many"),
        pytest.param(0, Samples(0, np.zeros((0, 0), np.int16)), "axes", id="samples-0-axes"),
        pytest.param(0, Score(0, 1e39, 0.0, 0.0, 0.0, False, False), "cannot pack", id="f32"),
        pytest.param(0, Score(2**64, 0.0, 0.0, 0.0, 0.0, False, False), "t_us", id="score-t"),
        pytest.param(0, Hello(0, 0, 1, 1.0, 1.0, "", "", ""), "axes", id="hello-axes"),
        pytest.param(0, Hello(1, 256, 1, 1.0, 1.0, "", "", ""), "flags", id="hello-flags"),
        pytest.param(0, Hello(1, 0, 1, 1.0, 1.0, "g" * 9, "", ""), "units", id="hello-units"),
        pytest.param(0, Hello(1, 0, 1, 1.0, 1.0, "µ", "", ""), "ASCII", id="hello-non-ascii"),
        pytest.param(
            0, Hello(1, 0, 1, 1.0, 1.0, "g", "", "", b"short"), "32 bytes", id="hello-sha"
        ),
        pytest.param(0, Unknown(256, b""), "type", id="unknown-type"),
        pytest.param(0, Unknown(9, bytes(2049)), "2048", id="unknown-too-long"),
    ],
)
def test_frame_encode_rejects_out_of_range_fields(seq, body, message):
    with pytest.raises(ValueError, match=message):
        encode_frame(seq, body)


def test_frame_encode_rejects_non_body():
    with pytest.raises(TypeError, match="not a frame body"):
        encode_frame(0, "hello")  # type: ignore[arg-type]


def test_frame_largest_samples_frame_fits_max_encoded():
    values = np.full((MAX_SAMPLE_VALUES, 1), 0x0101, np.int16)  # no zero bytes: most overhead
    wire = encode_frame(2**32 - 1, Samples(2**64 - 1, values))
    assert len(wire) == MAX_ENCODED + 1


# -- refusing bad raw frames ----------------------------------------------------------------


def _with_crc(raw: bytes) -> bytes:
    return raw + struct.pack("<I", crc32(raw))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"\x01\x04\x00\x00", "shorter", id="short"),
        pytest.param(pack_frame(1, Text(1, "hi"))[:-1] + b"\x00", "CRC", id="crc"),
        pytest.param(_with_crc(b"\x02\x04\x01\x00\x00\x00\x00\x00\x01"), "version", id="v2"),
        pytest.param(_with_crc(b"\x01\x04\x05\x00\x00\x00\x00\x00\x01"), "length", id="len"),
        pytest.param(_with_crc(b"\x01\x03\x01\x00\x00\x00\x00\x00\x01"), "layout", id="score"),
        pytest.param(
            _with_crc(b"\x01\x02\x0c\x00\x00\x00\x00\x00" + struct.pack("<QHBB", 0, 2, 1, 0)),
            "layout",
            id="samples-n-mismatch",
        ),
        pytest.param(
            _with_crc(b"\x01\x02\x0c\x00\x00\x00\x00\x00" + struct.pack("<QHBB", 0, 1, 0, 0)),
            "layout",
            id="samples-0-axes",
        ),
        pytest.param(_with_crc(b"\x01\x01\x00\x00\x00\x00\x00\x00"), "layout", id="hello-empty"),
        pytest.param(_with_crc(b"\x01\x04\x00\x00\x00\x00\x00\x00"), "layout", id="text-empty"),
    ],
)
def test_frame_unpack_rejects_bad_raw_frames(raw, message):
    with pytest.raises(ProtocolError, match=message):
        unpack_frame(raw)


def test_frame_decode_rejects_bad_cobs():
    with pytest.raises(ProtocolError, match="past the end"):
        decode_frame(b"\x09\x01\x00")


def test_frame_text_with_invalid_utf8_is_replaced_not_raised():
    raw = _with_crc(b"\x01\x04\x03\x00\x07\x00\x00\x00\x02\xff\x41")
    frame = unpack_frame(raw)
    assert frame == Frame(7, Text(2, "\ufffdA"))

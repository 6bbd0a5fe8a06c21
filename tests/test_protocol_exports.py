"""The public names of vibration.protocol, and a light import."""

from __future__ import annotations

import subprocess
import sys

import vibration.protocol as protocol

EXPECTED = {
    "AsciiDecoder", "AsciiStats", "Body", "CONTROL_SIZE", "CRC_SIZE", "Control",
    "SCORE_V1_SIZE", "SUPPORTED_VERSIONS", "unsupported_version_message", "DecoderStats",
    "Frame", "FrameDecoder",
    "FrameType", "HEADER_SIZE", "HELLO_SIZE", "Hello", "MAX_AXES", "MAX_ENCODED", "MAX_FRAME",
    "MAX_PAYLOAD", "MAX_SAMPLE_VALUES", "MAX_TEXT", "Mode", "PROTOCOL_VERSION", "RateEstimate",
    "SAMPLES_HEADER_SIZE", "SCORE_SIZE", "Samples", "Score", "StreamDecoder", "Text", "Unknown",
    "cobs_decode", "cobs_encode", "cobs_max_encoded_len", "crc32", "decode_frame",
    "encode_frame", "pack_frame", "unpack_frame",
}  # fmt: skip


def test_protocol_all_lists_the_public_names():
    assert set(protocol.__all__) == EXPECTED
    assert len(protocol.__all__) == len(EXPECTED)
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None


def test_protocol_constants_match_the_spec():
    assert protocol.MAX_FRAME == 2060
    assert protocol.MAX_ENCODED == 2069
    assert protocol.MAX_SAMPLE_VALUES == 1018
    assert [int(t) for t in protocol.FrameType] == [1, 2, 3, 4, 5]
    assert protocol.PROTOCOL_VERSION == 2 and protocol.SUPPORTED_VERSIONS == (1, 2)
    assert protocol.SCORE_SIZE == 40 and protocol.SCORE_V1_SIZE == 28


def test_protocol_import_is_light():
    code = (
        "import sys, vibration.protocol;"
        "print([m for m in ('tensorflow', 'keras', 'sklearn', 'streamlit')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""The tinypdm serial protocol, version 2 (docs/protocol.md; version 1 frames still decode).

Binary frames ``COBS(header | payload | crc32) 0x00`` and plain one-sample-per-line text,
decoded incrementally and without I/O:

* :func:`encode_frame` / :func:`decode_frame` for one frame, :class:`FrameDecoder` for a
  binary stream, :class:`AsciiDecoder` for a text stream, :class:`StreamDecoder` for either
  (detected from the first bytes);
* :func:`cobs_encode`, :func:`cobs_decode`, :func:`crc32`: the building blocks.

Decoders never raise on bad bytes: they count them (:class:`DecoderStats`,
:class:`AsciiStats`). Encoders raise ``ValueError`` on fields out of range; one-shot
decoding functions raise :class:`~vibration.errors.ProtocolError`.
"""

from __future__ import annotations

from vibration.protocol.ascii_stream import AsciiDecoder, AsciiStats, RateEstimate
from vibration.protocol.cobs import cobs_decode, cobs_encode, cobs_max_encoded_len
from vibration.protocol.crc import crc32
from vibration.protocol.decoder import DecoderStats, FrameDecoder
from vibration.protocol.frames import (
    CONTROL_SIZE,
    CRC_SIZE,
    HEADER_SIZE,
    HELLO_SIZE,
    MAX_AXES,
    MAX_ENCODED,
    MAX_FRAME,
    MAX_PAYLOAD,
    MAX_SAMPLE_VALUES,
    MAX_TEXT,
    PROTOCOL_VERSION,
    SAMPLES_HEADER_SIZE,
    SCORE_SIZE,
    SCORE_V1_SIZE,
    SUPPORTED_VERSIONS,
    Body,
    Control,
    Frame,
    FrameType,
    Hello,
    Samples,
    Score,
    Text,
    Unknown,
    decode_frame,
    encode_frame,
    pack_frame,
    unpack_frame,
    unsupported_version_message,
)
from vibration.protocol.stream import Mode, StreamDecoder

__all__ = [
    "CONTROL_SIZE",
    "CRC_SIZE",
    "HEADER_SIZE",
    "HELLO_SIZE",
    "MAX_AXES",
    "MAX_ENCODED",
    "MAX_FRAME",
    "MAX_PAYLOAD",
    "MAX_SAMPLE_VALUES",
    "MAX_TEXT",
    "PROTOCOL_VERSION",
    "SAMPLES_HEADER_SIZE",
    "SCORE_SIZE",
    "SCORE_V1_SIZE",
    "SUPPORTED_VERSIONS",
    "AsciiDecoder",
    "AsciiStats",
    "Body",
    "Control",
    "DecoderStats",
    "Frame",
    "FrameDecoder",
    "FrameType",
    "Hello",
    "Mode",
    "RateEstimate",
    "Samples",
    "Score",
    "StreamDecoder",
    "Text",
    "Unknown",
    "cobs_decode",
    "cobs_encode",
    "cobs_max_encoded_len",
    "crc32",
    "decode_frame",
    "encode_frame",
    "pack_frame",
    "unpack_frame",
    "unsupported_version_message",
]

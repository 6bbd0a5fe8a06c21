"""Frame types of protocol v1 and their byte layout (docs/protocol.md).

A *raw frame* is ``header | payload | crc32``; on the wire it is COBS-encoded and followed
by 0x00 (:func:`encode_frame`). :func:`pack_frame` / :func:`unpack_frame` convert between
raw frames and :class:`Frame` objects; :func:`decode_frame` takes one wire frame.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Final, TypeAlias

import numpy as np

from vibration.errors import ProtocolError
from vibration.protocol.cobs import cobs_decode, cobs_encode, cobs_max_encoded_len
from vibration.protocol.crc import crc32
from vibration.validation import is_integer

__all__ = [
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
    "Body",
    "Frame",
    "FrameType",
    "Hello",
    "Samples",
    "Score",
    "Text",
    "Unknown",
    "decode_frame",
    "encode_frame",
    "pack_frame",
    "unpack_frame",
]

PROTOCOL_VERSION: Final = 1
HEADER_SIZE: Final = 8
CRC_SIZE: Final = 4
MAX_PAYLOAD: Final = 2048
#: header + payload + CRC, before COBS: 2060
MAX_FRAME: Final = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
#: longest COBS encoding of a frame, without the 0x00 delimiter: 2069
MAX_ENCODED: Final = cobs_max_encoded_len(MAX_FRAME)
HELLO_SIZE: Final = 84
SCORE_SIZE: Final = 28
SAMPLES_HEADER_SIZE: Final = 12
#: most int16 values (n * axes) one SAMPLES frame holds: 1018
MAX_SAMPLE_VALUES: Final = (MAX_PAYLOAD - SAMPLES_HEADER_SIZE) // 2
MAX_AXES: Final = 8
MAX_TEXT: Final = 255

_HEADER = struct.Struct("<BBHI")
_HELLO = struct.Struct("<BBHff8s16s16s32s")
_SAMPLES = struct.Struct("<QHBB")
_SCORE = struct.Struct("<QffffBBH")
_U32 = struct.Struct("<I")
_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFF_FFFF
_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
_I16LE = np.dtype("<i2")
# CRC-32 of any message followed by its own CRC (little-endian) is this constant: checking
# a frame is one crc32 call over all of it, with no slicing.
_CRC_RESIDUE = 0x2144DF1C
_T_HELLO, _T_SAMPLES, _T_SCORE, _T_TEXT = 1, 2, 3, 4


class FrameType(IntEnum):
    """The ``type`` byte of the header."""

    HELLO = 1
    SAMPLES = 2
    SCORE = 3
    TEXT = 4


@dataclass(frozen=True)
class Hello:
    """Who the device is and what it streams; sent at boot and every 10 s.

    Strings are ASCII of at most 8 (``units``) or 16 bytes; ``model_sha256`` is 32 bytes,
    all zero when the device runs no model.
    """

    axes: int
    flags: int
    samples_per_frame: int
    sample_rate_hz: float
    scale: float
    units: str
    device_id: str
    firmware_version: str
    model_sha256: bytes = bytes(32)

    #: flags bit 0: the device scores on board
    FLAG_SCORES: ClassVar[int] = 0x01
    #: flags bit 1: the device streams SAMPLES
    FLAG_STREAMS: ClassVar[int] = 0x02


@dataclass(frozen=True, eq=False)
class Samples:
    """A block of raw samples.

    Attributes
    ----------
    t_us : int
        Device time of the first sample, microseconds since boot.
    samples : ndarray of int16, shape (n, axes)
        Interleaved on the wire (s0a0, s0a1, ..., s1a0, ...). A 1-D or other integer
        array given to the constructor is converted (1-D means one axis); values out of
        the int16 range raise ``ValueError``. Arrays made by the decoder are read-only.
    """

    t_us: int
    samples: np.ndarray

    def __post_init__(self) -> None:
        s = self.samples
        if type(s) is np.ndarray and s.dtype == np.int16 and s.ndim == 2:
            return  # the decoder's fast path
        object.__setattr__(self, "samples", _as_samples(s))

    @property
    def n(self) -> int:
        """Samples per axis."""
        return int(self.samples.shape[0])

    @property
    def axes(self) -> int:
        """Number of axes."""
        return int(self.samples.shape[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Samples):
            return NotImplemented
        return self.t_us == other.t_us and np.array_equal(self.samples, other.samples)

    def __hash__(self) -> int:
        return hash((self.t_us, self.samples.shape, self.samples.tobytes()))


def _as_samples(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"samples must have shape (n, axes), got shape {arr.shape!r}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"samples must be integers (int16 counts), got dtype {arr.dtype!r}")
    if arr.size and (arr.min() < -32768 or arr.max() > 32767):
        raise ValueError(f"samples must fit int16, got range [{arr.min()!r}, {arr.max()!r}]")
    return arr.astype(np.int16)


@dataclass(frozen=True)
class Score:
    """The device's verdict on one window (SCORE frame)."""

    t_us: int
    score: float
    threshold: float
    rms: float
    kurtosis: float
    alarm: bool
    over: bool


@dataclass(frozen=True)
class Text:
    """A log line from the device: ``level`` 0 debug, 1 info, 2 warning, 3 error."""

    level: int
    text: str

    DEBUG: ClassVar[int] = 0
    INFO: ClassVar[int] = 1
    WARNING: ClassVar[int] = 2
    ERROR: ClassVar[int] = 3


@dataclass(frozen=True)
class Unknown:
    """A frame with a good CRC and a type this host does not know (forward compatibility)."""

    type: int
    payload: bytes


Body: TypeAlias = Hello | Samples | Score | Text | Unknown


@dataclass(frozen=True)
class Frame:
    """One decoded frame: the sender's sequence number and the typed payload."""

    seq: int
    body: Body

    @property
    def type(self) -> int:
        """The header's type byte (a :class:`FrameType` for known types)."""
        return _type_of(self.body)


def _type_of(body: Body) -> int:
    if isinstance(body, Samples):
        return FrameType.SAMPLES
    if isinstance(body, Score):
        return FrameType.SCORE
    if isinstance(body, Hello):
        return FrameType.HELLO
    if isinstance(body, Text):
        return FrameType.TEXT
    if isinstance(body, Unknown):
        return body.type
    raise TypeError(f"not a frame body: {body!r}")


# -- encoding -------------------------------------------------------------------------------


def _check_int(name: str, value: int, lo: int, hi: int) -> None:
    if not is_integer(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


def _ascii_field(name: str, value: str, size: int) -> bytes:
    try:
        raw = value.encode("ascii")
    except (UnicodeEncodeError, AttributeError):
        raise ValueError(f"{name} must be an ASCII string, got {value!r}") from None
    if len(raw) > size or b"\x00" in raw:
        raise ValueError(f"{name} must be at most {size} ASCII bytes without NUL, got {value!r}")
    return raw


def _payload(body: Body) -> bytes:
    try:
        if isinstance(body, Samples):
            n, axes = body.samples.shape
            _check_int("t_us", body.t_us, 0, _U64_MAX)
            _check_int("axes", axes, 1, MAX_AXES)
            _check_int("n * axes", n * axes, 0, MAX_SAMPLE_VALUES)
            head = _SAMPLES.pack(body.t_us, n, axes, 0)
            return head + body.samples.astype("<i2", copy=False).tobytes()
        if isinstance(body, Score):
            _check_int("t_us", body.t_us, 0, _U64_MAX)
            return _SCORE.pack(
                body.t_us, body.score, body.threshold, body.rms, body.kurtosis,
                bool(body.alarm), bool(body.over), 0,
            )  # fmt: skip
        if isinstance(body, Hello):
            _check_int("axes", body.axes, 1, MAX_AXES)
            _check_int("flags", body.flags, 0, 0xFF)
            _check_int("samples_per_frame", body.samples_per_frame, 0, _U16_MAX)
            sha = bytes(body.model_sha256)
            if len(sha) != 32:
                raise ValueError(f"model_sha256 must be 32 bytes, got {len(sha)}")
            return _HELLO.pack(
                body.axes, body.flags, body.samples_per_frame, body.sample_rate_hz, body.scale,
                _ascii_field("units", body.units, 8),
                _ascii_field("device_id", body.device_id, 16),
                _ascii_field("firmware_version", body.firmware_version, 16),
                sha,
            )  # fmt: skip
        if isinstance(body, Text):
            _check_int("level", body.level, 0, 3)
            raw = body.text.encode("utf-8")
            if len(raw) > MAX_TEXT:
                raise ValueError(f"text must be at most {MAX_TEXT} UTF-8 bytes, got {len(raw)}")
            return bytes((body.level,)) + raw
        if isinstance(body, Unknown):
            _check_int("type", body.type, 0, 0xFF)
            return bytes(body.payload)
    except (struct.error, OverflowError) as exc:  # floats beyond binary32, mostly
        raise ValueError(f"cannot pack {type(body).__name__}: {exc}") from None
    raise TypeError(f"not a frame body: {body!r}")


def pack_frame(seq: int, body: Body) -> bytes:
    """The raw frame ``header | payload | crc32``, before COBS.

    Parameters
    ----------
    seq : int
        The sender's frame counter, 0..2**32-1.
    body : Hello | Samples | Score | Text | Unknown
        The payload.

    Returns
    -------
    bytes
        ``12 + len(payload)`` bytes.

    Raises
    ------
    ValueError
        A field out of range (see docs/protocol.md), or a payload over 2048 bytes.
    """
    _check_int("seq", seq, 0, _U32_MAX)
    payload = _payload(body)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload must be at most {MAX_PAYLOAD} bytes, got {len(payload)}")
    raw = _HEADER.pack(PROTOCOL_VERSION, _type_of(body), len(payload), seq) + payload
    return raw + _U32.pack(crc32(raw))


def encode_frame(seq: int, body: Body) -> bytes:
    """Wire bytes of one frame: ``COBS(header | payload | crc32) + b"\\x00"``.

    Parameters and errors as :func:`pack_frame`.
    """
    return cobs_encode(pack_frame(seq, body)) + b"\x00"


# -- decoding -------------------------------------------------------------------------------

# Why a raw frame is refused (the decoder counts them; unpack_frame raises).
_SHORT, _CRC, _VERSION, _LENGTH, _PAYLOAD = range(5)


def _parse(raw: bytes) -> Frame | int:
    """A Frame, or the reason code why ``raw`` (a decoded chunk) is not one."""
    n = len(raw)
    if n < HEADER_SIZE + CRC_SIZE:
        return _SHORT
    end = n - CRC_SIZE
    if zlib.crc32(raw) != _CRC_RESIDUE:
        return _CRC
    version, ftype, length, seq = _HEADER.unpack_from(raw)
    if version != PROTOCOL_VERSION:
        return _VERSION
    if length != end - HEADER_SIZE:
        return _LENGTH
    body: Body
    if ftype == _T_SAMPLES:
        if length < SAMPLES_HEADER_SIZE:
            return _PAYLOAD
        t_us, count, axes, _ = _SAMPLES.unpack_from(raw, HEADER_SIZE)
        if not 1 <= axes <= MAX_AXES or length != SAMPLES_HEADER_SIZE + 2 * count * axes:
            return _PAYLOAD
        values = np.frombuffer(raw, _I16LE, count * axes, HEADER_SIZE + SAMPLES_HEADER_SIZE)
        body = Samples(t_us, values.reshape(count, axes))
    elif ftype == _T_SCORE:
        if length != SCORE_SIZE:
            return _PAYLOAD
        t_us, score, threshold, rms, kurt, alarm, over, _ = _SCORE.unpack_from(raw, HEADER_SIZE)
        body = Score(t_us, score, threshold, rms, kurt, alarm != 0, over != 0)
    elif ftype == _T_HELLO:
        if length != HELLO_SIZE:
            return _PAYLOAD
        axes, flags, spf, rate, scale, units, dev, fw, sha = _HELLO.unpack_from(raw, HEADER_SIZE)
        if not 1 <= axes <= MAX_AXES:
            return _PAYLOAD
        body = Hello(axes, flags, spf, rate, scale, _cstr(units), _cstr(dev), _cstr(fw), sha)
    elif ftype == _T_TEXT:
        if not 1 <= length <= 1 + MAX_TEXT:
            return _PAYLOAD
        text = raw[HEADER_SIZE + 1 : end].decode("utf-8", errors="replace")
        body = Text(raw[HEADER_SIZE], text)
    else:
        body = Unknown(ftype, raw[HEADER_SIZE:end])
    return Frame(seq, body)


def _cstr(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("ascii", errors="replace")


_REASONS = {
    _SHORT: "shorter than header and CRC",
    _CRC: "CRC mismatch",
    _VERSION: "unsupported protocol version",
    _LENGTH: "header length does not match the frame",
    _PAYLOAD: "payload does not match its type's layout",
}


def unpack_frame(raw: bytes | bytearray | memoryview) -> Frame:
    """Parse one raw frame (``header | payload | crc32``, after COBS decoding).

    Raises
    ------
    ProtocolError
        Too short, bad CRC, wrong version, length mismatch or malformed payload.
    """
    result = _parse(bytes(raw))
    if isinstance(result, Frame):
        return result
    raise ProtocolError(f"bad frame ({len(raw)} bytes): {_REASONS[result]}")


def decode_frame(wire: bytes | bytearray | memoryview) -> Frame:
    """Decode one wire frame (COBS bytes, with or without the trailing 0x00).

    Raises
    ------
    ProtocolError
        Not valid COBS, or not a valid frame (see :func:`unpack_frame`).
    """
    block = bytes(wire)
    if block.endswith(b"\x00"):
        block = block[:-1]
    return unpack_frame(cobs_decode(block))

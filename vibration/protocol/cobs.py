"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): the scalar reference.

COBS rewrites a block so that it contains no 0x00 byte; 0x00 then delimits frames on the
wire. The encoded block is a chain of *codes*: each code ``c`` (1..255) is followed by
``c - 1`` data bytes and stands for a 0x00 after them, except when ``c == 0xFF`` (a full
block of 254 bytes, no zero) and for the last block of the chain (no zero at the end).

These two functions handle one block at a time and are the reference that the batch
decoder of :mod:`vibration.protocol.decoder` is tested against.
"""

from __future__ import annotations

from vibration.errors import ProtocolError

__all__ = ["cobs_decode", "cobs_encode", "cobs_max_encoded_len"]

_FULL = 0xFF  # code of a block of 254 data bytes, not followed by a zero
_RUN = _FULL - 1  # data bytes in a full block


def cobs_max_encoded_len(n: int) -> int:
    """The longest COBS encoding of ``n`` bytes: ``n + n // 254 + 1``.

    Parameters
    ----------
    n : int
        Length of the data block (>= 0).

    Returns
    -------
    int
        Upper bound of ``len(cobs_encode(data))`` for any ``data`` of length ``n``
        (reached by blocks without zeros whose length is not a multiple of 254).
    """
    if n < 0:
        raise ValueError(f"length must be >= 0, got {n!r}")
    return n + n // _RUN + 1


def cobs_encode(data: bytes | bytearray | memoryview) -> bytes:
    """COBS-encode one block (no delimiter is appended).

    The encoding is the canonical one of the paper (and of Wikipedia's examples): a final
    full block (code 0xFF) is not followed by an empty ``01`` block.

    Parameters
    ----------
    data : bytes-like of length n
        Any bytes, zeros included.

    Returns
    -------
    bytes
        Between ``n + 1`` and ``cobs_max_encoded_len(n)`` bytes, none of them 0x00.
    """
    pieces = bytes(data).split(b"\x00")
    out: list[bytes] = []
    last = len(pieces) - 1
    for k, piece in enumerate(pieces):
        full = 0
        while len(piece) - full >= _RUN:
            out.append(b"\xff")
            out.append(piece[full : full + _RUN])
            full += _RUN
        rest = piece[full:]
        if k == last and full and not rest:
            break  # a final full block needs no empty block after it
        out.append(bytes((len(rest) + 1,)))
        out.append(rest)
    return b"".join(out)


def cobs_decode(data: bytes | bytearray | memoryview) -> bytes:
    """Decode one COBS block (without its delimiter).

    Parameters
    ----------
    data : bytes-like
        An encoded block: at least one byte, no 0x00.

    Returns
    -------
    bytes
        The original block.

    Raises
    ------
    ProtocolError
        The block is empty, contains 0x00, or a code points past its end.
    """
    block = bytes(data)
    n = len(block)
    if n == 0:
        raise ProtocolError("empty COBS block")
    zero = block.find(b"\x00")
    if zero >= 0:
        raise ProtocolError(f"COBS block contains 0x00 at offset {zero}")
    out: list[bytes] = []
    i = 0
    while True:
        code = block[i]
        end = i + code
        if end > n:
            raise ProtocolError(
                f"COBS code {code} at offset {i} points past the end of the {n}-byte block"
            )
        out.append(block[i + 1 : end])
        if end == n:
            return b"".join(out)
        if code != _FULL:
            out.append(b"\x00")
        i = end

"""CRC-32/ISO-HDLC, the checksum that closes every frame (zlib's CRC-32)."""

from __future__ import annotations

import zlib

__all__ = ["crc32"]


def crc32(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32 of ``data``: polynomial 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF.

    Parameters
    ----------
    data : bytes-like
        The bytes to check.
    value : int
        The CRC of the bytes before ``data``, to continue a running CRC
        (``crc32(b, crc32(a)) == crc32(a + b)``); 0 to start.

    Returns
    -------
    int
        The CRC as an unsigned 32-bit integer; ``crc32(b"123456789") == 0xCBF43926``.
    """
    return zlib.crc32(data, value) & 0xFFFFFFFF

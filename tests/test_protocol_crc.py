"""CRC-32 (ISO-HDLC, zlib) of protocol frames."""

from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from vibration.protocol import crc32

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=100)


def test_crc32_check_value():
    assert crc32(b"123456789") == 0xCBF43926


def test_crc32_empty_is_zero():
    assert crc32(b"") == 0


@SETTINGS
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc32_matches_zlib_and_continues(a, b):
    assert crc32(a + b) == zlib.crc32(a + b)
    assert crc32(b, crc32(a)) == crc32(a + b)
    assert 0 <= crc32(a) <= 0xFFFFFFFF

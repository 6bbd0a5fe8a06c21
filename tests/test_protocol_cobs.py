"""COBS: known answers, round trips, malformed blocks, and the vectorised batch decoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibration.errors import ProtocolError
from vibration.protocol import cobs_decode, cobs_encode, cobs_max_encoded_len
from vibration.protocol._batch import cobs_decode_many

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=150)

_RUN_01_FE = bytes(range(1, 0xFF))  # 01 02 .. FE: 254 bytes, no zero
_RUN_01_FF = bytes(range(1, 0x100))  # 01 .. FF: 255 bytes

# The examples of the COBS paper as listed on Wikipedia's "Consistent Overhead Byte Stuffing".
VECTORS = [
    pytest.param(b"", b"\x01", id="empty"),
    pytest.param(b"\x00", b"\x01\x01", id="one-zero"),
    pytest.param(b"\x00\x00", b"\x01\x01\x01", id="two-zeros"),
    pytest.param(b"\x00\x11\x00", b"\x01\x02\x11\x01", id="zero-11-zero"),
    pytest.param(b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33", id="11-22-00-33"),
    pytest.param(b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44", id="no-zero"),
    pytest.param(b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01", id="trailing-zeros"),
    pytest.param(_RUN_01_FE, b"\xff" + _RUN_01_FE, id="254-nonzero"),
    pytest.param(b"\x00" + _RUN_01_FE, b"\x01\xff" + _RUN_01_FE, id="zero-then-254"),
    pytest.param(_RUN_01_FF, b"\xff" + _RUN_01_FE + b"\x02\xff", id="255-nonzero"),
    pytest.param(
        bytes(range(2, 0x100)) + b"\x00",
        b"\xff" + bytes(range(2, 0x100)) + b"\x01\x01",
        id="254-then-zero",
    ),
    pytest.param(
        bytes(range(3, 0x100)) + b"\x00\x01",
        b"\xfe" + bytes(range(3, 0x100)) + b"\x02\x01",
        id="253-zero-01",
    ),
]


@pytest.mark.parametrize(("data", "encoded"), VECTORS)
def test_cobs_known_answers(data, encoded):
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


def test_cobs_decode_accepts_trailing_empty_block_after_full_block():
    # Some encoders close a final 254-byte block with an empty "01" block; same data.
    assert cobs_decode(b"\xff" + _RUN_01_FE + b"\x01") == _RUN_01_FE


@pytest.mark.parametrize(
    ("block", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\x02\x11\x00", "contains 0x00", id="zero-inside"),
        pytest.param(b"\x05\x11\x22", "past the end", id="overrun"),
        pytest.param(b"\x02\x11\x04\x22", "past the end", id="second-code-overruns"),
    ],
)
def test_cobs_decode_rejects_malformed_block(block, message):
    with pytest.raises(ProtocolError, match=message):
        cobs_decode(block)


def test_cobs_max_encoded_len_rejects_negative():
    with pytest.raises(ValueError, match="got -1"):
        cobs_max_encoded_len(-1)


# Blocks with long zero-free runs (0xFF codes) as well as dense zeros.
_DENSE = bytes([0, 0, 1, 255] * 64)  # maps any byte to 0, 1 or 255: zeros and full codes
blocks = st.one_of(
    st.binary(max_size=700),
    st.binary(min_size=200, max_size=800).map(lambda b: b.replace(b"\x00", b"\x01")),
    st.binary(max_size=600).map(lambda b: b.translate(_DENSE)),
)


@SETTINGS
@given(blocks)
def test_cobs_round_trip_without_zeros_and_within_bound(data):
    encoded = cobs_encode(data)
    assert b"\x00" not in encoded
    assert len(data) + 1 <= len(encoded) <= cobs_max_encoded_len(len(data))
    assert cobs_decode(encoded) == data


@SETTINGS
@given(
    st.lists(
        st.one_of(blocks.map(cobs_encode), st.binary(min_size=1, max_size=300)),
        min_size=1,
        max_size=12,
    )
)
def test_cobs_batch_decoder_agrees_with_scalar_reference(chunks):
    """Valid encodings and random garbage side by side: same verdicts and bytes."""
    chunks = [c.replace(b"\x00", b"\x07") for c in chunks]  # blocks contain no delimiter
    region = b"".join(c + b"\x00" for c in chunks)
    buf = np.frombuffer(region, dtype=np.uint8)
    ends = np.flatnonzero(buf == 0)
    starts = np.concatenate(([0], ends[:-1] + 1))
    valid, decoded, has_full = cobs_decode_many(buf, starts, ends)
    for k, chunk in enumerate(chunks):
        try:
            expected = cobs_decode(chunk)
        except ProtocolError:
            assert not valid[k]
            continue
        assert valid[k]
        assert has_full[k] == (b"\xff" in chunk and _has_full_code(chunk))
        if not has_full[k]:
            assert decoded[starts[k] + 1 : ends[k]] == expected


def _has_full_code(chunk: bytes) -> bool:
    i = 0
    while i < len(chunk):
        if chunk[i] == 0xFF:
            return True
        i += chunk[i]
    return False

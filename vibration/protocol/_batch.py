"""Vectorised COBS decoding of many delimited blocks at once (numpy).

A per-byte or per-block Python loop cannot keep up with a fast link, so the decoder hands
all the complete blocks of one ``feed`` to :func:`cobs_decode_many`, which follows the code
chains of every block *simultaneously*: a vector of pointers, one per block, advanced by
``p += buf[p]``. The loop runs as many times as the longest chain has codes, each step a few
numpy operations over the vector; per block, only a slice and a CRC remain in Python.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cobs_decode_many"]

_FULL = 0xFF


def cobs_decode_many(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, bytes, np.ndarray]:
    """Decode the COBS blocks ``buf[starts[i]:ends[i]]``, each followed by a 0x00.

    Parameters
    ----------
    buf : ndarray of uint8, shape (m,)
        The received bytes; ``buf[ends[i]] == 0`` for every block and no 0x00 inside a block.
    starts, ends : ndarray of intp, shape (k,)
        Increasing, non-overlapping block bounds with ``ends[i] > starts[i]``.

    Returns
    -------
    valid : ndarray of bool, shape (k,)
        True where the block is well-formed COBS (its chain ends exactly on its delimiter).
    decoded : bytes of length m
        ``buf`` with every code byte replaced by 0x00: for a valid block without a 0xFF code
        the decoded block is ``decoded[starts[i] + 1 : ends[i]]``.
    has_full : ndarray of bool, shape (k,)
        True where the block contains a 0xFF code (a 254-byte run without zero), after
        which no zero is inserted: decode those with the scalar
        :func:`~vibration.protocol.cobs.cobs_decode` (rare, and they have few codes).
    """
    codes = np.zeros(buf.size, dtype=bool)
    p = starts.astype(np.intp, copy=True)
    total = np.zeros(p.size, dtype=np.intp)
    codes[p] = True
    while True:
        step = buf[p]  # 0 once a pointer rests on its delimiter
        if not step.any():
            break
        total += step
        p += step
        np.minimum(p, ends, out=p)  # an overrunning chain stops at its own delimiter
        codes[p] = True
    valid = total == ends - starts  # an overrun adds more than the block holds
    decoded = buf.copy()
    decoded[codes] = 0
    has_full = np.zeros(p.size, dtype=bool)
    full = np.flatnonzero(codes & (buf == _FULL))
    if full.size:
        has_full[np.searchsorted(ends, full)] = True
    return valid, decoded.tobytes(), has_full

"""The incremental binary frame decoder: bytes in, frames out, never an exception.

:class:`FrameDecoder` is pure (no I/O, no clock) so that it can be fed from a serial port, a
file or a test, in chunks of any size. It splits the stream on 0x00, decodes every complete
chunk (vectorised when a feed brings many, see :mod:`vibration.protocol._batch`), checks
CRC and header, and keeps the receiver counters of docs/protocol.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from vibration.errors import ProtocolError
from vibration.protocol._batch import cobs_decode_many
from vibration.protocol.cobs import cobs_decode
from vibration.protocol.frames import _VERSION, MAX_ENCODED, Frame, Hello, Unknown, _parse

__all__ = ["DecoderStats", "FrameDecoder"]

_SEQ_MOD = 1 << 32
_SEQ_HALF = 1 << 31


@dataclass
class DecoderStats:
    """Receiver counters (docs/protocol.md, "Receiver counters").

    Every non-empty chunk between two 0x00 ends up in exactly one of ``frames``,
    ``crc_errors``, ``oversize`` or ``wrong_version``.

    Attributes
    ----------
    frames : int
        Frames that passed the CRC and header checks (``unknown`` ones included).
    crc_errors : int
        Chunks that failed COBS decoding, the length checks or the CRC.
    resyncs : int
        Times the decoder lost the frame boundary and discarded bytes up to the next
        0x00: one per run of consecutive bad chunks (garbage, a cut frame, line noise).
    dropped_frames : int
        Sum of the ``seq`` gaps between good frames.
    oversize : int
        Chunks longer than the longest possible frame, discarded without buffering them.
    unknown : int
        Good frames of a type this host does not know (returned as :class:`Unknown`).
    wrong_version : int
        Chunks with a good CRC but a protocol version other than 1 or 2 (skipped; the
        decoder's :attr:`FrameDecoder.unsupported_version` says which).
    reboots : int
        Sender restarts seen: a HELLO with ``seq == 0``, or ``seq`` going backwards.
    bytes_in : int
        Bytes fed.
    """

    frames: int = 0
    crc_errors: int = 0
    resyncs: int = 0
    dropped_frames: int = 0
    oversize: int = 0
    unknown: int = 0
    wrong_version: int = 0
    reboots: int = 0
    bytes_in: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return dataclasses.asdict(self)


class FrameDecoder:
    """Incremental decoder of the binary protocol.

    ``feed`` takes whatever bytes arrived and returns the frames they complete; a partial
    frame at the end waits for the next call. Bad bytes are counted in :attr:`stats`,
    never raised: a feed of garbage returns ``[]``. Memory is bounded: at most one
    maximum-size frame (2069 bytes) is held between calls.

    Parameters
    ----------
    batch_threshold : int
        A feed that completes at least this many chunks is decoded with the vectorised
        decoder, smaller ones chunk by chunk with the scalar reference (both give the same
        frames and counters). 0 forces the vectorised path; a huge value the scalar one.
    """

    def __init__(self, *, batch_threshold: int = 32) -> None:
        if batch_threshold < 0:
            raise ValueError(f"batch_threshold must be >= 0, got {batch_threshold!r}")
        self.batch_threshold = batch_threshold
        self.stats = DecoderStats()
        self._pending = bytearray()
        self._discarding = False
        self._in_sync = True
        self._last_seq: int | None = None
        #: the header version of the last frame refused for its version (None: none yet)
        self.unsupported_version: int | None = None

    def reset(self) -> None:
        """Forget the partial frame, the last ``seq`` and every counter (e.g. on reconnect)."""
        self.stats = DecoderStats()
        self._pending.clear()
        self._discarding = False
        self._in_sync = True
        self._last_seq = None
        self.unsupported_version = None

    @property
    def pending(self) -> int:
        """Bytes held back, waiting for the rest of their frame."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Decode the frames completed by ``data``.

        Parameters
        ----------
        data : bytes-like
            The next bytes of the stream, any length (0 included).

        Returns
        -------
        list of Frame
            The good frames, in stream order.
        """
        if not isinstance(data, bytes):
            data = bytes(data)
        self.stats.bytes_in += len(data)
        last = data.rfind(b"\x00")
        if last < 0:
            self._stash(data)
            return []
        if self._pending:
            self._pending += data[: last + 1]
            region = bytes(self._pending)
            self._pending.clear()
        else:
            region = data if last + 1 == len(data) else data[: last + 1]
        skip_first = self._discarding  # the rest of an oversize chunk, already counted
        self._discarding = False
        out: list[Frame] = []
        if region.count(0) >= self.batch_threshold:
            self._decode_batch(region, skip_first, out)
        else:
            self._decode_each(region, skip_first, out)
        if last + 1 < len(data):
            self._stash(data[last + 1 :])
        return out

    # -- internals ----------------------------------------------------------------------------

    def _stash(self, tail: bytes) -> None:
        if self._discarding:
            return
        if len(self._pending) + len(tail) > MAX_ENCODED:
            self._pending.clear()
            self._discarding = True
            self.stats.oversize += 1
            self._lost_sync()
        else:
            self._pending += tail

    def _lost_sync(self) -> None:
        if self._in_sync:
            self._in_sync = False
            self.stats.resyncs += 1

    def _bad_chunk(self) -> None:
        self.stats.crc_errors += 1
        self._lost_sync()

    def _decode_each(self, region: bytes, skip_first: bool, out: list[Frame]) -> None:
        chunks = region.split(b"\x00")
        chunks.pop()  # region ends with 0x00
        for k, chunk in enumerate(chunks):
            if not chunk or (k == 0 and skip_first):
                continue
            if len(chunk) > MAX_ENCODED:
                self.stats.oversize += 1
                self._lost_sync()
                continue
            try:
                raw = cobs_decode(chunk)
            except ProtocolError:
                self._bad_chunk()
                continue
            self._accept(raw, out)

    def _decode_batch(self, region: bytes, skip_first: bool, out: list[Frame]) -> None:
        buf = np.frombuffer(region, dtype=np.uint8)
        ends = np.flatnonzero(buf == 0)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        lengths = ends - starts
        take = (lengths > 0) & (lengths <= MAX_ENCODED)
        if skip_first:
            take[0] = False
        picked = np.flatnonzero(take)
        valid, decoded, has_full = cobs_decode_many(buf, starts[picked], ends[picked])
        valid_l = valid.tolist()
        full_l = has_full.tolist()
        starts_l = starts.tolist()
        ends_l = ends.tolist()
        j = 0
        for k, length in enumerate(lengths.tolist()):
            if length == 0 or (k == 0 and skip_first):
                continue
            if length > MAX_ENCODED:
                self.stats.oversize += 1
                self._lost_sync()
                continue
            ok, full = valid_l[j], full_l[j]
            j += 1
            if not ok:
                self._bad_chunk()
                continue
            s, e = starts_l[k], ends_l[k]
            self._accept(cobs_decode(region[s:e]) if full else decoded[s + 1 : e], out)

    def _accept(self, raw: bytes, out: list[Frame]) -> None:
        frame = _parse(raw)
        if not isinstance(frame, Frame):
            if frame == _VERSION:
                self.stats.wrong_version += 1
                self.unsupported_version = raw[0]
            else:
                self._bad_chunk()
            return
        stats = self.stats
        stats.frames += 1
        self._in_sync = True
        body = frame.body
        if type(body) is Unknown:
            stats.unknown += 1
        seq = frame.seq
        last = self._last_seq
        if last is not None:
            if seq == 0 and type(body) is Hello:
                stats.reboots += 1
            else:
                gap = (seq - last) % _SEQ_MOD
                if gap >= _SEQ_HALF:
                    stats.reboots += 1  # went backwards: a restart whose HELLO was lost
                elif gap > 1:
                    stats.dropped_frames += gap - 1
        self._last_seq = seq
        out.append(frame)

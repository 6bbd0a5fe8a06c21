"""One decoder for whatever a sensor sends: binary frames or plain text lines.

:class:`StreamDecoder` looks at the first bytes, decides once whether the stream is binary
(a 0x00 appears: every binary frame ends with one) or ASCII (two sample lines and no 0x00,
or more bytes than the longest binary frame without any 0x00), then delegates. In ASCII
mode it wraps each feed's rows in ``Frame(seq=n, body=Samples(t_us=estimated, ...))`` so a
consumer handles both kinds of sensor the same way; a refused line that took a sample slot
(one after the first good line: ``nan``, a cut line, garbage) becomes
``Frame(seq=n, body=Unknown(type=0, payload=line))`` in its place, so a consumer knows
exactly where one sample is missing.

A detected (not forced) text stream is re-examined until its first good sample line: a
sensor that prints more boot text than the longest binary frame, pauses, then sends binary
frames was taken for text, so a 0x00 arriving then switches the decoder to binary for good.
Decoding starts at the frame that 0x00 ends (found among the bytes after each newline of
the last 2070 bytes); the text before it is counted in :attr:`StreamDecoder.skipped_bytes`.
"""

from __future__ import annotations

import time
from typing import Literal

from vibration.errors import ProtocolError
from vibration.protocol.ascii_stream import AsciiDecoder, AsciiStats, RateEstimate
from vibration.protocol.cobs import cobs_decode
from vibration.protocol.decoder import DecoderStats, FrameDecoder
from vibration.protocol.frames import MAX_AXES, MAX_ENCODED, Frame, Samples, Unknown, _parse

__all__ = ["Mode", "StreamDecoder"]

Mode = Literal["binary", "ascii"]
_SEPARATORS = bytes.maketrans(b",;\t\r", b"    ")


class StreamDecoder:
    """Auto-detecting decoder: binary protocol or one-sample-per-line text.

    Parameters
    ----------
    mode : "binary", "ascii" or None
        Force a mode; None detects it from the first bytes (and switches from text to
        binary if a 0x00 arrives before the first good sample line, module docstring).
    axes : int or None
        ASCII mode: values per line, None to learn them (:class:`AsciiDecoder`).
    decimal_scale : float
        ASCII mode: units per count of decimal streams (:class:`AsciiDecoder`).
    """

    def __init__(
        self,
        *,
        mode: Mode | None = None,
        axes: int | None = None,
        decimal_scale: float = 1e-3,
    ) -> None:
        if mode not in (None, "binary", "ascii"):
            raise ValueError(f"mode must be None, 'binary' or 'ascii', got {mode!r}")
        AsciiDecoder(axes, decimal_scale=decimal_scale)  # validate the arguments now
        self._axes = axes
        self._decimal_scale = decimal_scale
        self.mode: Mode | None = None
        self._binary: FrameDecoder | None = None
        self._ascii: AsciiDecoder | None = None
        self._probe: list[tuple[bytes, float]] = []
        self._probe_len = 0
        self._seq = 0
        self._redetect = mode is None
        self._recent = b""  # text mode, before the first sample line: the last bytes
        #: bytes of text skipped when a stream first taken for text turned out binary
        self.skipped_bytes = 0
        if mode is not None:
            self._start(mode)

    @property
    def decoder(self) -> FrameDecoder | AsciiDecoder | None:
        """The decoder the stream was handed to; None while the mode is unknown."""
        return self._binary if self._binary is not None else self._ascii

    @property
    def stats(self) -> DecoderStats | AsciiStats:
        """The delegate's counters; before detection, empty ones with ``bytes_in``."""
        if self._binary is not None:
            return self._binary.stats
        if self._ascii is not None:
            return self._ascii.stats
        return DecoderStats(bytes_in=self._probe_len)

    def rate_estimate(self) -> RateEstimate | None:
        """ASCII mode: the estimated sample rate (:meth:`AsciiDecoder.rate_estimate`)."""
        return self._ascii.rate_estimate() if self._ascii is not None else None

    def feed(
        self, data: bytes | bytearray | memoryview, t_arrival: float | None = None
    ) -> list[Frame]:
        """Decode what ``data`` completes.

        Parameters
        ----------
        data : bytes-like
            The next bytes of the stream.
        t_arrival : float or None
            When they arrived (``time.monotonic()`` seconds); None reads the clock now.
            Only ASCII mode uses it.

        Returns
        -------
        list of Frame
            Binary mode: the decoded frames. ASCII mode: the good lines as SAMPLES frames
            (one per run of good lines of this feed, ``t_us`` estimated from arrival
            times), with an ``Unknown(0, line)`` frame for each refused line between
            them; ``seq`` counts these frames from 0. Empty while the mode is still being
            detected.
        """
        t = time.monotonic() if t_arrival is None else t_arrival
        if self.mode is None:
            chunk = bytes(data)
            self._probe.append((chunk, t))
            self._probe_len += len(chunk)
            mode = self._detect()
            if mode is None:
                return []
            self._start(mode)
            probe, self._probe, self._probe_len = self._probe, [], 0
            out: list[Frame] = []
            for chunk, tc in probe:
                out += self._feed(chunk, tc)
            return out
        return self._feed(data, t)

    # -- internals ----------------------------------------------------------------------------

    def _start(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "binary":
            self._binary = FrameDecoder()
        else:
            self._ascii = AsciiDecoder(self._axes, decimal_scale=self._decimal_scale)

    def _feed(self, data: bytes | bytearray | memoryview, t: float) -> list[Frame]:
        if self._binary is not None:
            return self._binary.feed(data)
        ascii_ = self._ascii
        assert ascii_ is not None
        if self._redetect:
            if ascii_.stats.lines:
                self._redetect, self._recent = False, b""  # a text sensor after all
            else:
                data = bytes(data)
                if b"\x00" in data:
                    return self._switch_to_binary(data)
                self._recent = (self._recent + data)[-(MAX_ENCODED + 1) :]
        rows = ascii_.feed(data, t)
        out: list[Frame] = []
        start = 0  # rows before it are in frames already
        slots = 0  # sample slots (rows and refused lines) before row ``start``
        for at, line in [*ascii_.last_refused, (len(rows), b"")]:
            if at > start:
                t_us = ascii_.last_t_us + round(slots * ascii_.last_period_us)
                out.append(Frame(self._seq, Samples(t_us, rows[start:at])))
                self._seq += 1
                slots += at - start
                start = at
            if line:
                out.append(Frame(self._seq, Unknown(0, line)))
                self._seq += 1
                slots += 1
        return out

    def _switch_to_binary(self, data: bytes) -> list[Frame]:
        assert self._ascii is not None
        buf = self._recent + data
        before = buf[: buf.index(0)]
        starts = [0, *(i + 1 for i, b in enumerate(before) if b == 0x0A)]
        start = next((s for s in starts if _is_frame(before[s:])), starts[-1])
        self.skipped_bytes = self._ascii.stats.bytes_in + len(data) - (len(buf) - start)
        self._ascii, self._recent, self._redetect = None, b"", False
        self._start("binary")
        assert self._binary is not None
        return self._binary.feed(buf[start:])

    def _detect(self) -> Mode | None:
        if any(b"\x00" in chunk for chunk, _ in self._probe):
            return "binary"
        if self._probe_len > MAX_ENCODED + 1:
            return "ascii"  # longer than any binary frame, and no delimiter
        lines = b"".join(chunk for chunk, _ in self._probe).split(b"\n")[1:-1]  # whole lines
        rows = [t for t in (line.translate(_SEPARATORS).split() for line in lines) if t]
        if len(rows) >= 2 and len(rows[-1]) == len(rows[-2]) and all(map(_numeric, rows[-2:])):
            return "ascii"
        return None


def _is_frame(chunk: bytes) -> bool:
    if not chunk:
        return False
    try:
        return isinstance(_parse(cobs_decode(chunk)), Frame)
    except ProtocolError:
        return False


def _numeric(tokens: list[bytes]) -> bool:
    if len(tokens) > MAX_AXES:
        return False
    try:
        for tok in tokens:
            float(tok)
    except ValueError:
        return False
    return True

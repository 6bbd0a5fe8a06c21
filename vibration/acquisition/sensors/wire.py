"""A device's byte stream, made in software: HELLO and SAMPLES frames (or ASCII lines),
with seeded line impairments.

:meth:`VirtualSensor.chunks` yields :class:`WireChunk` objects: wire bytes plus the device
time at which they are ready. Pure, no I/O, no clock: tests use it without a pty.
:meth:`VirtualSensor.run` paces them onto a link with
:class:`~vibration.acquisition.sensors.pump.SensorPump`.

Line impairments (seeded, SAMPLES frames only, so a receiver always learns the link settings
from the HELLOs): a fraction ``corrupt`` of the frames has 1 to 3 bits flipped after the
8-byte header before COBS encoding, so each one reaches the receiver as exactly one frame
that fails its CRC (CRC-32 catches every 1-3 bit error); a fraction ``drop`` is lost whole.
One draw per frame decides: ``u < drop`` drops, ``u < drop + corrupt`` corrupts. A receiver
therefore counts ``crc_errors == frames_corrupted`` and, from the ``seq`` gaps,
``dropped_frames == frames_corrupted + frames_dropped + frames_overflow``, except for losses
at the very end of the stream, which no later frame reveals.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from vibration.acquisition.sensors.pump import RunOptions, SensorReport, run_paced
from vibration.acquisition.sensors.sources import SampleSource, _fraction
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import (
    HEADER_SIZE,
    MAX_ENCODED,
    MAX_SAMPLE_VALUES,
    Body,
    Hello,
    Samples,
    cobs_encode,
    encode_frame,
    pack_frame,
)
from vibration.validation import is_int

__all__ = ["Scorer", "VirtualSensor", "VirtualSensorConfig", "WireChunk"]

Encoding = Literal["binary", "ascii"]
Fate = Literal["ok", "corrupt", "drop"]
_ENCODINGS = ("binary", "ascii")
_U32 = 1 << 32


def _ascii_id(name: str, value: str, size: int) -> None:
    if not isinstance(value, str) or not value.isascii() or not 0 < len(value) <= size:
        raise ValueError(f"{name} must be 1..{size} ASCII characters, got {value!r}")


@dataclass(frozen=True)
class VirtualSensorConfig:
    """How a virtual sensor talks (what it measures comes from its :class:`SampleSource`).

    Attributes
    ----------
    sensor_id : str
        HELLO ``device_id``, 1..16 ASCII characters.
    firmware_version : str
        HELLO ``firmware_version``, 1..16 ASCII characters.
    samples_per_frame : int
        Samples per axis in one SAMPLES frame (``samples_per_frame * axes <= 1018``); in
        ASCII mode, lines written at once.
    hello_interval_s : float
        Device seconds between HELLOs (> 0); the first one is sent at boot.
    encoding : {"binary", "ascii"}
        tinypdm frames, or one text line per sample (``12`` or ``12,-40,1020``).
    corrupt : float
        Fraction of SAMPLES frames corrupted on the line (bits flipped: CRC fails), 0..1.
    drop : float
        Fraction of SAMPLES frames lost whole on the line, 0..1 (``corrupt + drop <= 1``).
    seed : int
        Seeds the impairments (>= 0).
    tx_buffer_bytes : int
        The sensor's transmit buffer: frames wait here while the pty is full; a frame
        that does not fit is dropped whole (overflow). At least one maximum frame (2070).
    model_sha256 : bytes
        HELLO ``model_sha256``: the SHA-256 of the model the sensor scores with (32
        bytes), or empty for none.
    """

    sensor_id: str = "vsensor-1"
    firmware_version: str = "tinypdm-sim-1"
    samples_per_frame: int = 256
    hello_interval_s: float = 10.0
    encoding: Encoding = "binary"
    corrupt: float = 0.0
    drop: float = 0.0
    seed: int = 0
    tx_buffer_bytes: int = 1 << 18
    model_sha256: bytes = b""

    def __post_init__(self) -> None:
        if len(self.model_sha256) not in (0, 32):
            raise ValueError(f"model_sha256 must be 32 bytes or empty, got {self.model_sha256!r}")
        _ascii_id("sensor_id", self.sensor_id, 16)
        _ascii_id("firmware_version", self.firmware_version, 16)
        spf = self.samples_per_frame
        if not is_int(spf) or not 1 <= spf <= MAX_SAMPLE_VALUES:
            raise ValueError(f"samples_per_frame must be in 1..{MAX_SAMPLE_VALUES}, got {spf!r}")
        hi = self.hello_interval_s
        if not (isinstance(hi, int | float) and math.isfinite(hi) and hi > 0):
            raise ValueError(f"hello_interval_s must be > 0, got {hi!r}")
        if self.encoding not in _ENCODINGS:
            raise ValueError(f"encoding must be one of {_ENCODINGS}, got {self.encoding!r}")
        _fraction("corrupt", self.corrupt)
        _fraction("drop", self.drop)
        if self.corrupt + self.drop > 1.0:
            raise ValueError(f"corrupt + drop must be <= 1, got {self.corrupt + self.drop!r}")
        if self.encoding == "ascii" and (self.corrupt or self.drop):
            raise ValueError("corrupt and drop apply to the binary protocol only")
        if not is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        tx = self.tx_buffer_bytes
        if not is_int(tx) or tx < MAX_ENCODED + 1:
            raise ValueError(f"tx_buffer_bytes must be >= {MAX_ENCODED + 1}, got {tx!r}")


class Scorer(Protocol):
    """Hook for on-board scoring (a later firmware issue): sees every block of samples.

    Called with each SAMPLES block (int16, shape (n, axes)) and the device time of its
    last sample; returns the frame bodies (e.g. :class:`~vibration.protocol.Score`) to send
    right after that block. A sensor with a scorer sets HELLO flag bit 0.
    """

    def __call__(self, samples: np.ndarray, t_us_last: int) -> Sequence[Body]: ...


def _scorer_flush(scorer: Scorer | None) -> Sequence[Body]:
    """Results a scorer still holds at the end of a run (its optional ``flush()``).

    A scorer that pipelines its work (the QEMU firmware keeps several frames in flight)
    returns late results from ``flush``; one without that method holds nothing back.
    """
    flush = getattr(scorer, "flush", None)
    return list(flush()) if callable(flush) else []


@dataclass(frozen=True)
class WireChunk:
    """Bytes a sensor puts on the line at one moment.

    Attributes
    ----------
    data : bytes
        Wire bytes (a COBS frame with its 0x00, or text lines); ``b""`` for a dropped frame.
    kind : str
        ``"hello"``, ``"samples"``, ``"score"``, ``"text"`` or ``"lines"`` (ASCII mode).
    seq : int or None
        Frame counter (None in ASCII mode).
    n_samples : int
        Samples per axis carried (0 for HELLO/SCORE).
    due_s : float
        Device time (seconds since boot) at which the chunk is ready to send: the end of
        its last sample period.
    fate : {"ok", "corrupt", "drop"}
        What the line does to it.
    """

    data: bytes
    kind: str
    seq: int | None
    n_samples: int
    due_s: float
    fate: Fate = "ok"


class VirtualSensor:
    """A device that streams its source's samples as tinypdm frames (or ASCII lines).

    Parameters
    ----------
    config : VirtualSensorConfig
    source : SampleSource
    scorer : Scorer, optional
        On-board scoring hook; its bodies follow each SAMPLES frame.

    Examples
    --------
    >>> from vibration.data.simulator import SimulatorConfig
    >>> sensor = VirtualSensor(VirtualSensorConfig(), SimulatedSource(SimulatorConfig()))
    >>> first = next(sensor.chunks())
    >>> first.kind, first.seq
    ('hello', 0)
    """

    def __init__(
        self,
        config: VirtualSensorConfig,
        source: SampleSource,
        *,
        scorer: Scorer | None = None,
    ) -> None:
        if not isinstance(config, VirtualSensorConfig):
            raise ValueError(f"config must be a VirtualSensorConfig, got {config!r}")
        if config.samples_per_frame * source.axes > MAX_SAMPLE_VALUES:
            raise ValueError(
                f"samples_per_frame * axes must be <= {MAX_SAMPLE_VALUES}, got "
                f"{config.samples_per_frame} * {source.axes}"
            )
        self.config = config
        self.source = source
        self.scorer = scorer
        self._rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5E45]))
        self._seq = 0
        self._sample_index = 0  # samples per axis emitted so far
        self._next_hello_s = 0.0
        self._ended = False

    @property
    def hello(self) -> Hello:
        """The HELLO this sensor sends."""
        flags = Hello.FLAG_STREAMS | (Hello.FLAG_SCORES if self.scorer is not None else 0)
        return Hello(
            axes=self.source.axes,
            flags=flags,
            samples_per_frame=self.config.samples_per_frame,
            sample_rate_hz=self.source.sample_rate,
            scale=self.source.scale,
            units=self.source.units[:8],
            device_id=self.config.sensor_id,
            firmware_version=self.config.firmware_version,
            model_sha256=self.config.model_sha256 or bytes(32),
        )

    @property
    def samples_emitted(self) -> int:
        """Samples per axis turned into chunks so far."""
        return self._sample_index

    def request_hello(self) -> None:
        """Send a HELLO before the next SAMPLES frame (then every interval from there).

        The pump calls it when a reader connects, so that a capture started while the
        sensor runs learns the link settings at once instead of within 10 s.
        """
        self._next_hello_s = self._sample_index / self.source.sample_rate

    @property
    def ended(self) -> bool:
        """True once a finite source is exhausted."""
        return self._ended

    def _take_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) % _U32
        return seq

    def chunks(self, max_samples: int | None = None) -> Iterator[WireChunk]:
        """The sensor's output, chunk by chunk, from where it stopped last time.

        Parameters
        ----------
        max_samples : int, optional
            Stop after this many more samples per axis (rounded up to whole frames).

        Yields
        ------
        WireChunk
            In sending order, ``due_s`` non-decreasing.
        """
        cfg = self.config
        rate = self.source.sample_rate
        budget = math.inf if max_samples is None else max_samples
        produced = 0
        while produced < budget and not self._ended:
            t_s = self._sample_index / rate
            if cfg.encoding == "binary" and t_s >= self._next_hello_s:
                seq = self._take_seq()
                yield WireChunk(encode_frame(seq, self.hello), "hello", seq, 0, t_s)
                while self._next_hello_s <= t_s:
                    self._next_hello_s += cfg.hello_interval_s
            block = self.source.read(cfg.samples_per_frame)
            n = len(block)
            if n == 0:
                self._ended = True
                return
            first = self._sample_index
            self._sample_index += n
            produced += n
            due = self._sample_index / rate
            if cfg.encoding == "ascii":
                yield WireChunk(_ascii_lines(block), "lines", None, n, due)
                continue
            t_us = round(first * 1e6 / rate)
            seq = self._take_seq()
            yield self._samples_chunk(seq, Samples(t_us, block), n, due)
            if self.scorer is not None:
                t_last = round((self._sample_index - 1) * 1e6 / rate)
                for body in self.scorer(block, t_last):
                    extra_seq = self._take_seq()
                    kind = type(body).__name__.lower()
                    yield WireChunk(encode_frame(extra_seq, body), kind, extra_seq, 0, due)

    def final_chunks(self) -> Iterator[WireChunk]:
        """Frames the scorer still held back at the end of a run (sent before the drain)."""
        due = self._sample_index / self.source.sample_rate
        for body in _scorer_flush(self.scorer):
            seq = self._take_seq()
            yield WireChunk(encode_frame(seq, body), type(body).__name__.lower(), seq, 0, due)

    def _samples_chunk(self, seq: int, body: Samples, n: int, due: float) -> WireChunk:
        cfg = self.config
        u = float(self._rng.random()) if (cfg.corrupt or cfg.drop) else 1.0
        if u < cfg.drop:
            return WireChunk(b"", "samples", seq, n, due, "drop")
        if u < cfg.drop + cfg.corrupt:
            raw = bytearray(pack_frame(seq, body))
            for pos in self._rng.choice(
                np.arange(HEADER_SIZE, len(raw)), size=int(self._rng.integers(1, 4)), replace=False
            ):
                raw[int(pos)] ^= 1 << int(self._rng.integers(0, 8))
            return WireChunk(cobs_encode(bytes(raw)) + b"\x00", "samples", seq, n, due, "corrupt")
        return WireChunk(encode_frame(seq, body), "samples", seq, n, due)

    def run(
        self,
        link: PtyLink,
        options: RunOptions | None = None,
        *,
        progress_every_s: float = 0.5,
    ) -> SensorReport:
        """Stream to ``link`` in real time until ``options.seconds``, the end of the source,
        or ``options.stop_event``.

        Parameters
        ----------
        link : PtyLink
        options : RunOptions, optional
            Duration, stop event, reader wait, drain timeout, progress callback
            (``on_start`` is not used here: the link exists already). Default: endless.
        progress_every_s : float
            Seconds between ``options.on_progress`` calls.

        Returns
        -------
        SensorReport
        """
        return run_paced(self, link, options, progress_every_s=progress_every_s)


def _ascii_lines(block: np.ndarray) -> bytes:
    if block.shape[1] == 1:
        return ("\n".join(map(str, block[:, 0].tolist())) + "\n").encode("ascii")
    return ("".join(",".join(map(str, row)) + "\n" for row in block.tolist())).encode("ascii")

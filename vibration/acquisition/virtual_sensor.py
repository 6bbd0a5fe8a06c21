"""Virtual sensors: a device's byte stream, made in software and paced in real time.

A :class:`VirtualSensor` turns a :class:`SampleSource` (the bearing simulator, or a replayed
recording) into the bytes a tinypdm device would send: a HELLO at boot and every
``hello_interval_s`` of device time, SAMPLES frames of ``samples_per_frame`` samples, each
stamped with the device time of its first sample. Or, with ``encoding="ascii"``, the lines
a ten-line Arduino sketch prints (no HELLO, no clock).

Two layers, so that one process can run many sensors (threads or one event loop):

* :meth:`VirtualSensor.chunks` yields :class:`WireChunk` objects: wire bytes plus the device
  time at which they are ready. Pure, no I/O, no clock: tests use it without a pty.
* :class:`SensorPump` delivers those chunks to a
:class:`~vibration.acquisition.serial_link.PtyLink` in
  real time without ever blocking (:meth:`SensorPump.step`), and keeps the books
  (:class:`SensorReport`). :meth:`VirtualSensor.run` is the blocking loop around it.

Line impairments (seeded, SAMPLES frames only, so a receiver always learns the link settings
from the HELLOs): a fraction ``corrupt`` of the frames has 1 to 3 bits flipped after the
8-byte header before COBS encoding, so each one reaches the receiver as exactly one frame
that fails its CRC (CRC-32 catches every 1-3 bit error); a fraction ``drop`` is lost whole.
One draw per frame decides: ``u < drop`` drops, ``u < drop + corrupt`` corrupts. A receiver
therefore counts ``crc_errors == frames_corrupted`` and, from the ``seq`` gaps,
``dropped_frames == frames_corrupted + frames_dropped + frames_overflow``, except for losses
at the very end of the stream, which no later frame reveals.

Delivery, which never blocks and never lets the sensor fall behind its clock:

* a frame that comes due while no process holds the pty open is *unheard*: counted, not
  written (a sensor talking into an unplugged cable; no stale bytes pile up in the pty);
* a pty buffers only some 16-20 KiB; frames it cannot take yet wait in the sensor's TX
  backlog (``tx_buffer_bytes``, 256 KiB: about 5 s at 25.6 kHz). A frame that does not fit
  there (a reader that has stopped reading) is *overflowed*: dropped whole, so the byte
  stream stays frame-aligned and a reader that resumes sees a clean ``seq`` gap;
* a reader that connects while the sensor runs gets a HELLO 0.2 s later (like a board that
  greets when its port is opened), so it need not wait up to 10 s for the link settings;
* at the end, the sensor waits (``drain_timeout``) until the reader has taken every byte:
  closing a pty's master discards what is still queued for the reader.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from vibration.acquisition.serial_link import PtyLink
from vibration.data.simulator import BearingSimulator, SimulatorConfig
from vibration.errors import DatasetError
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

__all__ = [
    "ArraySource",
    "DevelopingFaultSource",
    "SampleSource",
    "Scorer",
    "SensorPump",
    "SensorReport",
    "SimulatedSource",
    "VirtualSensor",
    "VirtualSensorConfig",
    "WireChunk",
    "load_replay",
    "run_on_pty",
]

Encoding = Literal["binary", "ascii"]
Fate = Literal["ok", "corrupt", "drop"]
_ENCODINGS = ("binary", "ascii")
_U32 = 1 << 32


def _fraction(name: str, value: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


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
        if isinstance(spf, bool) or not isinstance(spf, int) or not 1 <= spf <= MAX_SAMPLE_VALUES:
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
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        tx = self.tx_buffer_bytes
        if isinstance(tx, bool) or not isinstance(tx, int) or tx < MAX_ENCODED + 1:
            raise ValueError(f"tx_buffer_bytes must be >= {MAX_ENCODED + 1}, got {tx!r}")


# --------------------------------------------------------------------------- sources


class SampleSource(Protocol):
    """Where a virtual sensor's samples come from.

    Attributes ``sample_rate`` (Hz), ``axes``, ``scale`` (units per LSB) and ``units``
    describe the stream; :meth:`read` returns the next samples.
    """

    sample_rate: float
    axes: int
    scale: float
    units: str

    def read(self, n: int) -> np.ndarray:
        """Up to ``n`` next samples, int16 of shape (m, axes); m == 0 only at the end."""
        ...


class SimulatedSource:
    """Endless samples from the :class:`~vibration.data.simulator.BearingSimulator`.

    Generates ahead in blocks of ``block`` samples (cheaper than many small calls; the
    simulator's output does not depend on how it is sliced).

    Parameters
    ----------
    config : SimulatorConfig
    block : int
        Samples per axis generated at once.
    """

    def __init__(self, config: SimulatorConfig, block: int = 8192) -> None:
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise ValueError(f"block must be a positive integer, got {block!r}")
        self.config = config
        self.sample_rate = float(config.sample_rate)
        self.axes = config.axes
        self.scale = float(config.scale)
        self.units = config.units
        self._sim = BearingSimulator(config)
        self._block = block
        self._buf = np.empty((0, config.axes), dtype=np.int16)
        self._pos = 0

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples, int16 of shape (n, axes)."""
        if self._pos + n > len(self._buf):
            rest = self._buf[self._pos :]
            fresh = self._sim.generate_int16(max(self._block, n - len(rest)))
            self._buf = np.concatenate([rest, fresh]) if len(rest) else fresh
            self._pos = 0
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out


class DevelopingFaultSource(SimulatedSource):
    """A bearing that is healthy at first and then develops the configured fault.

    Severity is 0 for ``onset_s`` device seconds, then rises linearly to ``final_severity``
    over ``ramp_s`` seconds and stays there (the simulator's :meth:`set_severity`, applied
    at each generated block). ``config.fault`` names the defect; ``config.severity`` is
    ignored.

    Parameters
    ----------
    config : SimulatorConfig
    onset_s, ramp_s : float
        When the defect appears, and how long it takes to reach ``final_severity``.
    final_severity : float
        0..1.
    block : int
        Samples per axis generated at once (the severity steps at this granularity).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        onset_s: float,
        ramp_s: float,
        final_severity: float = 0.8,
        block: int = 1024,
    ) -> None:
        if config.fault == "none":
            raise ValueError("a developing fault needs config.fault other than 'none'")
        if not (math.isfinite(onset_s) and onset_s >= 0):
            raise ValueError(f"onset_s must be >= 0, got {onset_s!r}")
        if not (math.isfinite(ramp_s) and ramp_s > 0):
            raise ValueError(f"ramp_s must be > 0, got {ramp_s!r}")
        _fraction("final_severity", final_severity)
        super().__init__(config, block=block)
        self.onset_s = float(onset_s)
        self.ramp_s = float(ramp_s)
        self.final_severity = float(final_severity)
        self._sim.set_severity(self.severity_at(0.0))

    def severity_at(self, t_s: float) -> float:
        """The fault severity at device time ``t_s`` seconds."""
        progress = min(1.0, max(0.0, (t_s - self.onset_s) / self.ramp_s))
        return self.final_severity * progress

    def read(self, n: int) -> np.ndarray:
        self._sim.set_severity(self.severity_at(self._sim.samples_generated / self.sample_rate))
        return super().read(n)


class ArraySource:
    """Samples from an int16 array (a replayed recording), once or looped.

    Parameters
    ----------
    samples : ndarray of int16, shape (n, axes)
    sample_rate, scale : float
    units : str
    loop : bool
        Start again at the end instead of stopping.
    """

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate: float,
        scale: float,
        units: str = "g",
        *,
        loop: bool = False,
    ) -> None:
        arr = np.asarray(samples)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.dtype != np.int16 or arr.ndim != 2 or arr.shape[0] == 0:
            raise ValueError(
                f"samples must be non-empty int16 of shape (n, axes), got {arr.dtype} {arr.shape}"
            )
        if not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")
        self.samples = arr
        self.sample_rate = float(sample_rate)
        self.axes = int(arr.shape[1])
        self.scale = float(scale)
        self.units = units
        self.loop = loop
        self._pos = 0

    def read(self, n: int) -> np.ndarray:
        """Up to ``n`` next samples; fewer at the end (then none), unless looping."""
        if not self.loop:
            out = self.samples[self._pos : self._pos + n]
            self._pos += len(out)
            return out
        total = len(self.samples)
        index = (self._pos + np.arange(n)) % total
        self._pos = (self._pos + n) % total
        return self.samples[index]


def load_replay(
    path: str | Path, *, rate: float | None = None, loop: bool = False
) -> tuple[ArraySource, dict[str, Any]]:
    """A source that replays a recording directory or a file the importers read.

    Parameters
    ----------
    path : path
        A recording directory (``meta.json`` + ``samples.i16``), or a CWRU ``.mat``, CSV,
        WAV or NPY file (:func:`vibration.data.importers.read_signal`).
    rate : float, optional
        Resample to this rate (Hz); default: the recording's own rate.
    loop : bool
        Replay endlessly.

    Returns
    -------
    source : ArraySource
    info : dict
        ``source`` (the path), ``label`` and ``units`` as the recording or file tells.

    Raises
    ------
    DatasetError
        Unreadable recording or file.
    """
    from vibration.data.dataset import open_recording, quantize

    p = Path(path)
    if p.is_dir():
        rec = open_recording(p)
        meta = rec.meta
        if rate is None or math.isclose(rate, meta.sample_rate, rel_tol=1e-9):
            q = np.array(rec.samples())
            scale, src_rate = meta.scale, meta.sample_rate
        else:
            q, scale = quantize(_resample(np.asarray(rec.physical()), meta.sample_rate, rate))
            src_rate = rate
        units, label = meta.units, meta.label
    else:
        from vibration.data.importers import read_signal

        sig = read_signal(p, rate=rate)
        q, scale = quantize(np.asarray(sig.samples))
        src_rate, units, label = float(sig.sample_rate), sig.units, sig.label
    if q.ndim == 1:
        q = q[:, None]
    if q.shape[0] == 0:
        raise DatasetError(f"nothing to replay in {str(p)!r}: no samples")
    source = ArraySource(q, src_rate, scale, units, loop=loop)
    return source, {"source": str(p), "label": label, "units": units}


def _resample(x: np.ndarray, src: float, dst: float) -> np.ndarray:
    """Polyphase resampling of (n, axes) from ``src`` to ``dst`` Hz (rational approximation)."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(dst / src).limit_denominator(1000)
    if ratio.numerator == 0:
        raise ValueError(f"cannot resample {src!r} Hz to {dst!r} Hz")
    return np.asarray(resample_poly(x, ratio.numerator, ratio.denominator, axis=0))


# --------------------------------------------------------------------------- the sensor


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
        *,
        seconds: float | None = None,
        stop_event: threading.Event | None = None,
        wait_reader: float | None = None,
        drain_timeout: float = 2.0,
        on_progress: Callable[[SensorReport], None] | None = None,
        progress_every_s: float = 0.5,
    ) -> SensorReport:
        """Stream to ``link`` in real time until ``seconds``, the end of the source, or stop.

        Parameters
        ----------
        link : PtyLink
        seconds : float, optional
            Device seconds to stream: ``ceil(seconds * rate / samples_per_frame)`` frames.
            None: until ``stop_event`` is set (or a finite source ends).
        stop_event : threading.Event, optional
            Set it (from a signal handler or another thread) for a clean stop.
        wait_reader : float, optional
            Boot only once a reader has held the link open for this many seconds (so the
            reader's own flush at open cannot swallow the first frames); None: boot at once.
        drain_timeout : float
            At the end, wait up to this long for the reader to take every byte.
        on_progress : callable, optional
            Called with the running report every ``progress_every_s``.

        Returns
        -------
        SensorReport
        """
        stop = stop_event if stop_event is not None else threading.Event()
        if wait_reader is not None and not _wait_for_reader(link, wait_reader, stop):
            return SensorReport()
        pump = SensorPump(self, link, seconds=seconds)
        next_report = time.monotonic() + progress_every_s
        while not stop.is_set():
            now = time.monotonic()
            wake = pump.step(now)
            if wake is None:
                break
            if on_progress is not None and now >= next_report:
                on_progress(pump.report)
                next_report = now + progress_every_s
            stop.wait(max(0.0, wake - time.monotonic()))
        return pump.finish(drain_timeout)


def _wait_for_reader(link: PtyLink, settle: float, stop: threading.Event) -> bool:
    since: float | None = None
    while not stop.is_set():
        now = time.monotonic()
        if link.has_reader():
            since = now if since is None else since
            if now - since >= settle:
                return True
        else:
            since = None
        stop.wait(0.01)
    return False


def _ascii_lines(block: np.ndarray) -> bytes:
    if block.shape[1] == 1:
        return ("\n".join(map(str, block[:, 0].tolist())) + "\n").encode("ascii")
    return ("".join(",".join(map(str, row)) + "\n" for row in block.tolist())).encode("ascii")


# --------------------------------------------------------------------------- delivery


@dataclass
class SensorReport:
    """The books of one virtual sensor run.

    "Sent" means produced for the line while a reader was attached; the line then damages
    (``corrupted``) or loses (``dropped``) some frames, and a reader that does not keep up
    loses others (``overflow``). A receiver gets ``samples_delivered`` samples.

    Attributes
    ----------
    frames_sent, samples_sent : int
        All frame types / samples per axis emitted while heard (corrupted, dropped and
        overflowed ones included).
    frames_corrupted, samples_corrupted : int
        SAMPLES frames sent with flipped bits (each fails the receiver's CRC once).
    frames_dropped, samples_dropped : int
        SAMPLES frames the line lost whole (never written).
    frames_overflow, samples_overflow : int
        Frames not written because the TX backlog was full (the reader stopped reading).
    frames_unheard, samples_unheard : int
        Frames that came due while nobody held the link open (not written, not "sent").
    hellos_sent : int
    bytes_written : int
    device_seconds : float
        Device time covered (samples emitted / rate).
    wall_seconds : float
        Wall time from boot to the end of the drain.
    drained : bool
        The reader took every byte before the link closed.
    """

    frames_sent: int = 0
    samples_sent: int = 0
    frames_corrupted: int = 0
    samples_corrupted: int = 0
    frames_dropped: int = 0
    samples_dropped: int = 0
    frames_overflow: int = 0
    samples_overflow: int = 0
    frames_unheard: int = 0
    samples_unheard: int = 0
    hellos_sent: int = 0
    bytes_written: int = 0
    device_seconds: float = 0.0
    wall_seconds: float = 0.0
    drained: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def samples_delivered(self) -> int:
        """Samples per axis a receiver can decode."""
        lost = self.samples_corrupted + self.samples_dropped + self.samples_overflow
        return self.samples_sent - lost

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (adds ``samples_delivered``)."""
        out = asdict(self)
        extra = out.pop("extra")
        out["samples_delivered"] = self.samples_delivered
        out.update(extra)
        return out


class SensorPump:
    """Deliver one sensor's chunks to one link in real time, never blocking.

    Call :meth:`step` whenever convenient (at the latest by the time it returned); it
    writes every chunk that is due and returns when the next one will be. One thread or
    event loop can pump many sensors. :meth:`finish` drains and returns the report.

    Like a device's TX ring buffer, frames the pty cannot take yet wait in a backlog of
    at most ``config.tx_buffer_bytes``; a frame that would not fit is dropped whole
    (``frames_overflow``), so the stream stays frame-aligned and memory bounded.

    Parameters
    ----------
    sensor : VirtualSensor
    link : PtyLink
    seconds : float, optional
        Device seconds to stream (see :meth:`VirtualSensor.run`); None: endless.
    start : float, optional
        ``time.monotonic()`` of boot; default: now.
    """

    _RETRY_S = 0.002  # how soon to retry while the backlog waits for room in the pty
    #: a reader that connects mid-stream gets a HELLO after this many seconds
    GREET_AFTER_S = 0.2

    def __init__(
        self,
        sensor: VirtualSensor,
        link: PtyLink,
        *,
        seconds: float | None = None,
        start: float | None = None,
    ) -> None:
        if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self.sensor = sensor
        self.link = link
        self.report = SensorReport()
        self._start = time.monotonic() if start is None else start
        max_samples = None
        if seconds is not None:
            spf = sensor.config.samples_per_frame
            max_samples = math.ceil(seconds * sensor.source.sample_rate / spf) * spf
        self._chunks = sensor.chunks(max_samples)
        self._next: WireChunk | None = None
        self._backlog: deque[memoryview] = deque()
        self._backlog_bytes = 0
        self._done = False
        # A reader that connects mid-stream gets a HELLO once it has settled (its open()
        # flushes the input queue, which could swallow a HELLO sent at once).
        self._greeted = link.has_reader()
        self._reader_since: float | None = None

    @property
    def backlog_bytes(self) -> int:
        """Bytes waiting for room in the pty."""
        return self._backlog_bytes

    def _peek(self) -> WireChunk | None:
        if self._next is None and not self._done:
            self._next = next(self._chunks, None)
            if self._next is None:
                self._done = True
        return self._next

    def _write_backlog(self) -> None:
        backlog = self._backlog
        while backlog:
            head = backlog[0]
            written = self.link.write(head)
            self.report.bytes_written += written
            self._backlog_bytes -= written
            if written < len(head):
                backlog[0] = head[written:]
                return
            backlog.popleft()

    def step(self, now: float) -> float | None:
        """Deliver every chunk due by ``now`` (monotonic seconds).

        Returns
        -------
        float or None
            When to call again (monotonic seconds), None when the stream has ended.
        """
        self.link.discard_input()
        reader = self.link.has_reader()
        if self._backlog and not reader:
            self._backlog.clear()  # the reader left: what it did not take is lost
            self._backlog_bytes = 0
        self._greet(reader, now)
        self._write_backlog()
        while True:
            chunk = self._peek()
            if chunk is None:
                return None
            due = self._start + chunk.due_s
            if due > now:
                return min(due, now + self._RETRY_S) if self._backlog else due
            self._next = None
            self._deliver(chunk)

    def _greet(self, reader: bool, now: float) -> None:
        if not reader:
            self._greeted, self._reader_since = False, None
        elif not self._greeted:
            if self._reader_since is None:
                self._reader_since = now
            elif now - self._reader_since >= self.GREET_AFTER_S:
                self.sensor.request_hello()
                self._greeted = True

    def _deliver(self, chunk: WireChunk) -> None:
        r = self.report
        n = chunk.n_samples
        r.device_seconds = self.sensor.samples_emitted / self.sensor.source.sample_rate
        if not self.link.has_reader():
            r.frames_unheard += 1
            r.samples_unheard += n
            return
        r.frames_sent += 1
        r.samples_sent += n
        r.hellos_sent += chunk.kind == "hello"
        if chunk.fate == "drop":
            r.frames_dropped += 1
            r.samples_dropped += n
            return
        if self._backlog_bytes + len(chunk.data) > self.sensor.config.tx_buffer_bytes:
            r.frames_overflow += 1  # never reached the line (even if it was to be corrupted)
            r.samples_overflow += n
            return
        if chunk.fate == "corrupt":
            r.frames_corrupted += 1
            r.samples_corrupted += n
        self._backlog.append(memoryview(chunk.data))
        self._backlog_bytes += len(chunk.data)
        self._write_backlog()

    def finish(self, drain_timeout: float = 2.0) -> SensorReport:
        """Send what the scorer held back, write the backlog, wait for the reader to take
        every byte, return the report."""
        for chunk in self.sensor.final_chunks():
            self._deliver(chunk)
        deadline = time.monotonic() + drain_timeout
        while self._backlog and time.monotonic() < deadline and self.link.has_reader():
            self._write_backlog()
            if self._backlog:
                time.sleep(self._RETRY_S)
        left = max(0.0, deadline - time.monotonic())
        self.report.drained = not self._backlog and self.link.wait_drained(left)
        self.report.wall_seconds = time.monotonic() - self._start
        self.report.device_seconds = self.sensor.samples_emitted / self.sensor.source.sample_rate
        return self.report


def run_on_pty(
    link_path: str | Path,
    sensor: VirtualSensor,
    *,
    seconds: float | None = None,
    stop_event: threading.Event | None = None,
    wait_reader: float | None = None,
    drain_timeout: float = 2.0,
    on_start: Callable[[PtyLink], None] | None = None,
    on_progress: Callable[[SensorReport], None] | None = None,
) -> SensorReport:
    """Publish a pty at ``link_path``, stream ``sensor`` on it, remove it at the end.

    Parameters
    ----------
    link_path : path
        Symlink to create (see :class:`~vibration.acquisition.serial_link.PtyLink`).
    sensor : VirtualSensor
    seconds, stop_event, wait_reader, drain_timeout, on_progress
        As :meth:`VirtualSensor.run`.
    on_start : callable, optional
        Called with the link once it exists (before any reader can be waited for).

    Returns
    -------
    SensorReport
        With ``extra["link"]`` and ``extra["pty"]``.

    Raises
    ------
    ProtocolError
        The link cannot be created (a regular file is in the way, ...).
    """
    with PtyLink(link_path) as link:
        if on_start is not None:
            on_start(link)
        report = sensor.run(
            link,
            seconds=seconds,
            stop_event=stop_event,
            wait_reader=wait_reader,
            drain_timeout=drain_timeout,
            on_progress=on_progress,
        )
        report.extra.update(link=str(link.path), pty=link.slave_name)
        return report

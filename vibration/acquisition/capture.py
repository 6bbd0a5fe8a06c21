"""Record a sensor's stream into a dataset recording.

:func:`capture` reads an open serial port (any :class:`serial.SerialBase`: a device, a pty,
``loop://``, ``socket://``) for a number of seconds and hands the bytes to a
:class:`CaptureSession`, which is pure (no I/O besides the recording, clock passed in):

* bytes are decoded by :class:`~vibration.protocol.StreamDecoder` (binary frames or text
  lines, detected from the first bytes; a sensor whose boot text looked like a text
  stream switches to binary at its first frame, the text counted in ``skipped_bytes``);
* binary: the recording is created at the first HELLO (rate, axes, scale, units, device id,
  firmware, model hash). SAMPLES frames that arrive before it wait up to ``hello_wait_s``;
  then the rate is taken from the frames' device clock (``t_us``) and scale/units from the
  fallbacks, and a later HELLO fills in the rest;
* text: rows wait until the rate estimated from arrival times has ``rate_wait_s`` of data;
  the recording's rate is the final estimate, its jitter goes to ``extra.capture``;
* samples are appended as they arrive and made durable (fsync) at least every
  ``flush_interval_s``: a capture killed with SIGKILL leaves a ``.part`` recording of whole
  frames that :func:`vibration.data.dataset.open_recording` reads;
* a jump of the device clock (frames lost: corrupted, dropped) becomes a gap of exactly the
  missing samples (:meth:`~vibration.data.dataset.RecordingWriter.mark_gap`), so windows never
  straddle missing data; a sensor reboot becomes a gap of 0 samples. In text mode each
  refused line after the first good one (``nan``, garbage, a cut line) is one lost sample:
  a gap of 1 at its place, also while the rows still wait for the rate estimate;
* decoder counters (frames, crc_errors, resyncs, dropped_frames, ...) go to the metadata;
  :meth:`CaptureSession.finish` closes the recording atomically.

What "``seconds``" means: ``seconds`` of *samples*. The capture records
``round(seconds * sample_rate)`` samples per axis (the sample rate from the HELLO or the
device clock; text streams: the rate estimated when that count is reached, so the final
estimate stored may give a count a few samples off) and then ends (``end_reason``
``"time"``), whatever the wall time: bytes already queued when the capture starts (a sensor
that was streaming before) count like any others, the last frame is cut to the exact count.
It waits at most ``1.1 * seconds + 5`` wall seconds for them (the read by a reader thread
may end up to one port timeout later): a sensor slower than its rate says, or one that stops
sending, gives fewer samples and ``end_reason`` ``"timeout"``; every byte read by then, plus
whatever the OS had already received, is decoded and every complete frame in it recorded
(up to the count); a frame still incomplete at that point is not (``tail_bytes``). The
capture also ends early when the link closes (the sensor's pty went away, a socket closed;
everything read before is kept) or ``stop_event`` is set.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import serial

from vibration.data.dataset import RecordingWriter, validate_name
from vibration.data.dataset.validation import implausible_rate
from vibration.errors import DatasetError, ProtocolError
from vibration.protocol import (
    AsciiDecoder,
    Frame,
    Hello,
    Mode,
    Samples,
    Score,
    StreamDecoder,
    Text,
    Unknown,
)

__all__ = [
    "CaptureConfig",
    "CaptureProgress",
    "CaptureResult",
    "CaptureSession",
    "capture",
]


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


@dataclass(frozen=True)
class CaptureConfig:
    """Where and how to record.

    Attributes
    ----------
    out : Path
        Dataset directory (created if missing).
    name : str or None
        Recording name; None: ``<sensor id>-<UTC time>`` (``-1``, ``-2``... if taken).
        A given name that exists already is an error.
    label : str or None
        Condition label (``normal``, ``inner``, ...).
    sensor_id : str
        Sensor id when the stream has no HELLO (text streams).
    scale : float
        Units per LSB when the stream does not say (integer text streams, binary before
        a HELLO).
    units : str
        Physical unit that goes with ``scale``.
    rate : float or None
        Sample rate to use when it cannot be learned (no HELLO, too little data to
        estimate); None: such a capture fails. Must be within
        :data:`~vibration.data.dataset.validation.SAMPLE_RATE_RANGE` (1 Hz .. 1 MHz).
    mode : {"binary", "ascii"} or None
        Force the stream type; None detects it.
    flush_interval_s : float
        Longest time between two fsyncs of the recording.
    hello_wait_s : float
        Binary: how long SAMPLES frames wait for a HELLO before the recording is created
        from fallbacks.
    rate_wait_s : float
        Text: seconds of lines used for the first rate estimate before recording starts.
    read_size : int
        Most bytes one port read asks for.
    """

    out: Path
    name: str | None = None
    label: str | None = None
    sensor_id: str = ""
    scale: float = 1.0
    units: str = "counts"
    rate: float | None = None
    mode: str | None = None
    flush_interval_s: float = 0.5
    hello_wait_s: float = 2.0
    rate_wait_s: float = 1.0
    read_size: int = 65536

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.name is not None:
            validate_name(self.name)
        _positive("scale", self.scale)
        if self.rate is not None:
            _positive("rate", self.rate)
            reason = implausible_rate(self.rate, "rate")
            if reason is not None:
                raise ValueError(reason)
        if self.mode not in (None, "binary", "ascii"):
            raise ValueError(f"mode must be None, 'binary' or 'ascii', got {self.mode!r}")
        _positive("flush_interval_s", self.flush_interval_s)
        _positive("hello_wait_s", self.hello_wait_s, allow_zero=True)
        _positive("rate_wait_s", self.rate_wait_s, allow_zero=True)
        if isinstance(self.read_size, bool) or not isinstance(self.read_size, int):
            raise ValueError(f"read_size must be an integer, got {self.read_size!r}")
        if self.read_size < 1:
            raise ValueError(f"read_size must be >= 1, got {self.read_size!r}")
        if not isinstance(self.units, str) or not self.units:
            raise ValueError(f"units must be a non-empty string, got {self.units!r}")

    def check_free(self) -> None:
        """Raise :class:`DatasetError` now if a fixed ``name`` is taken (before capturing)."""
        if self.name is None:
            return
        for candidate in (self.out / self.name, self.out / f"{self.name}.part"):
            if candidate.exists():
                raise DatasetError(f"recording {self.name!r} already exists in {str(self.out)!r}")


@dataclass(frozen=True)
class CaptureProgress:
    """A snapshot for progress displays."""

    elapsed_s: float
    total_s: float
    samples: int
    rate_sps: float
    frames: int
    crc_errors: int
    dropped_frames: int
    mode: str | None


@dataclass(frozen=True)
class CaptureResult:
    """What a capture recorded.

    Attributes
    ----------
    path : Path
        The finished recording directory.
    name : str
    mode : {"binary", "ascii"}
    samples : int
        Samples per axis recorded.
    axes : int
    sample_rate : float
        From the HELLO, the device clock, or (text) the final estimate.
    rate_jitter_s : float or None
        Text mode: jitter of line arrival times around the fitted rate.
    frames, crc_errors, resyncs, dropped_frames : int
        Decoder counters (binary); in text mode ``frames`` counts lines and ``crc_errors``
        refused lines.
    missing_samples : int
        Samples per axis known to be lost (sum of the gaps).
    gaps : int
        Discontinuities marked.
    tail_bytes : int
        Bytes of an incomplete frame or line left when the capture ended.
    seconds : float
        Wall time spent reading.
    end_reason : str
        ``"time"`` (``seconds`` of samples recorded), ``"timeout"`` (they did not all
        arrive in the wall time allowed), ``"link closed"``, ``"stopped"``.
    counters : dict
        Every counter stored in the metadata.
    hello : dict or None
        The last HELLO seen.
    """

    path: Path
    name: str
    mode: str
    samples: int
    axes: int
    sample_rate: float
    rate_jitter_s: float | None
    frames: int
    crc_errors: int
    resyncs: int
    dropped_frames: int
    missing_samples: int
    gaps: int
    tail_bytes: int
    seconds: float
    end_reason: str
    counters: dict[str, int] = field(default_factory=dict)
    hello: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def _hello_dict(hello: Hello) -> dict[str, Any]:
    return {
        "device_id": hello.device_id,
        "firmware_version": hello.firmware_version,
        "model_sha256": bytes(hello.model_sha256).hex(),
        "axes": hello.axes,
        "flags": hello.flags,
        "samples_per_frame": hello.samples_per_frame,
        "sample_rate_hz": float(hello.sample_rate_hz),
        "scale": float(hello.scale),
        "units": hello.units,
    }


class CaptureSession:
    """Decode bytes and write them into one recording; no port, no clock of its own.

    Parameters
    ----------
    config : CaptureConfig
    source : str
        What is being read (the port URL), stored in the recording.
    seconds : float or None
        Record ``round(seconds * sample_rate)`` samples per axis, then take no more
        (:attr:`done`); None: no limit.

    Notes
    -----
    Feed bytes with :meth:`feed`, call :meth:`tick` now and then (flushes, timeouts), end
    with :meth:`finish` (or :meth:`abort`). Times are ``time.monotonic()`` seconds.
    """

    def __init__(
        self, config: CaptureConfig, source: str = "", seconds: float | None = None
    ) -> None:
        if seconds is not None:
            _positive("seconds", seconds)
        self.config = config
        self.source = source
        self.seconds = seconds
        self.decoder = StreamDecoder(mode=cast(Mode | None, config.mode))
        self.writer: RecordingWriter | None = None
        self.hello: Hello | None = None
        # what arrived before the recording exists: samples, and gaps (ints) between them
        self._waiting: list[Samples | int] = []
        self._first_samples_at: float | None = None
        self._first_wall: float | None = None
        self._last_flush = 0.0
        self._rate: float | None = None
        self._axes: int | None = None
        self._next_t_us: float | None = None
        self._missing = 0
        self._gaps = 0
        self._scores = 0
        self._texts = 0
        self._bad_hellos = 0  # HELLOs with a good CRC but an implausible rate or scale
        self._text_log: list[str] = []
        self._seen_frames = False
        self._rate_from_clock = False  # rate measured from t_us, waiting for a HELLO
        self._clock_untrusted = False  # the device clock implies an implausible rate

    # -- feeding

    @property
    def samples(self) -> int:
        """Samples per axis recorded (or waiting to be) so far."""
        written = self.writer.samples_written if self.writer is not None else 0
        return written + sum(s.n for s in self._waiting if isinstance(s, Samples))

    def feed(self, data: bytes, now: float) -> None:
        """Decode ``data`` (arrived at ``now``) and record what it completes.

        Raises
        ------
        ProtocolError
            The stream changed shape mid-capture (another axis count).
        """
        if not data or self.done:
            return
        frames = self.decoder.feed(data, now)
        for frame in frames:
            self._frame(frame, now)
        self.tick(now)

    def _target(self) -> int | None:
        """Samples per axis to record (None: no limit or the rate is not known yet)."""
        if self.seconds is None or self._rate is None:
            return None
        rate = self._rate
        if self.decoder.mode == "ascii":
            est = self.decoder.rate_estimate()
            rate = est.rate_hz if est is not None and est.rate_hz is not None else rate
        return round(self.seconds * rate)

    @property
    def done(self) -> bool:
        """True once ``seconds`` worth of samples are recorded."""
        target = self._target()
        return (
            self.writer is not None
            and target is not None
            and (self.writer.samples_written >= target)
        )

    def tick(self, now: float) -> None:
        """Flush when due; create the recording when the wait for a HELLO or rate is over."""
        if self.writer is None and self._waiting:
            assert self._first_samples_at is not None
            waited = now - self._first_samples_at
            if self.decoder.mode == "ascii":
                est = self.decoder.rate_estimate()
                ready = est is not None and est.rate_hz is not None
                if ready and waited >= self.config.rate_wait_s:
                    assert est is not None and est.rate_hz is not None
                    self._open_writer(est.rate_hz)
            elif waited >= self.config.hello_wait_s:
                self._open_writer(self._fallback_rate())
        if self.writer is not None and now - self._last_flush >= self.config.flush_interval_s:
            self._flush(now)

    def _frame(self, frame: Frame, now: float) -> None:
        body = frame.body
        first = not self._seen_frames
        self._seen_frames = True
        if isinstance(body, Samples):
            self._samples(body, now)
        elif isinstance(body, Hello):
            self._hello(body, reboot=frame.seq == 0 and not first)
        elif isinstance(body, Score):
            self._scores += 1
        elif isinstance(body, Text):
            self._texts += 1
            if len(self._text_log) < 50:
                self._text_log.append(body.text)
        elif isinstance(body, Unknown) and self.decoder.mode == "ascii":
            self._gap(1)  # a refused line in place of one sample

    def _hello(self, hello: Hello, *, reboot: bool) -> None:
        scale = float(hello.scale)
        if implausible_rate(float(hello.sample_rate_hz)) or not (
            math.isfinite(scale) and scale > 0
        ):
            self._bad_hellos += 1  # counted and ignored: the recording keeps what it knows
            return
        if self._axes is not None and hello.axes != self._axes:
            raise ProtocolError(
                f"the sensor changed from {self._axes} to {hello.axes} axes mid-capture"
            )
        self.hello = hello
        if reboot:
            self._gap(0)
            self._next_t_us = None
        if self.writer is None:
            self._axes = hello.axes
            self._open_writer(float(hello.sample_rate_hz))
        else:
            self.writer.set_meta(hello=_hello_dict(hello), sensor_id=hello.device_id)
            if self.writer.samples_written == 0 or self._rate_from_clock:
                self._rate = float(hello.sample_rate_hz)
                self.writer.set_meta(
                    sample_rate=self._rate, scale=float(hello.scale), units=hello.units or "?"
                )
                self._rate_from_clock = False

    def _samples(self, body: Samples, now: float) -> None:
        if self._first_samples_at is None:
            self._first_samples_at = now
            self._first_wall = time.time()
        if self._axes is None:
            self._axes = body.axes
        elif body.axes != self._axes:
            raise ProtocolError(
                f"the sensor changed from {self._axes} to {body.axes} axes mid-capture"
            )
        if self.writer is None:
            self._waiting.append(body)
            return
        self._append(body)

    def _append(self, body: Samples) -> None:
        assert self.writer is not None and self._rate is not None
        target = self._target()
        if target is not None:
            left = target - self.writer.samples_written
            if left <= 0:
                return
            if body.n > left:
                body = Samples(body.t_us, body.samples[:left])
        if self.decoder.mode == "binary" and not self._clock_untrusted:
            if self._next_t_us is not None:
                ahead_us = body.t_us - self._next_t_us
                half = 0.5e6 / self._rate
                if ahead_us > half:
                    self._gap(round(ahead_us * self._rate / 1e6))
                elif ahead_us < -half:
                    self._gap(0)  # the device clock went back: a reboot whose HELLO was lost
            self._next_t_us = body.t_us + body.n * 1e6 / self._rate
        self.writer.append(body.samples)

    def _gap(self, missing: int) -> None:
        if self.done:
            return  # after the end of the recording
        if self.writer is None:
            # Before the recording exists: remembered in place (marked when it is created);
            # before the first sample there is nothing to mark (the recording starts after).
            if self._waiting:
                self._waiting.append(missing)
            return
        self.writer.mark_gap(missing)
        self._missing += missing
        self._gaps += 1

    def _fallback_rate(self) -> float:
        blocks = [s for s in self._waiting if isinstance(s, Samples)]
        if len(blocks) >= 2:
            a, b = blocks[0], blocks[1]
            if b.t_us > a.t_us:
                rate = a.n * 1e6 / (b.t_us - a.t_us)
                reason = implausible_rate(rate)
                if reason is None:
                    self._rate_from_clock = True
                    return rate
                self._clock_untrusted = True  # no gaps from a clock like that
                if self.config.rate is None:
                    raise ProtocolError(
                        f"{reason.replace(' is outside', ' from the device clock is outside')}"
                        " (no HELLO; give a rate)"
                    )
        if self.config.rate is not None:
            return self.config.rate
        raise ProtocolError(
            "cannot tell the sample rate: no HELLO and too little data (give a rate)"
        )

    def _open_writer(self, rate: float) -> None:
        reason = implausible_rate(rate)
        if reason is not None:  # a text stream's estimate (other sources are checked)
            raise ProtocolError(reason)
        cfg = self.config
        hello = self.hello
        self._rate = rate
        sensor = hello.device_id if hello is not None and hello.device_id else cfg.sensor_id
        axes = self._axes if self._axes is not None else (hello.axes if hello else 1)
        if hello is not None:
            scale, units = float(hello.scale), hello.units or cfg.units
        else:
            dec = self.decoder.decoder
            ascii_scale = dec.scale if isinstance(dec, AsciiDecoder) else None
            scale = ascii_scale if ascii_scale is not None else cfg.scale
            units = cfg.units
        start = datetime.fromtimestamp(self._first_wall or time.time(), UTC)
        name = cfg.name or f"{_safe(sensor) or 'capture'}-{start:%Y%m%dT%H%M%SZ}"
        self.writer = RecordingWriter(
            cfg.out,
            name,
            sample_rate=rate,
            axes=axes,
            scale=scale,
            units=units,
            label=cfg.label,
            sensor_id=sensor,
            source=self.source,
            start_time=start,
            hello=None if hello is None else _hello_dict(hello),
            unique=cfg.name is None,
        )
        waiting, self._waiting = self._waiting, []
        for item in waiting:
            if isinstance(item, int):
                self._gap(item)
            else:
                self._append(item)
        self._last_flush = -math.inf

    def _counters_raw(self) -> dict[str, int]:
        return dict(self.decoder.stats.as_dict())

    def _counters(self) -> dict[str, int]:
        stats = self._counters_raw()
        if self.decoder.mode == "ascii":
            return {
                "lines": stats["lines"],
                "line_errors": stats["errors"],
                "clipped": stats["clipped"],
                "bytes_in": stats["bytes_in"],
                "scores": self._scores,
            }
        stats.update(
            scores=self._scores,
            texts=self._texts,
            bad_hellos=self._bad_hellos,
            skipped_bytes=self.decoder.skipped_bytes,
        )
        return stats

    def _flush(self, now: float) -> None:
        assert self.writer is not None
        self.writer.update_counters(**self._counters())
        self.writer.flush()
        self._last_flush = now

    # -- ending

    def finish(self, *, seconds: float, end_reason: str, tail_bytes: int = 0) -> CaptureResult:
        """Close the recording atomically and summarise.

        Raises
        ------
        ProtocolError
            Nothing was recorded (no samples arrived); nothing is left on disk.
        """
        if self.writer is None and self._waiting:
            est = self.decoder.rate_estimate()
            if self.decoder.mode == "ascii" and est is not None and est.rate_hz is not None:
                self._open_writer(est.rate_hz)
            else:
                self._open_writer(self._fallback_rate())
        writer = self.writer
        if writer is None or writer.samples_written == 0:
            if writer is not None:
                writer.abort()
            raise ProtocolError(
                f"no samples received from {self.source or 'the port'} in {seconds:.1f} s "
                f"({self.decoder.stats.bytes_in} bytes, mode {self.decoder.mode or 'unknown'})"
            )
        jitter: float | None = None
        if self.decoder.mode == "ascii":
            est = self.decoder.rate_estimate()
            if est is not None and est.rate_hz is not None:
                self._rate = est.rate_hz
                jitter = est.jitter_s
                writer.set_meta(sample_rate=est.rate_hz)
        counters = self._counters()
        writer.update_counters(**counters)
        info: dict[str, Any] = {
            "port": self.source,
            "mode": self.decoder.mode,
            "seconds": round(seconds, 3),
            "end_reason": end_reason,
            "tail_bytes": tail_bytes,
        }
        if jitter is not None:
            info["rate_jitter_s"] = jitter
        if self._text_log:
            info["device_log"] = self._text_log
        writer.set_meta(extra={"capture": info})
        meta = writer.meta
        path = writer.close()
        stats = self._counters_raw()
        ascii_mode = self.decoder.mode == "ascii"
        return CaptureResult(
            path=path,
            name=meta.name,
            mode=str(self.decoder.mode),
            samples=meta.samples,
            axes=meta.axes,
            sample_rate=meta.sample_rate,
            rate_jitter_s=jitter,
            frames=stats["lines"] if ascii_mode else stats["frames"],
            crc_errors=stats["errors"] if ascii_mode else stats["crc_errors"],
            resyncs=stats.get("resyncs", 0),
            dropped_frames=stats.get("dropped_frames", 0),
            missing_samples=self._missing,
            gaps=self._gaps,
            tail_bytes=tail_bytes,
            seconds=seconds,
            end_reason=end_reason,
            counters=dict(meta.counters),
            hello=meta.hello,
        )

    def abort(self) -> None:
        """Delete the recording being written (if any)."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def keep_partial(self) -> None:
        """Flush and leave the ``.part`` recording as it is (after an unexpected error)."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.__exit__(RuntimeError, RuntimeError("capture failed"), None)

    def progress(self, elapsed: float, total: float) -> CaptureProgress:
        """A snapshot for progress displays."""
        stats = self._counters_raw()
        ascii_mode = self.decoder.mode == "ascii"
        samples = self.samples
        return CaptureProgress(
            elapsed_s=elapsed,
            total_s=total,
            samples=samples,
            rate_sps=samples / elapsed if elapsed > 0 else 0.0,
            frames=stats.get("lines" if ascii_mode else "frames", 0),
            crc_errors=stats.get("errors" if ascii_mode else "crc_errors", 0),
            dropped_frames=stats.get("dropped_frames", 0),
            mode=self.decoder.mode,
        )


def _safe(text: str) -> str:
    """``text`` made fit for a recording name: other characters become ``_``."""
    kept = (c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in text)
    return "".join(kept).lstrip(".")


class _PortReader(threading.Thread):
    """Reads the port and time-stamps the bytes, so that writing never delays reading."""

    def __init__(self, port: serial.SerialBase, read_size: int) -> None:
        super().__init__(name="tinypdm-capture-reader", daemon=True)
        self.port = port
        self.read_size = read_size
        self.chunks: queue.SimpleQueue[tuple[bytes, float] | None] = queue.SimpleQueue()
        self.halt = threading.Event()
        self.closed = False

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                try:
                    data = self.port.read(self.read_size)
                except (serial.SerialException, OSError):
                    self.closed = True
                    return
                if data:
                    self.chunks.put((data, time.monotonic()))
        finally:
            self.chunks.put(None)


def capture(
    port: serial.SerialBase,
    seconds: float,
    config: CaptureConfig,
    *,
    source: str | None = None,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[CaptureProgress], None] | None = None,
    progress_every_s: float = 0.25,
) -> CaptureResult:
    """Record ``seconds`` of a sensor's stream from an open port into ``config.out``.

    A thread reads the port and stamps each chunk with its arrival time; this thread
    decodes and writes, so an fsync never delays reading.

    Parameters
    ----------
    port : serial.SerialBase
        Open, with a short read timeout (0.05 s is good): each read returns after at
        most that long, which bounds how late the capture ends.
    seconds : float
        Seconds of samples to record: ``round(seconds * sample_rate)`` samples per axis,
        waiting at most ``1.1 * seconds + 5`` wall seconds (module docstring).
    config : CaptureConfig
    source : str, optional
        Port URL for the metadata (default ``port.name`` / ``port.portstr``).
    stop_event : threading.Event, optional
        Set it to end early (the recording is still finished).
    on_progress : callable, optional
        Called with a :class:`CaptureProgress` every ``progress_every_s``.

    Returns
    -------
    CaptureResult

    Raises
    ------
    ProtocolError
        No samples arrived; nothing is left on disk.
    DatasetError
        The recording cannot be written (a ``.part`` of what was flushed stays).
    """
    _positive("seconds", seconds)
    config.check_free()
    url = source if source is not None else str(getattr(port, "name", None) or port.portstr)
    session = CaptureSession(config, url, seconds)
    reader = _PortReader(port, config.read_size)
    start = time.monotonic()
    deadline = start + _wall_limit(seconds)
    next_progress = start
    end_reason = "time"
    reader.start()
    try:
        while True:
            now = time.monotonic()
            if session.done:
                break
            if now >= deadline:
                end_reason = "timeout"
                break
            if stop_event is not None and stop_event.is_set():
                end_reason = "stopped"
                break
            try:
                item = reader.chunks.get(timeout=min(0.05, deadline - now))
            except queue.Empty:
                item = (b"", time.monotonic())
            if item is None:
                end_reason = "link closed"
                break
            try:
                if item[0]:
                    session.feed(*item)
                else:
                    session.tick(time.monotonic())
            except ProtocolError as exc:  # the stream changed shape: keep what came before
                end_reason = f"stopped: {exc}"
                break
            if on_progress is not None and now >= next_progress:
                on_progress(session.progress(now - start, seconds))
                next_progress = now + progress_every_s
        reader.halt.set()
        reader.join()
        if end_reason in ("timeout", "stopped") and not session.done:
            # Bytes already read, and those the OS already holds, arrived in time: keep them.
            _drain(reader, port, session)
        elapsed = time.monotonic() - start
        if on_progress is not None:
            on_progress(session.progress(elapsed, seconds))
        tail = getattr(session.decoder.decoder, "pending", 0)
        return session.finish(seconds=elapsed, end_reason=end_reason, tail_bytes=int(tail))
    except ProtocolError:
        session.abort()  # nothing worth keeping (no samples)
        raise
    except BaseException:
        session.keep_partial()  # unexpected: leave a readable .part for forensics
        raise
    finally:
        reader.halt.set()
        reader.join(timeout=5.0)  # the caller closes the port next: no read may be running


def _wall_limit(seconds: float) -> float:
    """Longest wall time a capture of ``seconds`` of samples waits for them."""
    return 1.1 * seconds + 5.0


def _drain(reader: _PortReader, port: serial.SerialBase, session: CaptureSession) -> None:
    """Feed what the reader still holds, then what the OS has already received."""
    try:
        while True:
            item = reader.chunks.get()
            if item is None:
                break
            session.feed(*item)
        if not reader.closed:
            waiting = port.in_waiting
            if waiting:
                session.feed(port.read(waiting), time.monotonic())
    except (serial.SerialException, OSError, ProtocolError):
        pass  # the link closed, or the stream changed shape, right at the end

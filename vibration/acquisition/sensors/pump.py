"""Pacing: deliver a sensor's wire chunks to a pty in real time, never blocking.

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

The pump sees a sensor through :class:`PacedSensor` (what
:class:`~vibration.acquisition.sensors.wire.VirtualSensor` provides), so it does not
depend on how the bytes are made.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from vibration.acquisition.serial_link import PtyLink

__all__ = ["PacedSensor", "RunOptions", "SensorPump", "SensorReport", "run_paced"]


class _Chunk(Protocol):
    @property
    def data(self) -> bytes: ...
    @property
    def kind(self) -> str: ...
    @property
    def n_samples(self) -> int: ...
    @property
    def due_s(self) -> float: ...
    @property
    def fate(self) -> str: ...


class _Config(Protocol):
    @property
    def samples_per_frame(self) -> int: ...
    @property
    def tx_buffer_bytes(self) -> int: ...


class _Source(Protocol):
    @property
    def sample_rate(self) -> float: ...


class PacedSensor(Protocol):
    """What :class:`SensorPump` needs of a sensor (a
    :class:`~vibration.acquisition.sensors.wire.VirtualSensor`)."""

    @property
    def config(self) -> _Config: ...
    @property
    def source(self) -> _Source: ...
    @property
    def samples_emitted(self) -> int: ...
    def chunks(self, max_samples: int | None = None) -> Iterator[_Chunk]: ...
    def final_chunks(self) -> Iterator[_Chunk]: ...
    def request_hello(self) -> None: ...


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


@dataclass(frozen=True)
class RunOptions:
    """How long a sensor runs and who hears about it: one value handed down from
    :func:`~vibration.acquisition.sensors.pty.run_on_pty` (and the on-board sensors of
    ``firmware_export``) to :meth:`VirtualSensor.run
    <vibration.acquisition.sensors.wire.VirtualSensor.run>`.

    Attributes
    ----------
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
    on_start : callable, optional
        Called with the link once it exists (before any reader can be waited for); used
        by the functions that create the link (:func:`run_on_pty` and the on-board sensors).
    on_progress : callable, optional
        Called with the running report every ``progress_every_s``.
    """

    seconds: float | None = None
    stop_event: threading.Event | None = None
    wait_reader: float | None = None
    drain_timeout: float = 2.0
    on_start: Callable[[PtyLink], None] | None = None
    on_progress: Callable[[SensorReport], None] | None = None


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
    sensor : PacedSensor
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
        sensor: PacedSensor,
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
        self._next: _Chunk | None = None
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

    def _peek(self) -> _Chunk | None:
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

    def _deliver(self, chunk: _Chunk) -> None:
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


def run_paced(
    sensor: PacedSensor,
    link: PtyLink,
    options: RunOptions | None = None,
    *,
    progress_every_s: float = 0.5,
) -> SensorReport:
    """The blocking loop around :class:`SensorPump` (:meth:`VirtualSensor.run
    <vibration.acquisition.sensors.wire.VirtualSensor.run>` documents the parameters)."""
    opts = options if options is not None else RunOptions()
    on_progress = opts.on_progress
    stop = opts.stop_event if opts.stop_event is not None else threading.Event()
    if opts.wait_reader is not None and not _wait_for_reader(link, opts.wait_reader, stop):
        return SensorReport()
    pump = SensorPump(sensor, link, seconds=opts.seconds)
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
    return pump.finish(opts.drain_timeout)


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

"""One serial port of the gateway: its reader thread, the sensor's identity, sequence
accounting (drops, reboots), device-to-wall time mapping and the checkpoint it resumes from."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from vibration.protocol import (
    AsciiStats,
    Frame,
    Hello,
    Mode,
    Samples,
    Score,
    StreamDecoder,
    Text,
    Unknown,
)
from vibration.telemetry.devtime import ClockMapper
from vibration.telemetry.gateway.config import GatewayConfig
from vibration.telemetry.gateway.report import LinkReport
from vibration.telemetry.gateway.shadow import ShadowFactory, ShadowScorer
from vibration.telemetry.stores.base import Event, ScorePoint, SensorStatus
from vibration.telemetry.stores.batcher import PointBatcher

__all__ = ["FRAME_KINDS", "LinkServices"]

log = logging.getLogger("tinypdm.gateway")

FRAME_KINDS = ("HELLO", "SAMPLES", "SCORE", "TEXT", "UNKNOWN")
_SEQ_MOD = 1 << 32
_SEQ_HALF = 1 << 31
_MAX_WAITING = 4096


def _port_name(url: str) -> str:
    """A sensor name derived from a port URL (used until/unless a HELLO names it)."""
    if "://" in url:
        rest = url.split("://", 1)[1].split("?", 1)[0].strip("/")
        name = rest or url.split("://", 1)[0]
    else:
        name = Path(url).name or url
    return _sanitize(name) or "sensor"


def _sanitize(name: str) -> str:
    clean = "".join(c if c.isprintable() and c != "\\" else "_" for c in name).strip()
    return clean[:128]


@dataclass(frozen=True)
class LinkServices:
    """What a port's reader needs from the gateway, and nothing more.

    Attributes
    ----------
    config : GatewayConfig
    batcher : PointBatcher
        Where the link's points and checkpoints go.
    open_port : callable
        ``open_port(url)`` returns an open pyserial port (injected: tests pass fakes).
    shadow : ShadowFactory or None
        Builds a host-side scorer for a sensor that streams raw samples.
    """

    config: GatewayConfig
    batcher: PointBatcher
    open_port: Callable[[str], Any]
    shadow: ShadowFactory | None = None


class _Link:
    """The state of one port, owned by its reader thread (snapshots under ``lock``)."""

    def __init__(self, gw: LinkServices, url: str, saved: dict[str, Any] | None) -> None:
        self.gw = gw
        self.url = url
        self.lock = threading.Lock()
        self.saved = saved  # checkpoint of a previous run, for resuming
        self.sensor: str | None = None
        self.firmware = ""
        self.model_hash = ""
        self.model_tag = "none"
        self.sample_rate = 0.0
        self.clock = ClockMapper(gw.config.clock)
        self.last_seq: int | None = None
        self.alarm: bool | None = None
        self.shadow_alarm: bool | None = None
        # The last point's time per model source: points of one link are strictly
        # increasing in time, so no two ever share an identity (and overwrite each other).
        self.last_time_ns = 0
        self.shadow_last_time_ns = 0
        # The same for the device's notes: warnings of one read share their arrival time.
        self.last_note_ns = 0
        self.shadow: ShadowScorer | None = None
        self.crc_errors = int(saved.get("crc_errors", 0)) if saved else 0
        self.dropped = int(saved.get("dropped_frames", 0)) if saved else 0
        self._crc_base = self.crc_errors
        self.frames: Counter[str] = Counter()
        self.scores = 0
        self.reboots = 0
        self.reconnects = 0
        self.invalid = 0
        self.mode: str | None = None
        self.line_errors = 0  # text lines not understood, this run
        self.skipped_bytes = 0  # boot text before binary frames, this run
        self._text_base = (0, 0)  # the two above, up to the current connection
        self.connected = False
        self.last_error = ""
        self.last_seen_ns = 0
        self._status_sent_ns = 0
        self._next_status = 0.0
        self._waiting: list[tuple[Frame, int]] = []
        self._wait_since: float | None = None
        # this read's work: scores waiting for their wall time, then the points
        self._pending: list[tuple[Any, ...]] = []
        self._scores: list[ScorePoint] = []
        self._statuses: list[SensorStatus] = []
        self._events: list[Event] = []
        self._dirty = False
        self._held: dict[str, Any] | None = None

    # -- identity -------------------------------------------------------------------------------

    def _identify(self, name: str, hello: Hello | None) -> None:
        if self.sensor is not None and name != self.sensor:
            log.info("%s: sensor %r replaced by %r", self.url, self.sensor, name)
            self._reset_clock()  # maps what is pending under the old name first
            self.alarm = self.shadow_alarm = None
        self.sensor = name
        if hello is not None:
            self.firmware = hello.firmware_version
            sha = bytes(hello.model_sha256)
            self.model_hash = sha.hex() if any(sha) else ""
            self.model_tag = sha.hex()[:12] if any(sha) else "none"
            self.sample_rate = (
                float(hello.sample_rate_hz) if math.isfinite(hello.sample_rate_hz) else 0.0
            )
            self.shadow = None
            if self.gw.shadow is not None and hello.flags & Hello.FLAG_STREAMS:
                try:
                    self.shadow = self.gw.shadow(hello)
                except Exception as exc:  # a broken model must not stop the gateway
                    log.error("%s: shadow scorer unavailable: %s", name, exc)
                    self.last_error = f"shadow scorer: {exc}"

    def _resume(self, saved: dict[str, Any], continue_seq: bool) -> None:
        """Adopt the identity (and maybe the sequence) of the previous run's checkpoint."""
        self.sensor = str(saved["sensor"])
        self.firmware = str(saved.get("firmware", ""))
        self.model_hash = str(saved.get("model_hash", ""))
        self.model_tag = str(saved.get("model_tag", "none"))
        self.sample_rate = float(saved.get("sample_rate", 0.0))
        if continue_seq:
            self.last_seq = int(saved["last_seq"])
            alarm = saved.get("alarm")
            self.alarm = None if alarm is None else bool(alarm)
            self.last_time_ns = int(saved.get("last_time_ns", 0))

    def checkpoint(self) -> dict[str, Any]:
        """What a restarted gateway resumes from: the state after the last frame whose
        points were handed to the batcher (frames whose scores wait for the clock to
        settle are not included yet)."""
        if self._pending and self._held is not None:
            return self._held
        return {
            "sensor": self.sensor,
            "last_seq": self.last_seq,
            "crc_errors": self.crc_errors,
            "dropped_frames": self.dropped,
            "alarm": self.alarm,
            "last_time_ns": self.last_time_ns,
            "firmware": self.firmware,
            "model_hash": self.model_hash,
            "model_tag": self.model_tag,
            "sample_rate": self.sample_rate,
        }

    # -- frames ---------------------------------------------------------------------------------
    #
    # Frames of one read share their arrival time. Every frame first updates the clock
    # (observe); the points are mapped to wall time only at the end of the read, with the
    # estimate that has seen the whole read: a backlog read at once (start-up, a busy
    # gateway) keeps the device's spacing instead of piling up at the arrival time.

    def on_frames(self, frames: Sequence[Frame], arrival_ns: int) -> None:
        """Handle the frames of one read, then hand their points to the batcher."""
        for frame in frames:
            self._on_frame(frame, arrival_ns)
        self._end_chunk()

    def _on_frame(self, frame: Frame, arrival_ns: int) -> None:
        kind = _kind(frame)
        with self.lock:
            self.frames[kind] += 1
            self.last_seen_ns = arrival_ns
        if self.sensor is None:
            saved_seq = None if self.saved is None else self.saved.get("last_seq")
            if isinstance(frame.body, Hello):
                self._identify(self._hello_name(frame.body), frame.body)
            elif (
                saved_seq is not None
                and self.saved is not None
                and self.saved.get("sensor")
                and 0 < (frame.seq - int(saved_seq)) % _SEQ_MOD < _SEQ_HALF
            ):
                self._resume(self.saved, continue_seq=True)
            else:
                if self._wait_since is None:
                    self._wait_since = time.monotonic()
                self._waiting.append((frame, arrival_ns))
                if len(self._waiting) >= _MAX_WAITING:
                    self.give_up_waiting()
                return
            self._flush_waiting()
        self._process(frame, arrival_ns)

    def _hello_name(self, hello: Hello) -> str:
        return _sanitize(hello.device_id) or _port_name(self.url)

    def give_up_waiting(self) -> None:
        """No HELLO came: name the sensor after the previous run's checkpoint or the port."""
        if self.sensor is not None or not self._waiting:
            return
        if self.saved is not None and self.saved.get("sensor"):
            self._resume(self.saved, continue_seq=False)
        else:
            self._identify(_port_name(self.url), None)
        log.warning(
            "%s: no HELLO within %.0f s; sensor named %r",
            self.url,
            self.gw.config.hello_wait_s,
            self.sensor,
        )
        self._flush_waiting()
        self._end_chunk()

    def check_waiting(self, now: float) -> None:
        if self._wait_since is not None and now - self._wait_since >= self.gw.config.hello_wait_s:
            self.give_up_waiting()

    def _flush_waiting(self) -> None:
        waiting, self._waiting, self._wait_since = self._waiting, [], None
        for frame, arrival in waiting:
            self._process(frame, arrival)

    def flush(self) -> None:
        """Map and hand over everything pending (at stop)."""
        self._map_pending(force=True)
        self._end_chunk()

    def _reset_clock(self) -> None:
        self._map_pending(force=True)
        self.clock.reset()
        if self.shadow is not None:
            self.shadow.reset()

    def _account_seq(self, frame: Frame) -> bool:
        """Count gaps and reboots; False for a repeated frame (same ``seq`` as the last
        one: neither a loss nor a reboot, and its points are already accounted for)."""
        seq = frame.seq
        body = frame.body
        if isinstance(body, Hello) and self._hello_name(body) != self.sensor:
            self.last_seq = None  # another device on this port: its numbering is its own
        if seq == self.last_seq:
            return False
        if isinstance(body, Hello) and seq == 0:  # boot
            if self.last_seq is not None:
                self.reboots += 1
            self._reset_clock()
        elif self.last_seq is not None:
            d = (seq - self.last_seq) % _SEQ_MOD
            if 0 < d < _SEQ_HALF:
                if d > 1:
                    self.dropped += d - 1
                    if self.shadow is not None:
                        self.shadow.reset()  # the stream has a hole: no window across it
            else:  # went backwards: rebooted, and its HELLO (seq 0) was lost
                self.reboots += 1
                self.dropped += seq
                self._reset_clock()
        self.last_seq = seq
        return True

    def _process(self, frame: Frame, arrival_ns: int) -> None:
        if not self._pending:
            self._held = self.checkpoint()
        if not self._account_seq(frame):
            return
        assert self.sensor is not None
        self._dirty = True
        body = frame.body
        if isinstance(body, Score):
            self.clock.observe(body.t_us, arrival_ns)
            self._pending.append(
                (
                    body.t_us,
                    arrival_ns,
                    False,
                    body.score,
                    body.threshold,
                    body.alarm,
                    body.rms,
                    body.kurtosis,
                    frame.seq,
                    self.model_tag,
                )
            )
        elif isinstance(body, Samples):
            t_end = body.t_us
            if self.sample_rate > 0 and body.n > 1:
                t_end += round((body.n - 1) * 1e6 / self.sample_rate)
            self.clock.observe(t_end, arrival_ns)
            if self.shadow is not None:
                tag = self.shadow.model_tag
                for r in self.shadow.feed(body):
                    self._pending.append(
                        (
                            r.t_us,
                            arrival_ns,
                            True,
                            r.score,
                            r.threshold,
                            r.alarm,
                            r.rms,
                            r.kurtosis,
                            0,
                            tag,
                        )
                    )
        elif isinstance(body, Hello):
            name = self._hello_name(body)
            if name != self.sensor or not self.firmware:
                self._identify(name, body)
            self._statuses.append(self._status(arrival_ns))
        elif isinstance(body, Text):
            level = ("debug", "info", "warning", "error")[min(body.level, 3)]
            log.log((10, 20, 30, 40)[min(body.level, 3)], "%s: %s", self.sensor, body.text)
            if body.level >= Text.WARNING:
                self.last_note_ns = max(arrival_ns, self.last_note_ns + 1)
                self._events.append(
                    Event(
                        self.last_note_ns,
                        "note",
                        self.sensor,
                        self.gw.config.asset,
                        f"[{level}] {body.text}",
                        "device",
                    )
                )

    def _map_pending(self, force: bool = False) -> None:
        """Turn pending scores into points, mapped with the current estimate; until the
        clock has settled (or ``force``), keep them waiting."""
        if not self._pending or not (force or self.clock.settled):
            return
        for t_us, arrival, shadow, *fields in self._pending:
            self._add_score(min(self.clock.to_wall(t_us), arrival), *fields, shadow=shadow)
        self._pending.clear()

    def _end_chunk(self) -> None:
        self._map_pending()
        if not (self._dirty or self._scores or self._statuses or self._events):
            return
        self.gw.batcher.add(
            self.url,
            self.checkpoint(),
            scores=self._scores,
            statuses=self._statuses,
            events=self._events,
        )
        self._scores, self._statuses, self._events = [], [], []
        self._dirty = False

    def _add_score(
        self,
        t_ns: int,
        score: float,
        threshold: float,
        alarm: bool,
        rms: float,
        kurtosis: float,
        seq: int,
        model: str,
        *,
        shadow: bool,
    ) -> None:
        assert self.sensor is not None
        asset = self.gw.config.asset
        last = self.shadow_last_time_ns if shadow else self.last_time_ns
        t_ns = max(t_ns, last + 1)
        try:
            point = ScorePoint(
                t_ns,
                self.sensor,
                asset,
                model,
                float(score),
                float(threshold),
                bool(alarm),
                float(rms),
                float(kurtosis),
                seq,
            )
        except ValueError as exc:
            with self.lock:
                self.invalid += 1
            if self.invalid == 1 or self.invalid % 1000 == 0:
                log.warning(
                    "%s: invalid score point (%s), %d so far", self.sensor, exc, self.invalid
                )
            return
        self._scores.append(point)
        if shadow:
            self.shadow_last_time_ns = t_ns
        else:
            self.last_time_ns = t_ns
        with self.lock:
            self.scores += 1
        previous = self.shadow_alarm if shadow else self.alarm
        if previous != bool(alarm) and (previous is not None or alarm):
            kind = "alarm" if alarm else "alarm_cleared"
            text = f"{'host' if shadow else 'device'} score {score:.4g}, threshold {threshold:.4g}"
            self._events.append(Event(t_ns, kind, self.sensor, asset, text, "gateway"))
        if shadow:
            self.shadow_alarm = bool(alarm)
        else:
            self.alarm = bool(alarm)

    def _status(self, now_ns: int) -> SensorStatus:
        assert self.sensor is not None
        self._status_sent_ns = now_ns
        self._next_status = time.monotonic() + self.gw.config.status_interval_s
        return SensorStatus(
            now_ns,
            self.sensor,
            self.gw.config.asset,
            self.firmware,
            self.model_hash,
            self.sample_rate,
            self.crc_errors,
            self.dropped,
        )

    def due_status(self, now: float) -> SensorStatus | None:
        """A status point when one is due (called by the reader thread)."""
        if self.sensor is None or now < self._next_status:
            return None
        if self.last_seen_ns == self._status_sent_ns or not self.last_seen_ns:
            return None
        return self._status(self.last_seen_ns)

    def final_status(self) -> SensorStatus | None:
        if self.sensor is None or not self.last_seen_ns:
            return None
        return self._status(self.last_seen_ns)  # same time: replaces that point's counters

    # -- the reader thread ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        cfg = self.gw.config
        backoff = cfg.reconnect_min_s
        first = True
        while not stop.is_set():
            try:
                port = self.gw.open_port(self.url)
            except Exception as exc:
                self._note_error(f"cannot open: {exc}")
                stop.wait(backoff)
                backoff = min(backoff * 2, cfg.reconnect_max_s)
                continue
            if not first:
                with self.lock:
                    self.reconnects += 1
            first = False
            backoff = cfg.reconnect_min_s
            with self.lock:
                self.connected = True
                self.last_error = ""
            try:
                self._read(port, stop)
            except Exception as exc:  # the port went away (or broke): reopen
                self._note_error(f"lost: {exc}")
            finally:
                with contextlib.suppress(Exception):
                    port.close()
                with self.lock:
                    self.connected = False
                    self._crc_base = self.crc_errors
                    self._text_base = (self.line_errors, self.skipped_bytes)
            if not stop.is_set():
                stop.wait(backoff)
                backoff = min(backoff * 2, cfg.reconnect_max_s)

    def _warn_unreadable(self, bad_lines: int) -> None:
        """A text stream with no sample line yet: say so (once, then every 1000 lines)."""
        if bad_lines == 1 or bad_lines % 1000 == 0:
            log.warning(
                "%s: text stream, %d line(s) not understood and no sample yet "
                "(a binary sensor? try --mode binary)",
                self.url,
                bad_lines,
            )

    def _note_error(self, text: str) -> None:
        with self.lock:
            changed = text != self.last_error
            self.last_error = text
        if changed:
            log.warning("%s: %s", self.url, text)

    def _read(self, port: Any, stop: threading.Event) -> None:
        decoder = StreamDecoder(mode=cast(Mode | None, self.gw.config.mode))
        with self.lock:
            self.mode = decoder.mode
        while not stop.is_set():
            data = port.read(max(1, port.in_waiting))
            now = time.monotonic()
            if data:
                arrival_ns = time.time_ns()
                frames = decoder.feed(data, now)
                stats = decoder.stats
                crc = int(getattr(stats, "crc_errors", 0))
                bad_lines = 0
                if isinstance(stats, AsciiStats):  # refused lines (clipped ones were kept)
                    bad_lines = stats.errors - stats.clipped
                lines_before, skipped_before = self._text_base
                with self.lock:
                    self.crc_errors = self._crc_base + crc
                    self.mode = decoder.mode
                    new_bad = lines_before + bad_lines - self.line_errors
                    self.line_errors = lines_before + bad_lines
                    self.skipped_bytes = skipped_before + decoder.skipped_bytes
                if new_bad > 0 and isinstance(stats, AsciiStats) and not stats.lines:
                    self._warn_unreadable(bad_lines)
                self.on_frames(frames, arrival_ns)
            self.check_waiting(now)
            status = self.due_status(now)
            if status is not None:
                self.gw.batcher.add(self.url, self.checkpoint(), statuses=[status])

    def report(self) -> LinkReport:
        with self.lock:
            return LinkReport(
                port=self.url,
                sensor=self.sensor,
                connected=self.connected,
                frames={k: self.frames.get(k, 0) for k in FRAME_KINDS},
                scores=self.scores,
                crc_errors=self.crc_errors,
                dropped_frames=self.dropped,
                reboots=self.reboots,
                reconnects=self.reconnects,
                invalid=self.invalid,
                last_seq=self.last_seq,
                last_error=self.last_error,
                mode=self.mode,
                line_errors=self.line_errors,
                skipped_bytes=self.skipped_bytes,
            )


def _kind(frame: Frame) -> str:
    body = frame.body
    if isinstance(body, Score):
        return "SCORE"
    if isinstance(body, Samples):
        return "SAMPLES"
    if isinstance(body, Hello):
        return "HELLO"
    if isinstance(body, Text):
        return "TEXT"
    assert isinstance(body, Unknown)
    return "UNKNOWN"

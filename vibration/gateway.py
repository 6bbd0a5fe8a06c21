"""The gateway: many sensors' serial links in, score points out (``tinypdm monitor``).

One thread per port reads bytes (ports opened with ``serial.serial_for_url(url,
do_not_open=True)``, so paths, ptys, ``socket://`` and ``loop://`` all work), decodes frames
(:class:`~vibration.protocol.StreamDecoder`) and turns them into points:

* HELLO -> the sensor's identity and a :class:`~vibration.stores.SensorStatus`;
* SCORE -> a :class:`~vibration.stores.ScorePoint`, its device time mapped to wall time
  (:class:`~vibration.devtime.ClockMapper`), plus ``alarm`` / ``alarm_cleared`` events on
  alarm transitions;
* SAMPLES -> "shadow mode": when a :class:`ShadowScorer` is available for the sensor, the
  gateway scores the raw stream itself (model tag ``<hash>@host``);
* TEXT -> the log (warnings and errors also become ``note`` events).

A port that disappears (pty closed, USB unplugged) is reopened with exponential backoff while
the other ports carry on. Points go into a :class:`~vibration.stores.batcher.PointBatcher`;
one writer thread commits each batch, together with every link's checkpoint (last sequence
number accounted for, cumulative counters), to the spool of a
:class:`~vibration.stores.spool.SpooledStore`, which delivers it to the store and keeps it
through outages.

Accounting: every frame a sensor numbers ends up either in the store or in
``dropped_frames`` (a ``seq`` gap), also across a gateway killed with SIGKILL: the
checkpoint is committed atomically with the points, and a restarted gateway resumes from it,
counting frames that were read but not committed as dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from vibration.devtime import ClockConfig, ClockMapper
from vibration.protocol import Frame, Hello, Samples, Score, StreamDecoder, Text, Unknown
from vibration.stores.base import Event, ScorePoint, SensorStatus, Store, check_name
from vibration.stores.batcher import PointBatcher
from vibration.stores.factory import open_store
from vibration.stores.spool import DEFAULT_MAX_BYTES, SpooledStore, SpoolFull

__all__ = [
    "FRAME_KINDS",
    "Gateway",
    "GatewayConfig",
    "GatewayReport",
    "GatewayStatus",
    "LinkReport",
    "PipelineShadowScorer",
    "ShadowFactory",
    "ShadowResult",
    "ShadowScorer",
    "default_spool_dir",
    "format_status",
    "load_shadow_factory",
    "run_gateway",
]

log = logging.getLogger("tinypdm.gateway")

FRAME_KINDS = ("HELLO", "SAMPLES", "SCORE", "TEXT", "UNKNOWN")
_SEQ_MOD = 1 << 32
_SEQ_HALF = 1 << 31
_STATE_VERSION = 1
_MAX_WAITING = 4096


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayConfig:
    """Everything ``tinypdm monitor`` needs.

    Attributes
    ----------
    ports : tuple of str
        Serial ports: device paths, pty symlinks or pyserial URLs.
    store_url : str
        Where points go (:func:`~vibration.stores.open_store`).
    asset : str
        The asset tag of every sensor on these ports.
    spool_dir : str or None
        Spool directory; None: :func:`default_spool_dir` of the store.
    spool_max_bytes : int
        Spool size cap.
    baudrate : int
        Line speed of real UARTs (ptys and sockets ignore it).
    batch_points, batch_interval_s
        A batch is committed at this many points or this age.
    status_interval_s : float
        A SensorStatus point per sensor at most this often (and at each HELLO).
    hello_wait_s : float
        How long frames of an unknown sensor wait for its HELLO before the port's name is
        used as the sensor's name.
    reconnect_min_s, reconnect_max_s : float
        Backoff between attempts to reopen a lost port (doubling).
    read_timeout_s : float
        Longest blocking read (bounds how fast a stop is noticed).
    drain_timeout_s : float
        At stop, how long to wait for the spool to reach the store.
    clock : ClockConfig
        Device-time mapping parameters.
    """

    ports: tuple[str, ...]
    store_url: str
    asset: str = "default"
    spool_dir: str | None = None
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    baudrate: int = 921600
    batch_points: int = 2000
    batch_interval_s: float = 1.0
    status_interval_s: float = 10.0
    hello_wait_s: float = 15.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    read_timeout_s: float = 0.1
    drain_timeout_s: float = 10.0
    clock: ClockConfig = field(default_factory=ClockConfig)

    def __post_init__(self) -> None:
        if isinstance(self.ports, str) or not self.ports:
            raise ValueError(f"ports must be a non-empty tuple of URLs, got {self.ports!r}")
        object.__setattr__(self, "ports", tuple(self.ports))
        if len(set(self.ports)) != len(self.ports):
            raise ValueError(f"ports must be distinct, got {self.ports!r}")
        check_name(self.asset, "asset")
        for name in (
            "batch_interval_s",
            "status_interval_s",
            "hello_wait_s",
            "reconnect_min_s",
            "reconnect_max_s",
            "read_timeout_s",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not self.drain_timeout_s >= 0:
            raise ValueError(f"drain_timeout_s must be >= 0, got {self.drain_timeout_s!r}")
        if isinstance(self.batch_points, bool) or not (
            isinstance(self.batch_points, int) and self.batch_points > 0
        ):
            raise ValueError(f"batch_points must be a positive int, got {self.batch_points!r}")


def default_spool_dir(store_url: str) -> Path:
    """``$XDG_STATE_HOME/tinypdm/spool/<hash of the store URL>`` (``~/.local/state`` by
    default): one spool per store, so that points spooled for one store are never replayed
    into another."""
    from vibration.stores.base import redact_url

    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local/state")
    digest = hashlib.sha256(redact_url(store_url).encode()).hexdigest()[:16]
    return Path(base) / "tinypdm" / "spool" / digest


# -- shadow mode hook ---------------------------------------------------------------------------


class ShadowResult(NamedTuple):
    """One window scored on the host: the same fields as a SCORE frame."""

    t_us: int
    score: float
    threshold: float
    alarm: bool
    over: bool
    rms: float
    kurtosis: float


class ShadowScorer(Protocol):
    """Scores a sensor's raw stream on the host with the device's exact numbers.

    ``feed`` takes each SAMPLES block in order and returns the windows it completed;
    ``reset`` forgets partial windows (after a gap or a reboot).
    """

    model_tag: str

    def feed(self, samples: Samples) -> list[ShadowResult]: ...

    def reset(self) -> None: ...


#: Builds a scorer for a sensor from its HELLO; None when it cannot score that sensor.
ShadowFactory = Callable[[Hello], ShadowScorer | None]


class PipelineShadowScorer:
    """A :class:`ShadowScorer` around a streaming pipeline such as
    :class:`firmware_export.host_build.HostPipeline` (the device's C, run on the host).

    Parameters
    ----------
    make_pipeline : callable
        Returns a fresh pipeline: ``push(int16 array (n, axes)) -> ndarray (k, 8)`` whose
        rows are ``sample_index, score, threshold, rms, kurtosis, crest, over, alarm``,
        ``sample_index`` counting samples from 0 at the pipeline's creation.
    sample_rate_hz : float
        The stream's sample rate (to turn sample indices into device time).
    model_tag : str
        The ``model`` tag of the points it makes.
    """

    def __init__(
        self, make_pipeline: Callable[[], Any], sample_rate_hz: float, model_tag: str
    ) -> None:
        if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz!r}")
        self._make = make_pipeline
        self.sample_rate_hz = float(sample_rate_hz)
        self.model_tag = model_tag
        self.reset()

    def reset(self) -> None:
        self._pipeline = self._make()
        self._t0_us: int | None = None  # device time of sample index 0

    def feed(self, samples: Samples) -> list[ShadowResult]:
        if self._t0_us is None:
            self._t0_us = int(samples.t_us)
        rows = self._pipeline.push(samples.samples)
        us_per_sample = 1e6 / self.sample_rate_hz
        return [
            ShadowResult(
                self._t0_us + round(r[0] * us_per_sample),
                float(r[1]),
                float(r[2]),
                bool(r[7]),
                bool(r[6]),
                float(r[3]),
                float(r[4]),
            )
            for r in rows
        ]


def load_shadow_factory(bundle: str | os.PathLike[str]) -> ShadowFactory:
    """Shadow scorers from an exported firmware bundle (``tinypdm export``).

    Uses :class:`firmware_export.scorer.Int8Scorer` with its ``"c"`` engine: the bundle's
    own C pipeline compiled for this machine, so host scores are the device's numbers. A
    sensor gets a scorer when its HELLO says it streams samples, it has the axis the model
    scores and its sample rate is the model's; the points are tagged
    ``<first 12 hex digits of the model's SHA-256>@host``.

    Raises
    ------
    ModelError
        Not a bundle, or its C does not build here.
    """
    from vibration.errors import ModelError, TinyPdmError

    try:
        from firmware_export.scorer import Int8Scorer

        scorer = Int8Scorer(Path(bundle))
    except TinyPdmError as exc:
        raise ModelError(f"shadow mode: cannot use bundle {str(bundle)!r}: {exc}") from None
    except ImportError as exc:  # pragma: no cover - firmware_export ships with tinypdm
        raise ModelError(f"shadow mode needs firmware_export: {exc}") from None
    cfg = scorer.feature_config
    tag = hashlib.sha256(scorer.bundle.tflite_bytes()).hexdigest()[:12] + "@host"

    def factory(hello: Hello) -> ShadowScorer | None:
        rate_ok = abs(hello.sample_rate_hz - cfg.sample_rate) <= 1e-3 * cfg.sample_rate
        if hello.axes <= cfg.axis or not rate_ok:
            log.warning(
                "%s: no shadow scoring: %d axes at %g Hz, the model scores axis %d at %g Hz",
                hello.device_id,
                hello.axes,
                hello.sample_rate_hz,
                cfg.axis,
                cfg.sample_rate,
            )
            return None

        def make() -> Any:
            pipe = scorer.pipeline()
            pipe.set_scale(float(hello.scale))
            return pipe

        return PipelineShadowScorer(make, float(hello.sample_rate_hz), tag)

    return factory


# -- reports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkReport:
    """One port: who is on it and its counters (``crc_errors``, ``dropped_frames`` are
    cumulative across restarts of the gateway; the others count this run)."""

    port: str
    sensor: str | None
    connected: bool
    frames: dict[str, int]
    scores: int
    crc_errors: int
    dropped_frames: int
    reboots: int
    reconnects: int
    invalid: int
    last_seq: int | None
    last_error: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class GatewayStatus:
    """A snapshot for the status line."""

    elapsed_s: float
    sensors: int
    connected: int
    ports: int
    scores: int
    scores_per_s: float
    queued: int
    spool_pending: int
    points_written: int
    spooled: int
    lost: int
    crc_errors: int
    dropped_frames: int
    store_error: str


@dataclass(frozen=True)
class GatewayReport:
    """What a run did; :meth:`as_dict` is ``tinypdm monitor --json``.

    ``scores`` counts SCORE frames plus host-scored windows; ``points_written`` every point
    (scores, statuses, events) the store accepted during the run, replays of an earlier
    run's spool included; ``spooled`` the points that had to wait for the store; ``lost``
    the points that will never reach it (spool full, buffer overflow, or ``rejected`` by
    the store); ``invalid`` SCORE frames with non-finite values; ``crc_errors`` and
    ``dropped_frames`` are the serial links' cumulative counters.
    """

    seconds: float
    frames: dict[str, int]
    scores: int
    points_written: int
    spooled: int
    lost: int
    rejected: int
    invalid: int
    spool_pending: int
    crc_errors: int
    dropped_frames: int
    reconnects: int
    links: tuple[LinkReport, ...]
    store: str
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": dict(self.frames),
            "scores": self.scores,
            "points_written": self.points_written,
            "spooled": self.spooled,
            "lost": self.lost,
            "rejected": self.rejected,
            "invalid": self.invalid,
            "spool_pending": self.spool_pending,
            "crc_errors": self.crc_errors,
            "dropped_frames": self.dropped_frames,
            "reconnects": self.reconnects,
            "seconds": round(self.seconds, 3),
            "store": self.store,
            "last_error": self.last_error,
            "sensors": _by_sensor(self.links),
        }


def _by_sensor(links: tuple[LinkReport, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for lk in links:
        key = lk.sensor or lk.port
        out[key if key not in out else lk.port] = lk.as_dict()
    return out


def format_status(s: GatewayStatus) -> str:
    """One status line: ``3/3 ports, 3 sensors | 30.0 scores/s | queue 12 | spool 0 |
    written 900 | lost 0 | crc 0 dropped 2 | store ok``."""
    store = "store ok" if not s.store_error else f"store: {s.store_error}"
    return (
        f"{s.connected}/{s.ports} ports, {s.sensors} sensors | {s.scores_per_s:.1f} scores/s | "
        f"queue {s.queued} | spool {s.spool_pending} | written {s.points_written} | "
        f"lost {s.lost} | crc {s.crc_errors} dropped {s.dropped_frames} | {store}"
    )


# -- one port -----------------------------------------------------------------------------------


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


class _Link:
    """The state of one port, owned by its reader thread (snapshots under ``lock``)."""

    def __init__(self, gw: Gateway, url: str, saved: dict[str, Any] | None) -> None:
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
        self.shadow: ShadowScorer | None = None
        self.crc_errors = int(saved.get("crc_errors", 0)) if saved else 0
        self.dropped = int(saved.get("dropped_frames", 0)) if saved else 0
        self._crc_base = self.crc_errors
        self.frames: Counter[str] = Counter()
        self.scores = 0
        self.reboots = 0
        self.reconnects = 0
        self.invalid = 0
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

    def _account_seq(self, frame: Frame) -> None:
        seq = frame.seq
        body = frame.body
        if isinstance(body, Hello) and self._hello_name(body) != self.sensor:
            self.last_seq = None  # another device on this port: its numbering is its own
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

    def _process(self, frame: Frame, arrival_ns: int) -> None:
        if not self._pending:
            self._held = self.checkpoint()
        self._account_seq(frame)
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
                self._events.append(
                    Event(
                        arrival_ns,
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
            if not stop.is_set():
                stop.wait(backoff)
                backoff = min(backoff * 2, cfg.reconnect_max_s)

    def _note_error(self, text: str) -> None:
        with self.lock:
            changed = text != self.last_error
            self.last_error = text
        if changed:
            log.warning("%s: %s", self.url, text)

    def _read(self, port: Any, stop: threading.Event) -> None:
        decoder = StreamDecoder()
        while not stop.is_set():
            data = port.read(max(1, port.in_waiting))
            now = time.monotonic()
            if data:
                arrival_ns = time.time_ns()
                frames = decoder.feed(data, now)
                crc = int(getattr(decoder.stats, "crc_errors", 0))
                with self.lock:
                    self.crc_errors = self._crc_base + crc
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


# -- the gateway --------------------------------------------------------------------------------


class Gateway:
    """Read ``config.ports``, write points to ``config.store_url`` through a spool.

    Parameters
    ----------
    config : GatewayConfig
    shadow : ShadowFactory, optional
        Builds host-side scorers for sensors that stream raw samples.
    open_port : callable, optional
        ``url -> open serial port`` (default :func:`vibration.serial_link.open_port`).
    store : Store, optional
        Use this store instead of opening ``config.store_url`` (owned by the gateway).

    Use :meth:`start` / :meth:`stop` (returns the :class:`GatewayReport`), or :meth:`run`.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        shadow: ShadowFactory | None = None,
        open_port: Callable[[str], Any] | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.shadow = shadow
        self._open_port = open_port
        self._inner = store
        self.batcher = PointBatcher(config.batch_points, config.batch_interval_s)
        self.store: SpooledStore | None = None
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._started = 0.0
        self._lost = 0
        self._last_error = ""
        self._rate_mark = (0.0, 0)

    def open_port(self, url: str) -> Any:
        if self._open_port is not None:
            return self._open_port(url)
        from vibration.serial_link import open_port

        return open_port(url, baudrate=self.config.baudrate, timeout=self.config.read_timeout_s)

    def start(self) -> Gateway:
        """Open the store and spool, then start the writer and one reader per port.

        Raises
        ------
        StoreError
            The store URL is bad or the spool cannot be used (e.g. locked by another
            gateway). An unreachable store is fine: points are spooled.
        """
        cfg = self.config
        inner = self._inner if self._inner is not None else open_store(cfg.store_url)
        spool_dir = Path(cfg.spool_dir) if cfg.spool_dir else default_spool_dir(cfg.store_url)
        try:
            self.store = SpooledStore(inner, spool_dir, max_bytes=cfg.spool_max_bytes)
        except BaseException:
            inner.close()
            raise
        state = self.store.spool.load_state() or {}
        saved_links = state.get("links", {}) if state.get("version") == _STATE_VERSION else {}
        self._links = [_Link(self, url, saved_links.get(url)) for url in cfg.ports]
        self._started = time.monotonic()
        self._rate_mark = (self._started, 0)
        writer = threading.Thread(target=self._write_loop, name="gateway-writer", daemon=True)
        writer.start()
        self._writer = writer
        for link in self._links:
            t = threading.Thread(
                target=link.run, args=(self._stop,), name=f"port {link.url}", daemon=True
            )
            t.start()
            self._threads.append(t)
        return self

    def _write_loop(self) -> None:
        assert self.store is not None
        while True:
            item = self.batcher.take(timeout=0.5)
            if item is None:
                if self.batcher.closed:
                    return
                continue
            batch, links = item
            try:
                self.store.commit(batch, {"version": _STATE_VERSION, "links": links})
            except SpoolFull as exc:
                self._lost += exc.lost
                self._last_error = str(exc)
                log.error("%s", exc)
            except Exception as exc:  # the spool's disk failed: count, never hide
                self._lost += len(batch)
                self._last_error = str(exc)
                log.error("cannot commit %d points: %s", len(batch), exc)

    def status(self) -> GatewayStatus:
        """A snapshot of the counters (thread-safe)."""
        assert self.store is not None
        reports = [lk.report() for lk in self._links]
        st = self.store.stats()
        now = time.monotonic()
        scores = sum(r.scores for r in reports)
        t0, s0 = self._rate_mark
        rate = (scores - s0) / (now - t0) if now > t0 else 0.0
        if now - t0 >= 1.0:
            self._rate_mark = (now, scores)
        return GatewayStatus(
            elapsed_s=now - self._started,
            sensors=sum(1 for r in reports if r.sensor is not None),
            connected=sum(1 for r in reports if r.connected),
            ports=len(reports),
            scores=scores,
            scores_per_s=rate,
            queued=self.batcher.pending,
            spool_pending=st.pending_points,
            points_written=st.written_total,
            spooled=st.spooled_total,
            lost=self._lost + st.lost_total + st.rejected_total + self.batcher.overflowed,
            crc_errors=sum(r.crc_errors for r in reports),
            dropped_frames=sum(r.dropped_frames for r in reports),
            store_error=st.last_error,
        )

    def stop(self) -> GatewayReport:
        """Stop reading, commit what is buffered, give the spool ``drain_timeout_s`` to reach
        the store, close everything and report."""
        assert self.store is not None
        self._stop.set()
        for t in self._threads:
            t.join()
        for link in self._links:  # scores still waiting for the clock to settle
            link.flush()
        for link in self._links:  # a last status with the final counters
            final = link.final_status()
            if final is not None:
                self.batcher.add(link.url, link.checkpoint(), statuses=[final])
        self.batcher.close()
        self._writer.join()
        if self.config.drain_timeout_s > 0:
            self.store.drain(self.config.drain_timeout_s)
        elapsed = time.monotonic() - self._started
        links = tuple(lk.report() for lk in self._links)
        st = self.store.stats()
        self.store.close()
        frames = {k: sum(lk.frames[k] for lk in links) for k in FRAME_KINDS}
        return GatewayReport(
            seconds=elapsed,
            frames=frames,
            scores=sum(lk.scores for lk in links),
            points_written=st.written_total,
            spooled=st.spooled_total,
            lost=self._lost + st.lost_total + st.rejected_total + self.batcher.overflowed,
            rejected=st.rejected_total,
            invalid=sum(lk.invalid for lk in links),
            spool_pending=st.pending_points,
            crc_errors=sum(lk.crc_errors for lk in links),
            dropped_frames=sum(lk.dropped_frames for lk in links),
            reconnects=sum(lk.reconnects for lk in links),
            links=links,
            store=self.store.url,
            last_error=self._last_error or st.last_error,
        )

    def run(
        self,
        seconds: float | None = None,
        *,
        stop_event: threading.Event | None = None,
        on_status: Callable[[GatewayStatus], None] | None = None,
        status_every_s: float = 0.5,
    ) -> GatewayReport:
        """Start, run for ``seconds`` (None: until ``stop_event`` is set), stop, report."""
        stop = stop_event if stop_event is not None else threading.Event()
        self.start()
        try:
            deadline = None if seconds is None else self._started + seconds
            while not stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wait = status_every_s if deadline is None else min(status_every_s, deadline - now)
                if stop.wait(max(0.0, wait)):
                    break
                if on_status is not None:
                    on_status(self.status())
        finally:
            report = self.stop()
        return report


def run_gateway(
    config: GatewayConfig,
    seconds: float | None = None,
    *,
    stop_event: threading.Event | None = None,
    on_status: Callable[[GatewayStatus], None] | None = None,
    shadow: ShadowFactory | None = None,
) -> GatewayReport:
    """Run a :class:`Gateway` (the library form of ``tinypdm monitor``)."""
    gw = Gateway(config, shadow=shadow)
    return gw.run(seconds, stop_event=stop_event, on_status=on_status)

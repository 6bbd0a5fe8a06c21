"""The score-store interface: three point types, one result type and the ``Store`` protocol.

Every backend (:mod:`vibration.telemetry.stores.sqlite`, :mod:`vibration.telemetry.stores.influx`)
implements
:class:`Store` with the same schema and the same query semantics; one contract test suite
runs against all of them. The schema is documented in ``docs/storage.md``:

* ``anomaly_score``: tags ``sensor, asset, model``; fields ``score, threshold, alarm, rms,
  kurtosis, seq`` and, from protocol version 2 devices (absent otherwise), ``state,
  speed_rpm, velocity_rms_mm_s, iso_zone, top_features``.
* ``sensor_status``: tags ``sensor, asset``; fields ``firmware, model_hash, sample_rate,
  crc_errors, dropped_frames, last_seen``.
* ``event``: tags ``kind, sensor, asset``; fields ``text, author`` and ``expires_ns``
  (shelving only).
* ``evidence``: tags ``sensor, asset``; the raw window(s) of an alarm onset
  (:mod:`vibration.telemetry.stores.evidence`).

A point is identified by its measurement, tags and time: writing it twice stores it once
(the spool replays batches at least once and relies on this).
"""

from __future__ import annotations

import math
import os
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from vibration.errors import StoreError
from vibration.telemetry.stores.evidence import decode_samples, encode_samples
from vibration.validation import is_int, is_integer

__all__ = [
    "ACK_KINDS",
    "ALARM_KINDS",
    "EVENT_KINDS",
    "PASSWORD_ENV",
    "AlarmActions",
    "Event",
    "Evidence",
    "PartialWriteError",
    "ScorePoint",
    "ScoreSeries",
    "SensorStatus",
    "Store",
    "StoreURLError",
    "check_name",
    "check_range",
    "redact_url",
    "shelved_sensors",
    "store_url_with_password",
]

#: Environment variable with the store password, for a URL that names only the user.
PASSWORD_ENV = "TINYPDM_INFLUX_PASSWORD"

EVENT_KINDS = (
    "alarm_raised",
    "alarm_cleared",
    "alarm_acknowledged",
    "alarm_shelved",
    "alarm_unshelved",
    "maintenance",
    "note",
    # written before the alarm lifecycle had its own names; still read (and accepted):
    "alarm",  # = alarm_raised
    "ack",  # = alarm_acknowledged
)
#: kinds that mean "the alarm was raised" (the second is the pre-lifecycle name)
ALARM_KINDS = ("alarm_raised", "alarm")
#: kinds that mean "a person acknowledged the alarm" (the second is the pre-lifecycle name)
ACK_KINDS = ("alarm_acknowledged", "ack")
_MAX_FEATURE = 254

_MAX_NAME = 128
_MAX_TIME_NS = 2**63 - 1


class StoreURLError(StoreError, ValueError):
    """A store URL that cannot be parsed or names an unknown backend.

    Both a :class:`~vibration.errors.StoreError` (the CLI prints one line) and a
    ``ValueError`` (it is a bad argument).
    """


class PartialWriteError(StoreError):
    """The store accepted part of a batch and rejected the rest (``dropped`` points)."""

    def __init__(self, message: str, dropped: int) -> None:
        super().__init__(message)
        self.dropped = dropped


@lru_cache(maxsize=4096)
def _name_ok(name: str) -> bool:
    return (
        0 < len(name) <= _MAX_NAME
        and name.isprintable()
        and "\\" not in name
        and name == name.strip()
    )


def check_name(name: object, what: str = "name") -> str:
    """Validate a sensor, asset or model name and return it.

    A name is 1 to 128 printable characters (spaces, quotes, commas and other punctuation
    are fine: the backends escape or bind them), without backslashes, control characters
    or leading/trailing whitespace.

    Raises
    ------
    ValueError
        When ``name`` is not such a string.
    """
    if not isinstance(name, str) or not _name_ok(name):
        raise ValueError(
            f"{what} must be 1-{_MAX_NAME} printable characters without backslashes or "
            f"leading/trailing spaces, got {name!r}"
        )
    return name


def _check_time(time_ns: object) -> None:
    if not is_integer(time_ns):
        raise ValueError(f"time_ns must be an int, got {time_ns!r}")
    if not 0 <= time_ns <= _MAX_TIME_NS:
        raise ValueError(f"time_ns must be in [0, 2**63), got {time_ns!r}")


def _check_finite(**values: float) -> None:
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{key} must be finite, got {value!r}")


def _check_optional_int(key: str, value: object, hi: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= hi:
        raise ValueError(f"{key} must be None or an int in [0, {hi}], got {value!r}")


def _check_count(**values: int) -> None:
    for key, value in values.items():
        if not is_integer(value) or value < 0:
            raise ValueError(f"{key} must be a non-negative int, got {value!r}")


@dataclass(frozen=True, slots=True)
class ScorePoint:
    """One scored window of one sensor (measurement ``anomaly_score``).

    ``time_ns`` is wall time (ns since the Unix epoch) of the window's last sample;
    ``seq`` is the frame counter of the SCORE frame that carried it (0 when host-scored).

    The fields after ``seq`` come from protocol version 2 devices; ``None`` (``()``) means
    "not provided" (a version-1 device, or a store written before them):
    ``state`` 0 ok, 1 over, 2 alarm, 3 unknown operating point; ``speed_rpm`` shaft speed;
    ``velocity_rms_mm_s`` ISO 10816/20816 velocity RMS; ``iso_zone`` 0 none, 1..4 = A..D;
    ``top_features`` the indices of the model features with the largest reconstruction
    errors, largest first (at most 2).
    """

    time_ns: int
    sensor: str
    asset: str
    model: str
    score: float
    threshold: float
    alarm: bool
    rms: float
    kurtosis: float
    seq: int = 0
    state: int | None = None
    speed_rpm: float | None = None
    velocity_rms_mm_s: float | None = None
    iso_zone: int | None = None
    top_features: tuple[int, ...] = ()

    STATE_OK: ClassVar[int] = 0
    STATE_OVER: ClassVar[int] = 1
    STATE_ALARM: ClassVar[int] = 2
    STATE_UNKNOWN: ClassVar[int] = 3

    def __post_init__(self) -> None:
        _check_time(self.time_ns)
        check_name(self.sensor, "sensor")
        check_name(self.asset, "asset")
        check_name(self.model, "model")
        _check_finite(
            score=self.score, threshold=self.threshold, rms=self.rms, kurtosis=self.kurtosis
        )
        _check_count(seq=self.seq)
        _check_optional_int("state", self.state, 3)
        _check_optional_int("iso_zone", self.iso_zone, 4)
        for key in ("speed_rpm", "velocity_rms_mm_s"):
            value = getattr(self, key)
            if value is not None:
                _check_finite(**{key: value})
        top = self.top_features
        if not isinstance(top, tuple):  # a list from JSON (the spool) or a caller
            top = tuple(top)
            object.__setattr__(self, "top_features", top)
        if len(top) > 2:
            raise ValueError(f"top_features must hold at most 2 indices, got {top!r}")
        for index in top:
            _check_optional_int("top_features index", index, _MAX_FEATURE)

    @property
    def health(self) -> float:
        """The health index ``score / threshold`` (1.0 = alarm level; inf for threshold 0)."""
        if self.threshold > 0:
            return self.score / self.threshold
        return math.inf if self.score > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SensorStatus:
    """What the gateway knows about one sensor (measurement ``sensor_status``).

    ``time_ns`` is when the sensor was last seen (wall time, ns); ``crc_errors`` and
    ``dropped_frames`` are cumulative counters of its serial link.
    """

    time_ns: int
    sensor: str
    asset: str
    firmware: str = ""
    model_hash: str = ""
    sample_rate: float = 0.0
    crc_errors: int = 0
    dropped_frames: int = 0

    def __post_init__(self) -> None:
        _check_time(self.time_ns)
        check_name(self.sensor, "sensor")
        check_name(self.asset, "asset")
        if not isinstance(self.firmware, str) or not isinstance(self.model_hash, str):
            raise ValueError(
                f"firmware and model_hash must be str, got {self.firmware!r}, {self.model_hash!r}"
            )
        _check_finite(sample_rate=self.sample_rate)
        _check_count(crc_errors=self.crc_errors, dropped_frames=self.dropped_frames)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a sensor (measurement ``event``).

    ``kind`` is one of :data:`EVENT_KINDS`: the alarm lifecycle ``"alarm_raised"``,
    ``"alarm_cleared"`` (written by the gateway), ``"alarm_acknowledged"`` (``author`` who,
    ``time_ns`` when, ``text`` the comment), ``"alarm_shelved"`` (``text`` the reason,
    ``expires_ns`` when the shelving ends) and ``"alarm_unshelved"``; ``"maintenance"``
    and ``"note"``. ``"alarm"`` and ``"ack"`` are the names older versions wrote for
    ``alarm_raised`` and ``alarm_acknowledged`` (:data:`ALARM_KINDS`, :data:`ACK_KINDS`).
    ``text`` and ``author`` are free text.
    """

    time_ns: int
    kind: str
    sensor: str
    asset: str
    text: str = ""
    author: str = ""
    expires_ns: int | None = None

    def __post_init__(self) -> None:
        _check_time(self.time_ns)
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {self.kind!r}")
        check_name(self.sensor, "sensor")
        check_name(self.asset, "asset")
        if not isinstance(self.text, str) or not isinstance(self.author, str):
            raise ValueError(f"text and author must be str, got {self.text!r}, {self.author!r}")
        if self.expires_ns is not None:
            _check_time(self.expires_ns)
            if self.kind != "alarm_shelved":
                raise ValueError(f"only alarm_shelved events expire, got kind {self.kind!r}")


def shelved_sensors(events: Sequence[Event], now_ns: int) -> dict[str, Event]:
    """The sensors whose alarms are shelved at ``now_ns``, with the shelving event.

    ``events`` oldest first (as :meth:`Store.events` returns them): a sensor is shelved
    when its latest ``alarm_shelved``/``alarm_unshelved`` event is a shelving that has
    not expired (``now_ns < expires_ns``; no expiry: until unshelved).
    """
    last: dict[str, Event] = {}
    for ev in events:
        if ev.kind in ("alarm_shelved", "alarm_unshelved"):
            last[ev.sensor] = ev
    return {
        sensor: ev
        for sensor, ev in last.items()
        if ev.kind == "alarm_shelved" and (ev.expires_ns is None or now_ns < ev.expires_ns)
    }


class AlarmActions:
    """What a person does to an alarm, recorded as events (every store has these).

    Each method writes one :class:`Event` with :meth:`write_events` and returns it;
    ``time_ns`` defaults to now.
    """

    def write_events(self, events: Sequence[Event]) -> None:
        raise NotImplementedError

    def acknowledge_alarm(
        self, sensor: str, asset: str, who: str, comment: str = "", *, time_ns: int | None = None
    ) -> Event:
        """Record that ``who`` acknowledged the sensor's alarm (``alarm_acknowledged``)."""
        return self._record("alarm_acknowledged", sensor, asset, who, comment, _now(time_ns))

    def shelve_alarm(
        self,
        sensor: str,
        asset: str,
        who: str,
        reason: str,
        expires_ns: int,
        *,
        time_ns: int | None = None,
    ) -> Event:
        """Record that ``who`` shelved the sensor's alarms until ``expires_ns``
        (``alarm_shelved``; the reason is required)."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"reason must be a non-empty text, got {reason!r}")
        now = _now(time_ns)
        if not is_int(expires_ns) or expires_ns <= now:
            raise ValueError(f"expires_ns must be an int after the shelving, got {expires_ns!r}")
        return self._record("alarm_shelved", sensor, asset, who, reason, now, expires_ns)

    def unshelve_alarm(
        self, sensor: str, asset: str, who: str, comment: str = "", *, time_ns: int | None = None
    ) -> Event:
        """Record that ``who`` ended the shelving early (``alarm_unshelved``)."""
        return self._record("alarm_unshelved", sensor, asset, who, comment, _now(time_ns))

    def _record(
        self,
        kind: str,
        sensor: str,
        asset: str,
        who: str,
        text: str,
        time_ns: int,
        expires_ns: int | None = None,
    ) -> Event:
        """Write one person's alarm action as an event (``who`` is required)."""
        if not isinstance(who, str) or not who.strip():
            raise ValueError(f"who must be a non-empty name, got {who!r}")
        event = Event(time_ns, kind, sensor, asset, text, who, expires_ns)
        self.write_events([event])
        return event


def _now(time_ns: int | None) -> int:
    return time.time_ns() if time_ns is None else time_ns


def _empty(dtype: type) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass(frozen=True)
class ScoreSeries:
    """Scores of one sensor over a time range, as columns (all of shape ``(n,)``).

    Raw (``bucket_s=None``): one row per point, ``score_max == score`` and ``count == 1``.
    Bucketed: one row per non-empty bucket, ``time_ns`` is the bucket start (buckets are
    aligned to multiples of ``bucket_s`` since the epoch), ``score``/``threshold``/``rms``/
    ``kurtosis`` are means, ``score_max`` the maximum, ``alarm`` true when any point of the
    bucket was in alarm, ``count`` the number of points.

    Attributes
    ----------
    time_ns : ndarray of int64, shape (n,)
    score, score_max, threshold, rms, kurtosis : ndarray of float64, shape (n,)
    alarm : ndarray of bool, shape (n,)
    count : ndarray of int64, shape (n,)
    speed_rpm, velocity_rms_mm_s : ndarray of float64, shape (n,)
        Means of the version-2 fields; NaN where no point had them.
    state : ndarray of int64, shape (n,)
        The point's state (bucketed: the largest, so an unknown operating point, 3, shows);
        -1 where not provided.
    """

    time_ns: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    score: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    score_max: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    threshold: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    alarm: np.ndarray = field(default_factory=lambda: _empty(np.bool_))
    rms: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    kurtosis: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    count: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    speed_rpm: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    velocity_rms_mm_s: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    state: np.ndarray = field(default_factory=lambda: _empty(np.int64))

    def __len__(self) -> int:
        return int(self.time_ns.shape[0])

    def columns(self) -> dict[str, np.ndarray]:
        """The columns by name (e.g. for ``pandas.DataFrame(series.columns())``)."""
        return {
            "time_ns": self.time_ns,
            "score": self.score,
            "score_max": self.score_max,
            "threshold": self.threshold,
            "alarm": self.alarm,
            "rms": self.rms,
            "kurtosis": self.kurtosis,
            "count": self.count,
            "speed_rpm": self.speed_rpm,
            "velocity_rms_mm_s": self.velocity_rms_mm_s,
            "state": self.state,
        }

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[object]]) -> ScoreSeries:
        """Build from rows ``(time_ns, score, score_max, threshold, alarm, rms, kurtosis,
        count[, speed_rpm, velocity_rms_mm_s, state])``; ``None`` (a NULL) becomes NaN, 0,
        False or (state) -1."""
        if not rows:
            return cls()

        def col(i: int, dtype: type, fill: object) -> np.ndarray:
            return np.array(
                [fill if len(r) <= i or r[i] is None else r[i] for r in rows], dtype=dtype
            )

        return cls(
            time_ns=col(0, np.int64, 0),
            score=col(1, np.float64, math.nan),
            score_max=col(2, np.float64, math.nan),
            threshold=col(3, np.float64, math.nan),
            alarm=col(4, np.bool_, False),
            rms=col(5, np.float64, math.nan),
            kurtosis=col(6, np.float64, math.nan),
            count=col(7, np.int64, 0),
            speed_rpm=col(8, np.float64, math.nan),
            velocity_rms_mm_s=col(9, np.float64, math.nan),
            state=col(10, np.int64, -1),
        )


@runtime_checkable
class Store(Protocol):
    """A score store. Every method may raise :class:`~vibration.errors.StoreUnavailable`
    (cannot reach the store now: retry later or spool) or
    :class:`~vibration.errors.StoreError` (the store refused: retrying will not help).

    Time ranges are half-open, ``start_ns <= t < end_ns``, in ns since the epoch.
    """

    @property
    def url(self) -> str:
        """The store's URL with credentials redacted."""
        ...

    def write_scores(self, points: Sequence[ScorePoint]) -> None:
        """Write score points (idempotent per sensor, asset, model and time)."""
        ...

    def write_status(self, statuses: Sequence[SensorStatus]) -> None:
        """Write sensor status points (idempotent per sensor, asset and time)."""
        ...

    def write_events(self, events: Sequence[Event]) -> None:
        """Write events (idempotent per kind, sensor, asset and time)."""
        ...

    def sensors(self) -> list[SensorStatus]:
        """The latest status of every sensor, sorted by sensor name."""
        ...

    def latest_scores(self) -> dict[str, ScorePoint]:
        """The latest score point of every sensor, by sensor name."""
        ...

    def query_scores(
        self, sensor: str, start_ns: int, end_ns: int, bucket_s: int | None = None
    ) -> ScoreSeries:
        """Scores of one sensor in ``[start_ns, end_ns)``, raw or downsampled server-side
        into ``bucket_s``-second buckets (see :class:`ScoreSeries`)."""
        ...

    def events(self, start_ns: int, end_ns: int, sensor: str | None = None) -> list[Event]:
        """Events in ``[start_ns, end_ns)``, oldest first, optionally of one sensor."""
        ...

    def count_scores(self, sensor: str | None = None) -> int:
        """Number of score points stored (of one sensor, or all)."""
        ...

    def acknowledge_alarm(
        self, sensor: str, asset: str, who: str, comment: str = "", *, time_ns: int | None = None
    ) -> Event:
        """Record an ``alarm_acknowledged`` event (see :class:`AlarmActions`)."""
        ...

    def shelve_alarm(
        self,
        sensor: str,
        asset: str,
        who: str,
        reason: str,
        expires_ns: int,
        *,
        time_ns: int | None = None,
    ) -> Event:
        """Record an ``alarm_shelved`` event (see :class:`AlarmActions`)."""
        ...

    def unshelve_alarm(
        self, sensor: str, asset: str, who: str, comment: str = "", *, time_ns: int | None = None
    ) -> Event:
        """Record an ``alarm_unshelved`` event (see :class:`AlarmActions`)."""
        ...

    def write_evidence(self, records: Sequence[Evidence]) -> None:
        """Write alarm evidence (idempotent per sensor, asset and time)."""
        ...

    def evidence(self, sensor: str, start_ns: int, end_ns: int) -> list[Evidence]:
        """Evidence of one sensor with onset in ``[start_ns, end_ns)``, oldest first."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


def check_range(start_ns: int, end_ns: int, bucket_s: int | None = None) -> None:
    """Validate query arguments (``ValueError`` on bad ones)."""
    for name, value in (("start_ns", start_ns), ("end_ns", end_ns)):
        if not is_integer(value):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if end_ns < start_ns:
        raise ValueError(f"end_ns must be >= start_ns, got {start_ns!r}..{end_ns!r}")
    if bucket_s is not None and (not is_int(bucket_s) or bucket_s <= 0):
        raise ValueError(f"bucket_s must be a positive int or None, got {bucket_s!r}")


def _credentials(url: str) -> tuple[str, str, str | None, str] | None:
    """``(scheme, user, password, rest)`` of ``scheme://user[:password]@rest``, else None.

    The credentials run to the last ``@`` before the query, so a password written with an
    unencoded ``/``, ``@`` or ``:`` is still recognised as a password (and kept secret).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    head = rest.split("?", 1)[0].split("#", 1)[0]
    if "@" not in head:
        return None
    cred = head.rpartition("@")[0]
    user, colon, password = cred.partition(":")
    if "/" in user:  # an @ in a path (sqlite:///dir@x/a.db), not credentials
        return None
    return scheme, user, password if colon else None, rest[len(cred) + 1 :]


def redact_url(url: str) -> str:
    """``url`` with the password of a ``scheme://user:password@host`` part replaced by ``***``.

    The one function that hides store passwords in messages, JSON and logs.
    """
    parts = _credentials(str(url))
    if parts is None:
        return str(url)
    scheme, user, _, rest = parts
    return f"{scheme}://{user}:***@{rest}"


def store_url_with_password(
    url: str, password: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str:
    """``url`` with its password filled in, so no command line has to carry it.

    For a URL naming a user but no password (``influxdb://USER@host/db``) the password is
    ``password`` (e.g. read from ``--store-password-file``), else the environment variable
    ``TINYPDM_INFLUX_PASSWORD``. A password written in the URL is percent-encoded where it
    holds ``/``, ``@``, ``:`` or other reserved characters. URLs without a user pass unchanged.

    Raises
    ------
    StoreURLError
        ``password`` given for a URL without a user, or given twice (URL and file).
    """
    parts = _credentials(url)
    if parts is None:
        if password is not None:
            raise StoreURLError(
                f"a store password needs a user in the URL (influxdb://USER@host/db), "
                f"got {redact_url(url)!r}"
            )
        return url
    scheme, user, in_url, rest = parts
    if password is not None and in_url is not None:
        raise StoreURLError(
            f"store password given twice (in the URL {redact_url(url)!r} and in a file): "
            "leave it out of the URL"
        )
    if password is None and in_url is None:
        env = os.environ if environ is None else environ
        password = env.get(PASSWORD_ENV) or None
    if password is not None:
        encoded = urllib.parse.quote(password, safe="")
    elif in_url is not None:
        encoded = urllib.parse.quote(in_url, safe="%")
    else:
        return url
    return f"{scheme}://{user}:{encoded}@{rest}"


# -- alarm evidence -------------------------------------------------------------------------

#: Samples (all axes together) one evidence record may hold: 1 MiB of int16.
MAX_EVIDENCE_SAMPLES = 1 << 19
_MAX_UNITS = 16


def _as_samples(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] < 1 or arr.shape[0] < 1:
        raise ValueError(f"samples must have shape (n, axes) with n, axes >= 1, got {arr.shape}")
    if arr.dtype != np.int16:
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"samples must be integers (int16 counts), got {arr.dtype}")
        if arr.min() < -32768 or arr.max() > 32767:
            raise ValueError("samples must fit in int16")
    if arr.size > MAX_EVIDENCE_SAMPLES:
        raise ValueError(f"at most {MAX_EVIDENCE_SAMPLES} samples per record, got {arr.size}")
    out = np.array(arr, dtype=np.int16, order="C")
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Evidence:
    """The raw window(s) behind one alarm onset.

    Attributes
    ----------
    time_ns : int
        The alarm's onset: the ``time_ns`` of its ``alarm`` event (wall time, ns).
    sensor, asset : str
        As in the alarm event.
    sample_rate : float
        Samples per second per axis (> 0).
    scale : float
        Physical units per count.
    units : str
        Physical units of ``count * scale`` (e.g. ``"g"``), at most 16 printable characters.
    samples : ndarray of int16, shape (n, axes)
        The raw counts, oldest first; the last ``window`` rows raised the alarm.
    window : int
        Samples per window (0: unknown, the whole record is one window).
    speed_rpm : float
        Shaft speed at the onset; NaN when unknown.
    model : str
        The ``model`` tag of the score that raised the alarm.
    source : str
        ``"device"`` (a SAMPLES burst, or the stream the device scored) or ``"host"``
        (the gateway's shadow scorer).
    """

    time_ns: int
    sensor: str
    asset: str
    sample_rate: float
    scale: float
    units: str
    samples: np.ndarray = field(repr=False)
    window: int = 0
    speed_rpm: float = math.nan
    model: str = ""
    source: str = "device"

    def __post_init__(self) -> None:
        _check_time(self.time_ns)
        check_name(self.sensor, "sensor")
        check_name(self.asset, "asset")
        if not (isinstance(self.sample_rate, int | float) and math.isfinite(self.sample_rate)):
            raise ValueError(f"sample_rate must be a finite number, got {self.sample_rate!r}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {self.sample_rate!r}")
        if not (isinstance(self.scale, int | float) and math.isfinite(self.scale)):
            raise ValueError(f"scale must be a finite number, got {self.scale!r}")
        if (
            not isinstance(self.units, str)
            or len(self.units) > _MAX_UNITS
            or not self.units.isprintable()
        ):
            raise ValueError(
                f"units must be <= {_MAX_UNITS} printable characters, got {self.units!r}"
            )
        object.__setattr__(self, "samples", _as_samples(self.samples))
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 0:
            raise ValueError(f"window must be a non-negative int, got {self.window!r}")
        speed = float(self.speed_rpm)
        if not (math.isnan(speed) or (math.isfinite(speed) and speed >= 0)):
            raise ValueError(f"speed_rpm must be >= 0 or NaN, got {self.speed_rpm!r}")
        object.__setattr__(self, "speed_rpm", speed)
        object.__setattr__(self, "sample_rate", float(self.sample_rate))
        object.__setattr__(self, "scale", float(self.scale))
        if not isinstance(self.model, str) or len(self.model) > 128:
            raise ValueError(f"model must be a str of <= 128 characters, got {self.model!r}")
        if self.source not in ("device", "host"):
            raise ValueError(f"source must be 'device' or 'host', got {self.source!r}")

    @property
    def n(self) -> int:
        """Samples per axis."""
        return int(self.samples.shape[0])

    @property
    def axes(self) -> int:
        return int(self.samples.shape[1])

    def physical(self, axis: int = 0) -> np.ndarray:
        """One axis in physical units (float64, shape ``(n,)``)."""
        return self.samples[:, axis].astype(np.float64) * self.scale

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Evidence):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.time_ns, self.sensor, self.asset))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (samples base64; NaN speed as None)."""
        return {
            "time_ns": int(self.time_ns),
            "sensor": self.sensor,
            "asset": self.asset,
            "sample_rate": self.sample_rate,
            "scale": self.scale,
            "units": self.units,
            "axes": self.axes,
            "samples": encode_samples(self.samples),
            "window": self.window,
            "speed_rpm": None if math.isnan(self.speed_rpm) else self.speed_rpm,
            "model": self.model,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Evidence:
        speed = doc.get("speed_rpm")
        return cls(
            time_ns=int(doc["time_ns"]),
            sensor=doc["sensor"],
            asset=doc["asset"],
            sample_rate=float(doc["sample_rate"]),
            scale=float(doc["scale"]),
            units=doc["units"],
            samples=decode_samples(doc["samples"], int(doc["axes"])),
            window=int(doc.get("window", 0)),
            speed_rpm=math.nan if speed is None else float(speed),
            model=doc.get("model", ""),
            source=doc.get("source", "device"),
        )

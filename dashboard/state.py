"""Pure logic of the dashboard: sensor states, fleet ordering, downsampling buckets.

Nothing here touches Streamlit or a store, so every rule is tested with plain values.

Sensor state, decided from the latest score point, the latest status (HELLO) and the
link counters seen a while ago (first rule that holds wins)::

    ALARM    the latest score point has its alarm flag set (an alarm latches: a sensor
             that goes silent while in alarm stays in ALARM, the reason says it is silent)
    OFFLINE  nothing heard (score or status) for longer than
             ``offline_factor x expected_interval_s``, or never heard at all
    UNKNOWN_OP the latest score says "unknown operating point" (protocol v2 ``state`` 3):
             the model was not trained at this speed/load, so it gives no verdict
             (label "unknown operating point"; advice: record healthy data there, retrain)
    WARNING  the latest score is at or above ``warn_fraction x threshold`` (this includes
             "over threshold, alarm policy not yet met"), or the link counters (CRC
             errors + dropped frames) grew during the last ``link_window_s``
    OK       everything else
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from vibration.telemetry.stores import ScorePoint, SensorStatus

__all__ = [
    "BUCKET_STEPS_S",
    "FleetRow",
    "LinkHistory",
    "SensorState",
    "StateRules",
    "alarm_periods",
    "choose_bucket_s",
    "classify",
    "clean_text",
    "fleet_row",
    "fleet_rows",
    "format_age",
    "raw_window_paths",
    "short_hash",
]

_NS = 1_000_000_000
_STATE_UNKNOWN = 3  # ScorePoint.STATE_UNKNOWN

#: Bucket widths (seconds) the sensor page may ask the store for.
BUCKET_STEPS_S: tuple[int, ...] = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip


class SensorState(enum.IntEnum):
    """State of one sensor; a larger value is worse (the fleet table sorts on it)."""

    OK = 0
    UNKNOWN_OP = 1
    WARNING = 2
    OFFLINE = 3
    ALARM = 4

    @property
    def label(self) -> str:
        if self is SensorState.UNKNOWN_OP:
            return "unknown operating point"
        return self.name.lower()


@dataclass(frozen=True)
class StateRules:
    """Thresholds of the state rules (see the module docstring).

    Parameters
    ----------
    expected_interval_s : float
        How often a healthy sensor is heard from (SCORE frames or HELLO), in seconds.
    offline_factor : float
        A sensor is offline after ``offline_factor x expected_interval_s`` of silence.
    warn_fraction : float
        Warn when ``score >= warn_fraction x threshold`` (0 < warn_fraction <= 1).
    link_window_s : float
        Window over which growing link counters raise a warning.
    """

    expected_interval_s: float = 10.0
    offline_factor: float = 6.0
    warn_fraction: float = 0.8
    link_window_s: float = 600.0

    def __post_init__(self) -> None:
        if not (self.expected_interval_s > 0 and math.isfinite(self.expected_interval_s)):
            raise ValueError(f"expected_interval_s must be > 0, got {self.expected_interval_s!r}")
        if not (self.offline_factor >= 1 and math.isfinite(self.offline_factor)):
            raise ValueError(f"offline_factor must be >= 1, got {self.offline_factor!r}")
        if not (0 < self.warn_fraction <= 1):
            raise ValueError(f"warn_fraction must be in (0, 1], got {self.warn_fraction!r}")
        if not (self.link_window_s > 0 and math.isfinite(self.link_window_s)):
            raise ValueError(f"link_window_s must be > 0, got {self.link_window_s!r}")

    @property
    def offline_after_s(self) -> float:
        return self.offline_factor * self.expected_interval_s


@dataclass(frozen=True)
class FleetRow:
    """One line of the fleet table.

    ``model_check`` is filled by the caller from the model registry
    (``"ok"``, ``"unknown"``, ``"outdated"``, ``"no model"``, ``""`` when not known).
    """

    sensor: str
    asset: str
    state: SensorState
    reason: str
    last_seen_ns: int | None
    age_s: float | None
    score: float | None = None
    threshold: float | None = None
    firmware: str = ""
    model_hash: str = ""
    model_name: str = ""
    model_check: str = ""
    crc_errors: int | None = None
    dropped_frames: int | None = None
    link_errors_new: int = 0
    speed_rpm: float | None = None
    velocity_rms_mm_s: float | None = None
    iso_zone: int | None = None
    top_features: tuple[int, ...] = ()
    shelved_until_ns: int | None = None

    @property
    def ratio(self) -> float | None:
        """Latest score over threshold (1.0 = at threshold), None when not defined."""
        if self.score is None or self.threshold is None or not self.threshold > 0:
            return None
        return self.score / self.threshold

    @property
    def health(self) -> float | None:
        """The health index: latest score / threshold (1.0 = alarm level)."""
        return self.ratio


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def classify(
    *,
    now_ns: int,
    rules: StateRules,
    score_time_ns: int | None = None,
    score: float | None = None,
    threshold: float | None = None,
    alarm: bool = False,
    status_time_ns: int | None = None,
    link_errors_now: int | None = None,
    link_errors_before: int | None = None,
    point_state: int | None = None,
) -> tuple[SensorState, str]:
    """Classify one sensor; returns ``(state, reason)`` where reason is one short phrase.

    Parameters
    ----------
    now_ns : int
        Wall-clock time of the decision, ns since the Unix epoch.
    score_time_ns, score, threshold, alarm
        The latest score point (None/False when the sensor never sent one).
    status_time_ns : int, optional
        Time of the latest status (HELLO) of the sensor.
    link_errors_now, link_errors_before : int, optional
        CRC errors + dropped frames in the latest status, and in the latest status that
        is at least ``rules.link_window_s`` old (None when there is none).
    point_state : int, optional
        The latest score's protocol-v2 ``state`` (3: unknown operating point).
    """
    seen = [t for t in (score_time_ns, status_time_ns) if t is not None]
    last_seen = max(seen) if seen else None
    silent_s = None if last_seen is None else max(0.0, (now_ns - last_seen) / _NS)
    stale = silent_s is None or silent_s > rules.offline_after_s

    if alarm:
        if stale and silent_s is not None:
            return SensorState.ALARM, f"alarm (then silent for {format_age(silent_s)})"
        return SensorState.ALARM, "alarm flag set in the latest score"
    if silent_s is None:
        return SensorState.OFFLINE, "never heard from"
    if stale:
        return SensorState.OFFLINE, f"silent for {format_age(silent_s)}"
    if point_state == _STATE_UNKNOWN:
        return SensorState.UNKNOWN_OP, (
            "unknown operating point: record healthy data at this operating point and "
            "retrain (`tinypdm train --from`)"
        )
    reasons: list[str] = []
    if _finite(score) and _finite(threshold) and threshold is not None and threshold > 0:
        assert score is not None
        if score > threshold:
            reasons.append(f"score {score / threshold:.0%} of threshold (over)")
        elif score >= rules.warn_fraction * threshold:
            reasons.append(f"score {score / threshold:.0%} of threshold")
    elif score is not None and not _finite(score):
        reasons.append("latest score is not a number")
    if (
        link_errors_now is not None
        and link_errors_before is not None
        and link_errors_now > link_errors_before
    ):
        reasons.append(f"+{link_errors_now - link_errors_before} link errors")
    if reasons:
        return SensorState.WARNING, "; ".join(reasons)
    return SensorState.OK, "ok"


def fleet_row(
    sensor: str,
    status: SensorStatus | None,
    point: ScorePoint | None,
    *,
    now_ns: int,
    rules: StateRules,
    link_errors_before: int | None = None,
    model_name: str = "",
    model_check: str = "",
    shelved_until_ns: int | None = None,
) -> FleetRow:
    """The fleet line of one sensor from its latest status and latest score point.

    ``model_name`` is the registry's name for the reported model ("" when unknown: the
    hash prefix is shown, else the score's model tag). ``shelved_until_ns``: the sensor's
    alarms are shelved until then (None: not shelved).
    """
    link_now = None if status is None else status.crc_errors + status.dropped_frames
    state, reason = classify(
        now_ns=now_ns,
        rules=rules,
        score_time_ns=None if point is None else point.time_ns,
        score=None if point is None else point.score,
        threshold=None if point is None else point.threshold,
        alarm=bool(point is not None and point.alarm),
        status_time_ns=None if status is None else status.time_ns,
        link_errors_now=link_now,
        link_errors_before=link_errors_before,
        point_state=None if point is None else point.state,
    )
    if shelved_until_ns is not None and state is SensorState.ALARM:
        reason += " (shelved)"
    seen = [x.time_ns for x in (point, status) if x is not None]
    last_seen = max(seen) if seen else None
    model_hash = status.model_hash if status is not None else ""
    if not model_name:
        model_name = short_hash(model_hash) if model_hash else (point.model if point else "")
    return FleetRow(
        sensor=sensor,
        asset=status.asset if status is not None else (point.asset if point else ""),
        state=state,
        reason=reason,
        last_seen_ns=last_seen,
        age_s=None if last_seen is None else max(0.0, (now_ns - last_seen) / _NS),
        score=None if point is None else point.score,
        threshold=None if point is None else point.threshold,
        firmware=status.firmware if status is not None else "",
        model_hash=model_hash,
        model_name=model_name,
        model_check=model_check,
        crc_errors=None if status is None else status.crc_errors,
        dropped_frames=None if status is None else status.dropped_frames,
        link_errors_new=(
            0 if link_now is None or link_errors_before is None else link_now - link_errors_before
        ),
        speed_rpm=None if point is None else point.speed_rpm,
        velocity_rms_mm_s=None if point is None else point.velocity_rms_mm_s,
        iso_zone=None if point is None else point.iso_zone,
        top_features=() if point is None else tuple(point.top_features),
        shelved_until_ns=shelved_until_ns,
    )


def format_age(seconds: float) -> str:
    """A duration for people: "42 s", "17 min", "3.5 h", "2.0 d"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def fleet_rows(rows: Iterable[FleetRow]) -> list[FleetRow]:
    """Order fleet rows worst first.

    Order: state (alarm, offline, warning, unknown operating point, ok), then
    score/threshold ratio (highest first), then the sensor name.
    """

    def key(r: FleetRow) -> tuple[int, float, str]:
        ratio = r.ratio
        return (-int(r.state), -(ratio if ratio is not None else -1.0), r.sensor)

    return sorted(rows, key=key)


def choose_bucket_s(start_ns: int, end_ns: int, *, max_points: int = 2000) -> int:
    """Bucket width (seconds) that draws a time range in at most ``max_points`` points.

    The smallest width of :data:`BUCKET_STEPS_S` giving at most ``max_points`` buckets:
    an hour gives 2 s (1800 points), a day 60 s (1440), a week 600 s (1008). The store
    downsamples server-side, so a week of 1 score/s (604,800 points) costs ~1000 rows.
    Ranges beyond the table use a whole number of seconds.
    """
    if end_ns <= start_ns:
        raise ValueError(f"end_ns must be after start_ns, got {start_ns!r}..{end_ns!r}")
    if max_points < 10:
        raise ValueError(f"max_points must be >= 10, got {max_points!r}")
    span_s = (end_ns - start_ns) / _NS
    for step in BUCKET_STEPS_S:
        if span_s / step <= max_points:
            return step
    return math.ceil(span_s / max_points)


class LinkHistory:
    """Link counters (CRC errors + dropped frames) of each sensor, as the dashboard saw them.

    The store keeps only the latest status per sensor, so "link errors rising" is judged
    from the statuses this dashboard process observed: :meth:`observe` records one and
    returns the counter value to compare with (the latest sample at least ``window_s``
    older, else the oldest one kept). A counter that goes down (gateway restarted) starts
    the history afresh.

    Parameters
    ----------
    window_s : float
        Length of the comparison window in seconds.
    """

    def __init__(self, window_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        self.window_ns = int(window_s * _NS)
        self._samples: dict[str, list[tuple[int, int]]] = {}

    def observe(self, sensor: str, time_ns: int, errors: int) -> int | None:
        """Record ``errors`` of ``sensor`` at ``time_ns``; return the earlier count or None."""
        samples = self._samples.setdefault(sensor, [])
        if samples and errors < samples[-1][1]:
            samples.clear()
        if not samples or time_ns > samples[-1][0]:
            samples.append((time_ns, errors))
        elif time_ns == samples[-1][0]:
            samples[-1] = (time_ns, errors)
        cutoff = samples[-1][0] - self.window_ns
        older = [i for i, (t, _) in enumerate(samples) if t <= cutoff]
        if older:
            del samples[: older[-1]]  # keep the newest sample at or before the cutoff
        if len(samples) < 2:
            return None
        return samples[0][1]


def alarm_periods(
    time_ns: npt.ArrayLike, alarm: npt.ArrayLike, *, width_ns: int = 0
) -> list[tuple[int, int]]:
    """Contiguous runs of alarm in a time series.

    Parameters
    ----------
    time_ns : array_like of int, shape (n,)
        Increasing point (or bucket start) times.
    alarm : array_like, shape (n,)
        Alarm flag (or fraction of points in alarm per bucket); > 0 counts as alarm.
    width_ns : int
        Width of one point (the bucket width); a period ends at its last point + width.

    Returns
    -------
    list of (start_ns, end_ns)
    """
    t = np.asarray(time_ns, dtype=np.int64)
    a = np.nan_to_num(np.asarray(alarm, dtype=np.float64), nan=0.0) > 0
    if t.shape != a.shape or t.ndim != 1:
        raise ValueError(f"time_ns and alarm must be 1-D of one length, got {t.shape}, {a.shape}")
    if t.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], a.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(t[s]), int(t[e]) + int(width_ns)) for s, e in zip(starts, ends, strict=True)]


def short_hash(hex_digest: str, n: int = 12) -> str:
    """First ``n`` hex digits of a SHA-256 for display ("" stays "")."""
    return hex_digest[:n]


_RAW = re.compile(r"(?:^|\s)raw=(\S+)")


def raw_window_paths(events: Sequence[object]) -> list[str]:
    """Paths of captured raw windows named in event texts as ``raw=PATH``, oldest first."""
    out: list[str] = []
    for ev in events:
        for m in _RAW.finditer(str(getattr(ev, "text", ""))):
            if m.group(1) not in out:
                out.append(m.group(1))
    return out


def clean_text(value: object, what: str, *, max_len: int, required: bool) -> str:
    """Validate free text typed by a user (stored as a field value, never in a query).

    Returns the stripped text; raises ``ValueError`` when it is empty but required, too
    long, or holds control characters.
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {value!r}")
    text = value.strip()
    if required and not text:
        raise ValueError(f"{what} must not be empty")
    if len(text) > max_len:
        raise ValueError(f"{what} must be at most {max_len} characters, got {len(text)}")
    if not text.replace("\n", " ").replace("\t", " ").isprintable():
        raise ValueError(f"{what} must not contain control characters, got {text!r}")
    return text

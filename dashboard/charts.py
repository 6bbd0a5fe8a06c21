"""Altair charts of the fleet and sensor pages: built from plain columns, no store access.

Scores are drawn as the health index ``score / threshold`` on a logarithmic axis (1.0 =
alarm level, whatever the model); the raw score and threshold stay in the tooltips.

Times arrive as ns since the epoch and are drawn as naive wall-clock times of the
viewer's zone (Vega-Lite shows naive times as they are).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .health import HEALTH_FLOOR, health_index
from .state import alarm_periods

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from vibration.telemetry.stores import Event, ScoreSeries

    from .state import FleetRow

__all__ = [
    "EVENT_COLORS",
    "events_frame",
    "fleet_health_chart",
    "series_frame",
    "signal_chart",
    "timeline_chart",
]

_NS = 1_000_000_000

EVENT_COLORS: dict[str, str] = {
    "maintenance": "#1f77b4",
    "note": "#7f7f7f",
    "alarm_acknowledged": "#2ca02c",
    "alarm_raised": "#d62728",
    "alarm_cleared": "#9467bd",
    "alarm_shelved": "#8c564b",
    "alarm_unshelved": "#bcbd22",
    "ack": "#2ca02c",
    "alarm": "#d62728",
}
_SIGNALS = ("rms", "kurtosis", "speed_rpm", "velocity_rms_mm_s")


def _health(score: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """score / threshold, clipped to the log axis' floor (NaN where undefined)."""
    score = np.asarray(score, dtype=np.float64)
    threshold = np.asarray(threshold, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(threshold > 0, score / threshold, np.nan)
    return np.where(np.isnan(h), np.nan, np.maximum(h, HEALTH_FLOOR))


def _times(time_ns: np.ndarray, tz: dt.tzinfo) -> pd.Series:
    import pandas as pd

    t = pd.to_datetime(np.asarray(time_ns, dtype=np.int64), unit="ns", utc=True)
    return pd.Series(t.tz_convert(tz).tz_localize(None))


def series_frame(series: ScoreSeries, bucket_s: int, tz: dt.tzinfo) -> pd.DataFrame:
    """Columns of a (bucketed) score series with a ``t`` column; points at bucket centres."""
    import pandas as pd

    centre = np.asarray(series.time_ns, dtype=np.int64) + (bucket_s * _NS) // 2
    n = len(series)
    speed = series.speed_rpm if series.speed_rpm.shape[0] == n else np.full(n, np.nan)
    velocity = (
        series.velocity_rms_mm_s if series.velocity_rms_mm_s.shape[0] == n else np.full(n, np.nan)
    )
    return pd.DataFrame(
        {
            "t": _times(centre, tz),
            "health": _health(series.score, series.threshold),
            "health_max": _health(series.score_max, series.threshold),
            "score": series.score,
            "score_max": series.score_max,
            "threshold": series.threshold,
            "alarm": np.asarray(series.alarm, dtype=bool),
            "rms": series.rms,
            "kurtosis": series.kurtosis,
            "speed_rpm": speed,
            "velocity_rms_mm_s": velocity,
            "count": series.count,
        }
    )


def events_frame(events: Sequence[Event], tz: dt.tzinfo) -> pd.DataFrame:
    """Events as rows ``t, kind, sensor, text, author``."""
    import pandas as pd

    t = _times(np.array([e.time_ns for e in events], dtype=np.int64), tz)
    return pd.DataFrame(
        {
            "t": t,
            "kind": [e.kind for e in events],
            "sensor": [e.sensor for e in events],
            "text": [e.text for e in events],
            "author": [e.author for e in events],
        }
    )


def timeline_chart(
    series: ScoreSeries,
    bucket_s: int,
    events: Sequence[Event],
    tz: dt.tzinfo,
    *,
    height: int = 320,
) -> alt.LayerChart:
    """Health index (bucket mean and max, log axis) with the alarm level 1.0, alarm periods
    shaded red and the events as vertical rules (hover for their text, and for the raw
    score and threshold)."""
    import altair as alt
    import pandas as pd

    frame = series_frame(series, bucket_s, tz)
    periods = alarm_periods(series.time_ns, series.alarm, width_ns=bucket_s * _NS)
    shade = pd.DataFrame(
        {
            "start": _times(np.array([p[0] for p in periods], dtype=np.int64), tz),
            "end": _times(np.array([p[1] for p in periods], dtype=np.int64), tz),
        }
    )
    x = alt.X("t:T", title=None)
    frame["alarm_level"] = 1.0
    log = alt.Scale(type="log")
    title = "health index (score / threshold, log)"
    layers: list[Any] = [
        alt.Chart(shade)
        .mark_rect(color="#d62728", opacity=0.15)
        .encode(x=alt.X("start:T", title=None), x2="end:T"),
        alt.Chart(frame)
        .mark_line(color="#ff9896", strokeWidth=1)
        .encode(
            x=x,
            y=alt.Y("health_max:Q", title=title, scale=log),
            tooltip=["t:T", "health_max:Q", "score_max:Q", "threshold:Q"],
        ),
        alt.Chart(frame)
        .mark_line(color="#1f77b4")
        .encode(
            x=x,
            y=alt.Y("health:Q", title=title, scale=log),
            tooltip=["t:T", "health:Q", "score:Q", "score_max:Q", "threshold:Q", "count:Q"],
        ),
        alt.Chart(frame)
        .mark_line(color="#d62728", strokeDash=[6, 4])
        .encode(
            x=x,
            y=alt.Y("alarm_level:Q", scale=log),
            tooltip=["t:T", "alarm_level:Q", "threshold:Q"],
        ),
    ]
    if events:
        ev = events_frame(events, tz)
        colors = alt.Scale(domain=list(EVENT_COLORS), range=list(EVENT_COLORS.values()))
        layers.append(
            alt.Chart(ev)
            .mark_rule(strokeWidth=2)
            .encode(
                x="t:T",
                color=alt.Color("kind:N", scale=colors, title="event"),
                tooltip=["t:T", "kind:N", "text:N", "author:N"],
            )
        )
    return alt.LayerChart(layer=layers, height=height)


def signal_chart(series: ScoreSeries, bucket_s: int, tz: dt.tzinfo, column: str) -> alt.Chart:
    """One of ``rms`` / ``kurtosis`` / ``speed_rpm`` / ``velocity_rms_mm_s`` over time
    (bucket means)."""
    import altair as alt

    if column not in _SIGNALS:
        raise ValueError(f"column must be one of {_SIGNALS}, got {column!r}")
    frame = series_frame(series, bucket_s, tz)
    return (
        alt.Chart(frame)
        .mark_line(color="#555555")
        .encode(x=alt.X("t:T", title=None), y=alt.Y(f"{column}:Q"), tooltip=["t:T", f"{column}:Q"])
        .properties(height=160)
    )


def fleet_health_chart(rows: Sequence[FleetRow], *, height_per_row: int = 22) -> alt.LayerChart:
    """The latest health index of every sensor as a bar on a log axis, the alarm level
    1.0 as a red rule (raw score, threshold, speed, velocity and ISO zone in the tooltip)."""
    import altair as alt
    import pandas as pd

    from .health import iso_zone_label

    frame = pd.DataFrame(
        {
            "sensor": [r.sensor for r in rows],
            "state": [r.state.label for r in rows],
            "health": [
                None if (h := health_index(r.score, r.threshold)) is None else max(h, HEALTH_FLOOR)
                for r in rows
            ],
            "score": [r.score for r in rows],
            "threshold": [r.threshold for r in rows],
            "speed_rpm": [r.speed_rpm for r in rows],
            "velocity_mm_s": [r.velocity_rms_mm_s for r in rows],
            "iso_zone": [iso_zone_label(r.iso_zone) for r in rows],
        }
    )
    order = [r.sensor for r in rows]
    log = alt.Scale(type="log")
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("sensor:N", sort=order, title=None),
            x=alt.X("health:Q", scale=log, title="health index (score / threshold, log)"),
            color=alt.Color(
                "state:N",
                scale=alt.Scale(
                    domain=["alarm", "offline", "warning", "unknown operating point", "ok"],
                    range=["#d62728", "#7f7f7f", "#ff7f0e", "#9467bd", "#2ca02c"],
                ),
            ),
            tooltip=[
                "sensor:N",
                "state:N",
                alt.Tooltip("health:Q", format=".3g"),
                alt.Tooltip("score:Q", format=".4g"),
                alt.Tooltip("threshold:Q", format=".4g"),
                "speed_rpm:Q",
                "velocity_mm_s:Q",
                "iso_zone:N",
            ],
        )
    )
    level = (
        alt.Chart(pd.DataFrame({"alarm_level": [1.0]}))
        .mark_rule(color="#d62728", strokeDash=[6, 4])
        .encode(x=alt.X("alarm_level:Q", scale=log))
    )
    return alt.LayerChart(layer=[bars, level], height=max(60, height_per_row * len(rows)))

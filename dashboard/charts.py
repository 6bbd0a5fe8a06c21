"""Altair charts of the sensor page: built from plain columns, no store access.

Times arrive as ns since the epoch and are drawn as naive wall-clock times of the
viewer's zone (Vega-Lite shows naive times as they are).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .state import alarm_periods

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from vibration.telemetry.stores import Event, ScoreSeries

__all__ = ["EVENT_COLORS", "events_frame", "series_frame", "signal_chart", "timeline_chart"]

_NS = 1_000_000_000

EVENT_COLORS: dict[str, str] = {
    "maintenance": "#1f77b4",
    "note": "#7f7f7f",
    "ack": "#2ca02c",
    "alarm": "#d62728",
    "alarm_cleared": "#9467bd",
}


def _times(time_ns: np.ndarray, tz: dt.tzinfo) -> pd.Series:
    import pandas as pd

    t = pd.to_datetime(np.asarray(time_ns, dtype=np.int64), unit="ns", utc=True)
    return pd.Series(t.tz_convert(tz).tz_localize(None))


def series_frame(series: ScoreSeries, bucket_s: int, tz: dt.tzinfo) -> pd.DataFrame:
    """Columns of a (bucketed) score series with a ``t`` column; points at bucket centres."""
    import pandas as pd

    centre = np.asarray(series.time_ns, dtype=np.int64) + (bucket_s * _NS) // 2
    return pd.DataFrame(
        {
            "t": _times(centre, tz),
            "score": series.score,
            "score_max": series.score_max,
            "threshold": series.threshold,
            "alarm": np.asarray(series.alarm, dtype=bool),
            "rms": series.rms,
            "kurtosis": series.kurtosis,
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
    """Score (bucket mean and max) with the threshold, alarm periods shaded red and the
    events as vertical rules (hover for their text)."""
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
    layers: list[Any] = [
        alt.Chart(shade)
        .mark_rect(color="#d62728", opacity=0.15)
        .encode(x=alt.X("start:T", title=None), x2="end:T"),
        alt.Chart(frame)
        .mark_line(color="#ff9896", strokeWidth=1)
        .encode(x=x, y=alt.Y("score_max:Q", title="score"), tooltip=["t:T", "score_max:Q"]),
        alt.Chart(frame)
        .mark_line(color="#1f77b4")
        .encode(
            x=x,
            y=alt.Y("score:Q", title="score"),
            tooltip=["t:T", "score:Q", "score_max:Q", "threshold:Q", "count:Q"],
        ),
        alt.Chart(frame)
        .mark_line(color="#d62728", strokeDash=[6, 4])
        .encode(x=x, y="threshold:Q", tooltip=["t:T", "threshold:Q"]),
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
    """One of ``rms`` / ``kurtosis`` over time (bucket means)."""
    import altair as alt

    if column not in ("rms", "kurtosis"):
        raise ValueError(f"column must be 'rms' or 'kurtosis', got {column!r}")
    frame = series_frame(series, bucket_s, tz)
    return (
        alt.Chart(frame)
        .mark_line(color="#555555")
        .encode(x=alt.X("t:T", title=None), y=alt.Y(f"{column}:Q"), tooltip=["t:T", f"{column}:Q"])
        .properties(height=160)
    )

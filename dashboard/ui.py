"""Small UI helpers shared by the pages: state badges, times, the fleet table frame."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .state import FleetRow, SensorState, format_age, short_hash

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BADGE",
    "STATE_STYLE",
    "display_tz",
    "fleet_frame",
    "md",
    "sensor_url",
    "style_states",
    "to_local",
]

#: Metric labels per state (Streamlit markdown: colour + bundled Material icon, no emoji font).
BADGE: dict[SensorState, str] = {
    SensorState.ALARM: ":red[:material/error: alarm]",
    SensorState.OFFLINE: ":gray[:material/cloud_off: offline]",
    SensorState.WARNING: ":orange[:material/warning: warning]",
    SensorState.OK: ":green[:material/check_circle: ok]",
}

#: Cell style of the state column.
STATE_STYLE: dict[str, str] = {
    "alarm": "background-color: #f8d7da; color: #842029; font-weight: bold",
    "offline": "background-color: #e2e3e5; color: #41464b; font-weight: bold",
    "warning": "background-color: #fff3cd; color: #664d03; font-weight: bold",
    "ok": "background-color: #d1e7dd; color: #0f5132",
}

_NS = 1_000_000_000

# Every ASCII punctuation character: CommonMark lets a backslash escape any of them.
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
_MD_BREAK = re.compile(r"\s+")


def md(text: object) -> str:
    """``text`` as literal Streamlit markdown: the one escape for device or user strings.

    Every ASCII punctuation character gets a backslash, so no image, link, autolink
    (``https://``, ``www.``), code span, HTML, ``:red[...]`` colour or ``:icon:`` survives;
    line breaks and other whitespace runs become one space (no headings, lists or tables).
    Use it on every string from a device, the store, the user or a file that goes into
    ``st.markdown``, ``st.caption``, ``st.info``/``warning``/``error``/``success``,
    titles, headers and metric labels; never put such a string in backticks.
    """
    return _MD_SPECIAL.sub(r"\\\1", _MD_BREAK.sub(" ", str(text)))


def display_tz() -> dt.tzinfo:
    """The viewer's time zone (from the browser), UTC when unknown."""
    import streamlit as st

    name = st.context.timezone
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return dt.UTC


def to_local(time_ns: int | None, tz: dt.tzinfo) -> dt.datetime | None:
    """ns since the epoch -> naive wall-clock datetime in ``tz`` (None stays None)."""
    if time_ns is None:
        return None
    return dt.datetime.fromtimestamp(time_ns / _NS, tz).replace(tzinfo=None)


def sensor_url(sensor: str) -> str:
    """Relative link to the sensor page of ``sensor``."""
    return f"sensor?sensor={quote(sensor, safe='')}"


def fleet_frame(rows: Sequence[FleetRow], tz: dt.tzinfo) -> pd.DataFrame:
    """The fleet table as a DataFrame, in the order of ``rows``."""
    import pandas as pd

    records = []
    for r in rows:
        ratio = r.ratio
        link = ""
        if r.crc_errors is not None:
            link = f"{r.crc_errors} CRC, {r.dropped_frames} dropped"
            if r.link_errors_new:
                link += f" (+{r.link_errors_new})"
        model = r.model_name or short_hash(r.model_hash)
        records.append(
            {
                "state": r.state.label,
                "sensor": r.sensor,
                "asset": r.asset,
                "why": r.reason,
                "score": r.score,
                "threshold": r.threshold,
                "% of threshold": None if ratio is None else 100.0 * ratio,
                "last seen": to_local(r.last_seen_ns, tz),
                "ago": "never" if r.age_s is None else format_age(r.age_s),
                "firmware": r.firmware,
                "model": model,
                "model check": r.model_check,
                "link": link,
                "crc_errors": r.crc_errors,
                "dropped_frames": r.dropped_frames,
                "open": sensor_url(r.sensor),
            }
        )
    columns = [
        "state", "sensor", "asset", "why", "score", "threshold", "% of threshold", "last seen",
        "ago", "firmware", "model", "model check", "link", "crc_errors", "dropped_frames", "open",
    ]  # fmt: skip
    return pd.DataFrame.from_records(records, columns=columns)


def style_states(frame: pd.DataFrame) -> Any:
    """A pandas Styler colouring the ``state`` column (alarm red, warning amber, ...)."""
    return frame.style.map(lambda v: STATE_STYLE.get(str(v), ""), subset=["state"])

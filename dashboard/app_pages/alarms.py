"""Alarms and events: open alarms (acknowledge them), maintenance notes, recent events."""

from __future__ import annotations

import time

import streamlit as st

from dashboard import charts, data, ui
from dashboard.state import SensorState, clean_text, format_age

_NS = 1_000_000_000

st.title("Alarms and events")

with data.guard():
    cfg = data.config()
    rows = data.fleet(cfg)
    names = sorted(r.sensor for r in rows)
    assets = {r.sensor: r.asset for r in rows}


def _write(kind: str, sensor: str, text: str, author: str, *, result_key: str, done: str) -> None:
    """Validate and write one event; the outcome is shown by the next run (form callback)."""
    from vibration.errors import TinyPdmError
    from vibration.telemetry.stores import Event

    try:
        event = Event(
            time_ns=time.time_ns(),
            kind=kind,
            sensor=sensor,
            asset=assets[sensor],
            text=text,
            author=author,
        )
        data.write_event(cfg, event)
    except (ValueError, KeyError, TinyPdmError) as exc:
        st.session_state[result_key] = ("error", str(exc))
    else:
        st.session_state[result_key] = ("success", done)


def _ack() -> None:
    ss = st.session_state
    try:
        author = clean_text(ss.get("ack_author", ""), "name", max_len=64, required=True)
        text = clean_text(ss.get("ack_text", ""), "comment", max_len=500, required=False)
    except ValueError as exc:
        ss.ack_result = ("error", str(exc))
        return
    sensor = str(ss.get("ack_sensor"))
    _write(
        "ack",
        sensor,
        text,
        author,
        result_key="ack_result",
        done=f"Alarm of {sensor} acknowledged.",
    )


def _note() -> None:
    ss = st.session_state
    try:
        text = clean_text(ss.get("note_text", ""), "note", max_len=500, required=True)
        author = clean_text(ss.get("note_author", ""), "name", max_len=64, required=False)
    except ValueError as exc:
        ss.note_result = ("error", str(exc))
        return
    sensor = str(ss.get("note_sensor"))
    kind = str(ss.get("note_kind", "maintenance"))
    _write(
        kind,
        sensor,
        text,
        author,
        result_key="note_result",
        done=f"Note added to {sensor}; it shows on the sensor's timeline.",
    )


def _show_result(key: str) -> None:
    result = st.session_state.pop(key, None)
    if result is not None:
        (st.success if result[0] == "success" else st.error)(ui.md(result[1]))


now = time.time_ns()
now_10s = -(-now // (10 * _NS)) * 10 * _NS  # aligned: reruns hit the query cache
tz = ui.display_tz()

# -- open alarms ---------------------------------------------------------------------
st.header("Open alarms")
open_alarms = []
with data.guard():
    for r in rows:
        if r.state is not SensorState.ALARM:
            continue
        onset = data.alarm_onset(cfg.store_url, r.sensor, now_10s) or r.last_seen_ns or now
        acks = [
            e for e in data.events(cfg.store_url, onset, now_10s + 1, r.sensor) if e.kind == "ack"
        ]
        open_alarms.append((r, onset, acks[-1] if acks else None))

_show_result("ack_result")
if not open_alarms:
    st.success("No sensor is in alarm.")
else:
    st.dataframe(
        [
            {
                "sensor": r.sensor,
                "asset": r.asset,
                "since": ui.to_local(onset, tz),
                "for": format_age(max(0.0, (now - onset) / _NS)),
                "score": r.score,
                "threshold": r.threshold,
                "acknowledged": (
                    f"by {ack.author or '?'} {format_age((now - ack.time_ns) / _NS)} ago"
                    + (f": {ack.text}" if ack.text else "")
                    if ack is not None
                    else "no"
                ),
            }
            for r, onset, ack in open_alarms
        ],
        hide_index=True,
        key="open_alarms",
        column_config={"since": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
    unacked = [r.sensor for r, _, ack in open_alarms if ack is None]
    if unacked:
        with st.form("ack_form", clear_on_submit=True):
            st.subheader("Acknowledge")
            st.selectbox("Alarm", unacked, key="ack_sensor")
            st.text_input("Your name", max_chars=64, key="ack_author")
            st.text_input(
                "Comment", max_chars=500, placeholder="seen, inspection planned", key="ack_text"
            )
            st.form_submit_button("Acknowledge", key="ack_submit", on_click=_ack)
    else:
        st.caption("Every open alarm is acknowledged.")

# -- notes ---------------------------------------------------------------------------
st.header("Add a maintenance note")
if not names:
    st.info("No sensor has reported to this store yet.")
else:
    with st.form("note_form", clear_on_submit=True):
        st.selectbox("Sensor", names, key="note_sensor")
        st.radio("Kind", ["maintenance", "note"], horizontal=True, key="note_kind")
        st.text_input(
            "What was done or seen", max_chars=500, placeholder="bearing replaced", key="note_text"
        )
        st.text_input("Your name", max_chars=64, key="note_author")
        st.form_submit_button("Add note", key="note_submit", on_click=_note)
    _show_result("note_result")

# -- recent events -------------------------------------------------------------------
st.header("Recent events")
days = st.selectbox("Last", [1, 7, 30], index=1, format_func=lambda d: f"{d} d", key="ev_days")
with data.guard():
    recent = data.events(cfg.store_url, now_10s - int(days) * 86400 * _NS, now_10s + 1)
if recent:
    frame = charts.events_frame(recent[::-1], tz)
    st.dataframe(frame, hide_index=True, key="recent_events")
else:
    st.caption("No events in this period.")

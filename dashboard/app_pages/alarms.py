"""Alarms and events: open alarms (acknowledge or shelve them), maintenance notes, recent
events."""

from __future__ import annotations

import time

import streamlit as st

from dashboard import charts, data, ui
from dashboard.health import health_index
from dashboard.state import SensorState, clean_text, format_age
from vibration.telemetry.stores import ACK_KINDS

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
    """Record an ``alarm_acknowledged`` event: who (required), when (now), comment."""
    from vibration.errors import TinyPdmError

    ss = st.session_state
    try:
        author = clean_text(ss.get("ack_author", ""), "name", max_len=64, required=True)
        text = clean_text(ss.get("ack_text", ""), "comment", max_len=500, required=False)
        sensor = str(ss.get("ack_sensor"))
        data.acknowledge(cfg, sensor, assets[sensor], author, text)
    except (ValueError, KeyError, TinyPdmError) as exc:
        ss.ack_result = ("error", str(exc))
        return
    ss.ack_result = ("success", f"Alarm of {sensor} acknowledged.")


def _shelve() -> None:
    """Record an ``alarm_shelved`` event: who, reason (both required), expiry."""
    from vibration.errors import TinyPdmError

    ss = st.session_state
    try:
        author = clean_text(ss.get("shelve_author", ""), "name", max_len=64, required=True)
        reason = clean_text(ss.get("shelve_reason", ""), "reason", max_len=500, required=True)
        hours = float(ss.get("shelve_hours", 8.0))
        if not 0 < hours <= 30 * 24:
            raise ValueError(f"shelve for 0 to 720 hours, got {hours!r}")
        sensor = str(ss.get("shelve_sensor"))
        expires = time.time_ns() + int(hours * 3600) * _NS
        data.shelve(cfg, sensor, assets[sensor], author, reason, expires)
    except (ValueError, KeyError, TinyPdmError) as exc:
        ss.shelve_result = ("error", str(exc))
        return
    ss.shelve_result = ("success", f"Alarms of {sensor} shelved for {hours:g} h.")


def _unshelve() -> None:
    """Record an ``alarm_unshelved`` event (who required)."""
    from vibration.errors import TinyPdmError

    ss = st.session_state
    try:
        author = clean_text(ss.get("unshelve_author", ""), "name", max_len=64, required=True)
        sensor = str(ss.get("unshelve_sensor"))
        data.unshelve(cfg, sensor, assets[sensor], author)
    except (ValueError, KeyError, TinyPdmError) as exc:
        ss.shelve_result = ("error", str(exc))
        return
    ss.shelve_result = ("success", f"Alarms of {sensor} no longer shelved.")


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
    shelved = data.shelves(cfg.store_url, now_10s)
    for r in rows:
        if r.state is not SensorState.ALARM:
            continue
        onset = data.alarm_onset(cfg.store_url, r.sensor, now_10s) or r.last_seen_ns or now
        acks = [
            e
            for e in data.events(cfg.store_url, onset, now_10s + 1, r.sensor)
            if e.kind in ACK_KINDS
        ]
        open_alarms.append((r, onset, acks[-1] if acks else None))


def _shelf_text(sensor: str) -> str:
    ev = shelved.get(sensor)
    if ev is None:
        return "no"
    until = "until unshelved"
    if ev.expires_ns is not None:
        until = f"for {format_age(max(0.0, (ev.expires_ns - now) / _NS))} more"
    return f"shelved by {ev.author or '?'} {until}: {ev.text}"


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
                "state": "shelved" if r.sensor in shelved else "alarm",
                "health index": health_index(r.score, r.threshold),
                "score": r.score,
                "threshold": r.threshold,
                "shelved": _shelf_text(r.sensor),
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
        column_config={
            "since": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "health index": st.column_config.NumberColumn(
                format="%.3g", help="score / threshold: 1.0 is the alarm level"
            ),
        },
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

# -- shelving ------------------------------------------------------------------------
st.header("Shelve alarms")
_show_result("shelve_result")
if shelved:
    st.dataframe(
        [
            {
                "sensor": sensor,
                "shelved by": ev.author,
                "reason": ev.text,
                "since": ui.to_local(ev.time_ns, tz),
                "until": ui.to_local(ev.expires_ns, tz),
            }
            for sensor, ev in sorted(shelved.items())
        ],
        hide_index=True,
        key="shelved",
        column_config={
            "since": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "until": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        },
    )
if names:
    unshelved = [n for n in names if n not in shelved]
    alarmed_first = sorted(
        unshelved, key=lambda n: (n not in {r.sensor for r, _, _ in open_alarms}, n)
    )
    if alarmed_first:
        with st.form("shelve_form", clear_on_submit=True):
            st.selectbox("Sensor", alarmed_first, key="shelve_sensor")
            st.text_input("Your name", max_chars=64, key="shelve_author")
            st.text_input(
                "Reason",
                max_chars=500,
                placeholder="known fault, repair planned",
                key="shelve_reason",
            )
            st.number_input(
                "For (hours)", min_value=0.25, max_value=720.0, value=8.0, key="shelve_hours"
            )
            st.form_submit_button("Shelve", key="shelve_submit", on_click=_shelve)
    if shelved:
        with st.form("unshelve_form", clear_on_submit=True):
            st.selectbox("Shelved sensor", sorted(shelved), key="unshelve_sensor")
            st.text_input("Your name", max_chars=64, key="unshelve_author")
            st.form_submit_button("Unshelve", key="unshelve_submit", on_click=_unshelve)

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

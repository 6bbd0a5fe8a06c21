"""Sensor: health index timeline (log axis) with alarm periods and events; speed, velocity
RMS with its ISO zone, the top contributing features; RMS and kurtosis."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import streamlit as st

from dashboard import charts, data, ui
from dashboard.evidence import show_evidence
from dashboard.health import (
    UNKNOWN_OP_ADVICE,
    format_health,
    health_index,
    iso_zone_label,
    name_features,
)
from dashboard.state import alarm_periods, choose_bucket_s, format_age, raw_window_paths

_NS = 1_000_000_000
_RANGES = {"1 h": 3600, "6 h": 6 * 3600, "24 h": 86400, "7 d": 7 * 86400, "30 d": 30 * 86400}

st.title("Sensor")

with data.guard():
    cfg = data.config()
    names = data.sensor_names(cfg)
if not names:
    st.info("No sensor has reported to this store yet.")
    st.stop()

# ?sensor=NAME (links from the fleet table) selects the sensor once; names come from the store.
wanted = st.query_params.get("sensor")
if wanted in names and wanted != st.session_state.get("sensor_from_url"):
    st.session_state.sensor = wanted
if st.session_state.get("sensor") not in names:
    st.session_state.sensor = names[0]

left, right = st.columns([2, 3])
sensor = left.selectbox("Sensor", names, key="sensor")
st.query_params["sensor"] = sensor
st.session_state.sensor_from_url = sensor
# ?range=1h (or 6h, 24h, 7d, 30d) picks the first time range shown; anything else: 24 h.
from_url = str(st.query_params.get("range", "")).replace("h", " h").replace("d", " d")
choice = right.segmented_control(
    "Time range",
    [*_RANGES, "custom"],
    default=from_url if from_url in _RANGES else "24 h",
    required=True,
    key="range",
)
tz = ui.display_tz()

if choice == "custom":
    today = dt.datetime.now(tz).date()
    picked = st.date_input(
        "Days", value=(today - dt.timedelta(days=1), today), max_value=today, key="days"
    )
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.info("Pick the first and the last day.")
        st.stop()
    first, last = picked
    start_ns = int(dt.datetime.combine(first, dt.time(), tz).timestamp()) * _NS
    end_ns = int(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).timestamp()) * _NS
    bucket_s = choose_bucket_s(start_ns, end_ns)
else:
    span_ns = _RANGES[str(choice)] * _NS
    bucket_s = choose_bucket_s(0, span_ns)
    step = bucket_s * _NS
    end_ns = -(-time.time_ns() // step) * step  # aligned: reruns hit the query cache
    start_ns = end_ns - span_ns

with data.guard():
    series = data.score_series(cfg.store_url, sensor, start_ns, end_ns, bucket_s)
    evs = data.events(cfg.store_url, start_ns, end_ns, sensor)
    snap = data.snapshot(cfg.store_url)

latest = snap.scores.get(sensor)
status = snap.statuses.get(sensor)
periods = alarm_periods(series.time_ns, series.alarm, width_ns=bucket_s * _NS)
health = None if latest is None else health_index(latest.score, latest.threshold)
h1, h2, h3, h4 = st.columns(4)
h1.metric(
    "health index",
    format_health(health),
    help="latest score / threshold: 1.0 is the alarm level",
)
zone = iso_zone_label(None if latest is None else latest.iso_zone)
velocity = None if latest is None else latest.velocity_rms_mm_s
h2.metric(
    "velocity mm/s",
    "—" if velocity is None else f"{velocity:.2f}" + (f" · zone {zone}" if zone else ""),
    help="ISO 10816/20816 velocity RMS, 10 Hz-1 kHz; zone A new machine, B unrestricted, "
    "C restricted operation, D damage occurs",
)
speed = None if latest is None else latest.speed_rpm
h3.metric("speed rpm", "—" if speed is None else f"{speed:.0f}")
state_label = "—"
if latest is not None and latest.state is not None:
    state_label = ("ok", "over", "alarm", "unknown operating point")[latest.state]
elif latest is not None:
    state_label = "alarm" if latest.alarm else "ok"
h4.metric("state", state_label)
c1, c2, c3, c4 = st.columns(4)
c1.metric("latest score", "—" if latest is None else f"{latest.score:.4g}")
c2.metric("threshold", "—" if latest is None else f"{latest.threshold:.4g}")
c3.metric("scores in range", f"{int(series.count.sum()):,}")
c4.metric("alarm periods", len(periods))
if latest is not None and latest.state == 3:
    st.warning(f"Unknown operating point: no verdict. Advice: {UNKNOWN_OP_ADVICE}.")
if latest is not None and latest.top_features:
    with data.guard():
        labels = data.feature_names(cfg, status.model_hash if status is not None else "")
    named = name_features(latest.top_features, labels)
    st.caption(
        "Top contributing features (largest reconstruction error first): "
        + ", ".join(ui.md(n) for n in named)
    )
if status is not None:
    st.caption(
        f"asset {ui.md(status.asset)} · firmware {ui.md(status.firmware or '?')} · "
        f"last status {format_age(max(0.0, (time.time_ns() - status.time_ns) / _NS))} ago · "
        f"{status.crc_errors} CRC errors, {status.dropped_frames} dropped frames"
    )

if len(series) == 0:
    st.info(f"No scores of {ui.md(sensor)} in this range.")
else:
    st.subheader("Health index")
    st.altair_chart(charts.timeline_chart(series, bucket_s, evs, tz), key="timeline")
    st.caption(
        f"{len(series)} points, one per {bucket_s} s bucket: health index = score / threshold "
        "on a log axis (mean line; light red: bucket maximum; dashed: 1.0, the alarm level; "
        "red bands: alarm; vertical rules: events; hover for the raw score and threshold)"
    )
    has_speed = bool(np.isfinite(series.speed_rpm).any())
    has_velocity = bool(np.isfinite(series.velocity_rms_mm_s).any())
    if has_speed or has_velocity:
        a, b = st.columns(2)
        if has_speed:
            with a:
                st.subheader("Speed (rpm)")
                st.altair_chart(charts.signal_chart(series, bucket_s, tz, "speed_rpm"), key="speed")
        if has_velocity:
            with b:
                st.subheader("Velocity RMS (mm/s)")
                st.altair_chart(
                    charts.signal_chart(series, bucket_s, tz, "velocity_rms_mm_s"), key="velocity"
                )
    a, b = st.columns(2)
    with a:
        st.subheader("RMS")
        st.altair_chart(charts.signal_chart(series, bucket_s, tz, "rms"), key="rms")
    with b:
        st.subheader("Kurtosis")
        st.altair_chart(charts.signal_chart(series, bucket_s, tz, "kurtosis"), key="kurtosis")

st.subheader("Events")
if evs:
    st.dataframe(charts.events_frame(evs, tz), hide_index=True, key="events")
else:
    st.caption("No events for this sensor in this range.")

st.subheader("Alarm evidence")
show_evidence(
    cfg, sensor, evs, start_ns, end_ns, tz, model_hash=status.model_hash if status else ""
)
for path in raw_window_paths(evs):
    st.markdown(f"Raw window captured: {ui.md(path)}")

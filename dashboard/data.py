"""The dashboard's only door to the store and the model registry.

One store client per URL and process (``st.cache_resource``); queries cached for a few
seconds (``st.cache_data(ttl=...)``) so many open browser tabs cost the store one query.
Pages call these functions and never the store itself. Writes (acknowledge, notes) clear
the cached event queries so the next run shows them.

Store errors propagate as :class:`~vibration.errors.StoreError`; pages show them with
:func:`guard` (one red line, the rest of the page is skipped).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from vibration.errors import TinyPdmError
from vibration.telemetry.stores import ALARM_KINDS, redact_url

from .config import DashboardConfig
from .registry import Registry, check_model, scan_registry
from .state import FleetRow, LinkHistory, fleet_row, fleet_rows
from .ui import md

if TYPE_CHECKING:
    from vibration.telemetry.stores import (
        Event,
        Evidence,
        ScorePoint,
        ScoreSeries,
        SensorStatus,
        Store,
    )

__all__ = [
    "FleetSnapshot",
    "acknowledge",
    "alarm_onset",
    "clear_caches",
    "config",
    "events",
    "evidence",
    "feature_names",
    "fleet",
    "guard",
    "registry",
    "score_series",
    "sensor_names",
    "shelve",
    "shelves",
    "snapshot",
    "store_label",
    "unshelve",
    "write_event",
]

_LIVE_TTL_S = 2.0
_SERIES_TTL_S = 30.0
_EVENTS_TTL_S = 10.0
_REGISTRY_TTL_S = 60.0
_NS = 1_000_000_000
_SHELF_LOOKBACK_S = 90 * 86400


def config() -> DashboardConfig:
    """The configuration handed over by ``tinypdm dashboard`` (environment variables)."""
    return DashboardConfig.from_env()


def store_label(cfg: DashboardConfig) -> str:
    """The store URL without its password, for display."""
    return redact_url(cfg.store_url)


@contextmanager
def guard() -> Iterator[None]:
    """Show a tinypdm error (store down, bad config) as one ``st.error`` and stop the run."""
    try:
        yield
    except TinyPdmError as exc:
        st.error(f"{type(exc).__name__}: {md(exc)}")
        st.stop()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    from vibration.telemetry.stores import open_store

    return open_store(url)


@st.cache_resource(show_spinner=False)
def _link_history(url: str, window_s: float) -> tuple[LinkHistory, threading.Lock]:
    return LinkHistory(window_s), threading.Lock()


@dataclass(frozen=True)
class FleetSnapshot:
    """Latest status and latest score of every sensor, as read at ``read_ns``."""

    statuses: dict[str, SensorStatus]
    scores: dict[str, ScorePoint]
    read_ns: int

    @property
    def names(self) -> list[str]:
        return sorted(set(self.statuses) | set(self.scores))


@st.cache_data(ttl=_LIVE_TTL_S, show_spinner=False)
def snapshot(url: str) -> FleetSnapshot:
    """Latest status and score of every sensor (cached for a couple of seconds)."""
    store = _store(url)
    statuses = {s.sensor: s for s in store.sensors()}
    scores = store.latest_scores()
    return FleetSnapshot(statuses=statuses, scores=dict(scores), read_ns=time.time_ns())


def sensor_names(cfg: DashboardConfig) -> list[str]:
    """Every sensor the store knows (status or scores), sorted."""
    return snapshot(cfg.store_url).names


@st.cache_data(ttl=_REGISTRY_TTL_S, show_spinner=False)
def _registry(models_dir: str | None) -> Registry:
    return scan_registry(models_dir)


def registry(cfg: DashboardConfig) -> Registry:
    """The model registry of ``--models`` (empty when not given)."""
    return _registry(None if cfg.models_dir is None else str(cfg.models_dir))


def fleet(cfg: DashboardConfig, now_ns: int | None = None) -> list[FleetRow]:
    """One :class:`FleetRow` per sensor, worst first (see :mod:`dashboard.state`)."""
    now = time.time_ns() if now_ns is None else now_ns
    snap = snapshot(cfg.store_url)
    reg = registry(cfg)
    shelved = shelves(cfg.store_url, _ceil_10s(now))
    history, lock = _link_history(cfg.store_url, cfg.rules.link_window_s)
    rows = []
    for name in snap.names:
        status = snap.statuses.get(name)
        point = snap.scores.get(name)
        before = None
        if status is not None:
            with lock:
                before = history.observe(
                    name, status.time_ns, status.crc_errors + status.dropped_frames
                )
        asset = status.asset if status is not None else (point.asset if point else "")
        check = check_model(reg, status.model_hash if status else "", name, asset)
        rows.append(
            fleet_row(
                name,
                status,
                point,
                now_ns=now,
                rules=cfg.rules,
                link_errors_before=before,
                model_name=check.entry.name if check.entry is not None else "",
                model_check=check.status,
                shelved_until_ns=_until(shelved.get(name)),
            )
        )
    return fleet_rows(rows)


@st.cache_data(ttl=_SERIES_TTL_S, show_spinner=False, max_entries=64)
def score_series(url: str, sensor: str, start_ns: int, end_ns: int, bucket_s: int) -> ScoreSeries:
    """Scores of one sensor in ``[start_ns, end_ns)`` downsampled by the store into
    ``bucket_s``-second buckets (see ``vibration.telemetry.stores.ScoreSeries``)."""
    return _store(url).query_scores(sensor, int(start_ns), int(end_ns), int(bucket_s))


@st.cache_data(ttl=_EVENTS_TTL_S, show_spinner=False, max_entries=64)
def events(url: str, start_ns: int, end_ns: int, sensor: str | None = None) -> list[Event]:
    """Events in ``[start_ns, end_ns)``, oldest first, optionally of one sensor."""
    return _store(url).events(int(start_ns), int(end_ns), sensor)


@st.cache_data(ttl=_EVENTS_TTL_S, show_spinner=False, max_entries=256)
def alarm_onset(url: str, sensor: str, now_ns: int, lookback_s: int = 7 * 86400) -> int | None:
    """When the sensor's current alarm began (ns), None when it is not in alarm.

    The latest ``alarm_raised`` (or older ``alarm``) event that no ``alarm_cleared``
    follows, when the gateway wrote one; otherwise the start of the last run of alarm
    buckets (60 s) in the last day.
    """
    store = _store(url)
    latest = store.latest_scores().get(sensor)
    if latest is None or not latest.alarm:
        return None
    evs = store.events(now_ns - lookback_s * _NS, now_ns + 1, sensor)
    onset: int | None = None
    for ev in evs:
        if ev.kind in ALARM_KINDS:
            onset = ev.time_ns if onset is None else onset
        elif ev.kind == "alarm_cleared":
            onset = None
    if onset is not None:
        return onset
    from .state import alarm_periods

    series = store.query_scores(sensor, now_ns - 86400 * _NS, now_ns + 1, 60)
    periods = alarm_periods(series.time_ns, series.alarm, width_ns=60 * _NS)
    return periods[-1][0] if periods else latest.time_ns


@st.cache_data(ttl=_EVENTS_TTL_S, show_spinner=False, max_entries=32)
def evidence(url: str, sensor: str, start_ns: int, end_ns: int) -> list[Evidence]:
    """Alarm evidence (raw windows) of one sensor with onset in ``[start_ns, end_ns)``."""
    return _store(url).evidence(sensor, int(start_ns), int(end_ns))


def write_event(cfg: DashboardConfig, event: Event) -> None:
    """Write one event (ack, maintenance note) and drop the cached event queries."""
    _store(cfg.store_url).write_events([event])
    _after_write()


@st.cache_data(ttl=_EVENTS_TTL_S, show_spinner=False, max_entries=64)
def shelves(url: str, now_ns: int) -> dict[str, Event]:
    """The sensors whose alarms are shelved at ``now_ns``, with the shelving event."""
    from vibration.telemetry.stores import shelved_sensors

    evs = _store(url).events(now_ns - _SHELF_LOOKBACK_S * _NS, now_ns + 1)
    return shelved_sensors(evs, now_ns)


def _until(event: Event | None) -> int | None:
    if event is None:
        return None
    return event.expires_ns if event.expires_ns is not None else 2**63 - 1


def _ceil_10s(now_ns: int) -> int:
    return -(-now_ns // (10 * _NS)) * 10 * _NS  # aligned: reruns hit the query cache


def _after_write() -> None:
    events.clear()
    alarm_onset.clear()
    shelves.clear()


def acknowledge(cfg: DashboardConfig, sensor: str, asset: str, who: str, comment: str) -> Event:
    """Record that ``who`` acknowledged the sensor's alarm (``alarm_acknowledged``)."""
    event = _store(cfg.store_url).acknowledge_alarm(sensor, asset, who, comment)
    _after_write()
    return event


def shelve(
    cfg: DashboardConfig, sensor: str, asset: str, who: str, reason: str, expires_ns: int
) -> Event:
    """Record that ``who`` shelved the sensor's alarms until ``expires_ns``."""
    event = _store(cfg.store_url).shelve_alarm(sensor, asset, who, reason, expires_ns)
    _after_write()
    return event


def unshelve(cfg: DashboardConfig, sensor: str, asset: str, who: str, comment: str = "") -> Event:
    """Record that ``who`` ended the shelving of the sensor's alarms."""
    event = _store(cfg.store_url).unshelve_alarm(sensor, asset, who, comment)
    _after_write()
    return event


def feature_names(cfg: DashboardConfig, model_hash: str) -> list[str] | None:
    """Readable names of the features of the model with this ``.tflite`` SHA-256, from its
    ``feature_config`` in the registry (None when the model is not registered)."""
    from .health import feature_labels

    if not model_hash:
        return None
    entry = registry(cfg).by_hash(model_hash)
    if entry is None:
        return None
    return feature_labels(entry.info.get("feature_config"))


def clear_caches() -> None:
    """Forget every cached query (tests, and the sidebar's "reload" button)."""
    snapshot.clear()
    score_series.clear()
    events.clear()
    alarm_onset.clear()
    shelves.clear()
    evidence.clear()
    _registry.clear()

"""Score stores: SQLite (embedded), InfluxDB 1.x HTTP, and a durable spool in front of them.

Open one with :func:`open_store`; every backend implements :class:`Store` (see
``docs/storage.md`` for the schema and the query semantics).
"""

from vibration.telemetry.stores.base import (
    ACK_KINDS,
    ALARM_KINDS,
    EVENT_KINDS,
    PASSWORD_ENV,
    AlarmActions,
    Event,
    Evidence,
    PartialWriteError,
    ScorePoint,
    ScoreSeries,
    SensorStatus,
    Store,
    StoreURLError,
    check_name,
    redact_url,
    shelved_sensors,
    store_url_with_password,
)
from vibration.telemetry.stores.factory import open_store
from vibration.telemetry.stores.influx import InfluxStore
from vibration.telemetry.stores.spool import Batch, Spool, SpooledStore, SpoolFull, SpoolStats
from vibration.telemetry.stores.sqlite import SqliteStore

__all__ = [
    "ACK_KINDS",
    "ALARM_KINDS",
    "EVENT_KINDS",
    "PASSWORD_ENV",
    "AlarmActions",
    "Batch",
    "Event",
    "Evidence",
    "InfluxStore",
    "PartialWriteError",
    "ScorePoint",
    "ScoreSeries",
    "SensorStatus",
    "Spool",
    "SpoolFull",
    "SpoolStats",
    "SpooledStore",
    "SqliteStore",
    "Store",
    "StoreURLError",
    "check_name",
    "open_store",
    "redact_url",
    "shelved_sensors",
    "store_url_with_password",
]

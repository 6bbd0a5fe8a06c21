"""SQLite score store: the embedded default (``sqlite:///path/to/scores.db``).

Same schema and query semantics as the InfluxDB store (see ``docs/storage.md``). One
connection in WAL mode shared by all threads behind a lock; every value is a bound
parameter, never formatted into SQL. A point's identity is its primary key (tags + time),
and writes are ``INSERT OR REPLACE``, so replaying a batch does not duplicate it.

Opening a database written by an older tinypdm adds the columns it lacks (``ALTER TABLE
... ADD COLUMN``, NULL in the old rows): the version-2 score fields and ``expires_ns``.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from vibration.errors import StoreError, StoreUnavailable
from vibration.telemetry.stores.base import (
    AlarmActions,
    Event,
    Evidence,
    ScorePoint,
    ScoreSeries,
    SensorStatus,
    check_name,
    check_range,
)

__all__ = ["SqliteStore"]

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS anomaly_score (
    time_ns   INTEGER NOT NULL,
    sensor    TEXT    NOT NULL,
    asset     TEXT    NOT NULL,
    model     TEXT    NOT NULL,
    score     REAL    NOT NULL,
    threshold REAL    NOT NULL,
    alarm     INTEGER NOT NULL,
    rms       REAL    NOT NULL,
    kurtosis  REAL    NOT NULL,
    seq       INTEGER NOT NULL,
    state             INTEGER,
    speed_rpm         REAL,
    velocity_rms_mm_s REAL,
    iso_zone          INTEGER,
    top_features      TEXT,
    PRIMARY KEY (sensor, time_ns, asset, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sensor_status (
    time_ns        INTEGER NOT NULL,
    sensor         TEXT    NOT NULL,
    asset          TEXT    NOT NULL,
    firmware       TEXT    NOT NULL,
    model_hash     TEXT    NOT NULL,
    sample_rate    REAL    NOT NULL,
    crc_errors     INTEGER NOT NULL,
    dropped_frames INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    PRIMARY KEY (sensor, time_ns, asset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event (
    time_ns INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    sensor  TEXT    NOT NULL,
    asset   TEXT    NOT NULL,
    text    TEXT    NOT NULL,
    author  TEXT    NOT NULL,
    expires_ns INTEGER,
    PRIMARY KEY (time_ns, kind, sensor, asset)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_by_sensor ON event (sensor, time_ns);
CREATE TABLE IF NOT EXISTS evidence (
    time_ns     INTEGER NOT NULL,
    sensor      TEXT    NOT NULL,
    asset       TEXT    NOT NULL,
    sample_rate REAL    NOT NULL,
    scale       REAL    NOT NULL,
    units       TEXT    NOT NULL,
    axes        INTEGER NOT NULL,
    window      INTEGER NOT NULL,
    speed_rpm   REAL,
    model       TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    samples     BLOB    NOT NULL,
    PRIMARY KEY (sensor, time_ns, asset)
) WITHOUT ROWID;
"""

# Distinct values of the leading primary-key column in O(k log n) (a "skip scan").
_DISTINCT_SENSORS = """
WITH RECURSIVE s(sensor) AS (
    SELECT MIN(sensor) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(sensor) FROM {table} WHERE sensor > s.sensor) FROM s
    WHERE s.sensor IS NOT NULL
)
SELECT sensor FROM s WHERE sensor IS NOT NULL
"""

_SCORE_COLUMNS = (
    "time_ns, sensor, asset, model, score, threshold, alarm, rms, kurtosis, seq, "
    "state, speed_rpm, velocity_rms_mm_s, iso_zone, top_features"
)
_EVENT_COLUMNS = "time_ns, kind, sensor, asset, text, author, expires_ns"
# Columns added after the first schema: (table, column, type), added to older files on open.
_ADDED_COLUMNS = (
    ("anomaly_score", "state", "INTEGER"),
    ("anomaly_score", "speed_rpm", "REAL"),
    ("anomaly_score", "velocity_rms_mm_s", "REAL"),
    ("anomaly_score", "iso_zone", "INTEGER"),
    ("anomaly_score", "top_features", "TEXT"),
    ("event", "expires_ns", "INTEGER"),
)
_EVIDENCE_COLUMNS = (
    "time_ns, sensor, asset, sample_rate, scale, units, axes, window, speed_rpm, model, "
    "source, samples"
)
_STATUS_COLUMNS = (
    "time_ns, sensor, asset, firmware, model_hash, sample_rate, crc_errors, dropped_frames"
)


class SqliteStore(AlarmActions):
    """Score store in one SQLite file.

    Parameters
    ----------
    path : path or ``":memory:"``
        The database file; its parent directory must exist. Created if missing.
    timeout : float
        Seconds to wait for a lock held by another process before
        :class:`~vibration.errors.StoreUnavailable`.
    """

    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, check_same_thread=False, isolation_level=None
            )
            with self._lock:
                if self.path != ":memory:":
                    self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
                self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path!r}: {exc}") from exc

    def _migrate(self) -> None:
        """Add the columns an older database lacks (idempotent; names are constants)."""
        have: dict[str, set[str]] = {}
        for table, column, kind in _ADDED_COLUMNS:
            if table not in have:
                rows = self._conn.execute(f"PRAGMA table_info({table})").fetchall()
                have[table] = {r[1] for r in rows}
            if column not in have[table]:
                try:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise
                have[table].add(column)

    @property
    def url(self) -> str:
        return f"sqlite://{self.path}" if self.path.startswith("/") else f"sqlite:{self.path}"

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if "locked" in text or "busy" in text:
                    raise StoreUnavailable(f"{self.url}: {text}") from exc
                raise StoreError(f"{self.url}: {text}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"{self.url}: {exc}") from exc

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._guard() as conn:
            return fn(conn)

    # -- writes -----------------------------------------------------------------------

    def write_scores(self, points: Sequence[ScorePoint]) -> None:
        rows = [
            (
                p.time_ns,
                p.sensor,
                p.asset,
                p.model,
                float(p.score),
                float(p.threshold),
                int(bool(p.alarm)),
                float(p.rms),
                float(p.kurtosis),
                int(p.seq),
                None if p.state is None else int(p.state),
                None if p.speed_rpm is None else float(p.speed_rpm),
                None if p.velocity_rms_mm_s is None else float(p.velocity_rms_mm_s),
                None if p.iso_zone is None else int(p.iso_zone),
                _features_text(p.top_features),
            )
            for p in points
        ]
        self._write(
            f"INSERT OR REPLACE INTO anomaly_score ({_SCORE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def write_status(self, statuses: Sequence[SensorStatus]) -> None:
        rows = [
            (
                s.time_ns,
                s.sensor,
                s.asset,
                s.firmware,
                s.model_hash,
                float(s.sample_rate),
                int(s.crc_errors),
                int(s.dropped_frames),
                s.time_ns,
            )
            for s in statuses
        ]
        self._write(
            f"INSERT OR REPLACE INTO sensor_status ({_STATUS_COLUMNS}, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def write_events(self, events: Sequence[Event]) -> None:
        rows = [
            (e.time_ns, e.kind, e.sensor, e.asset, e.text, e.author, e.expires_ns) for e in events
        ]
        self._write(
            f"INSERT OR REPLACE INTO event ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    # -- reads ------------------------------------------------------------------------

    def sensors(self) -> list[SensorStatus]:
        def run(conn: sqlite3.Connection) -> list[SensorStatus]:
            names = [r[0] for r in conn.execute(_DISTINCT_SENSORS.format(table="sensor_status"))]
            out = []
            for name in names:
                row = conn.execute(
                    f"SELECT {_STATUS_COLUMNS} FROM sensor_status WHERE sensor = ? "
                    "ORDER BY time_ns DESC LIMIT 1",
                    (name,),
                ).fetchone()
                out.append(SensorStatus(*row))
            return out

        return self._read(run)

    def latest_scores(self) -> dict[str, ScorePoint]:
        def run(conn: sqlite3.Connection) -> dict[str, ScorePoint]:
            names = [r[0] for r in conn.execute(_DISTINCT_SENSORS.format(table="anomaly_score"))]
            out = {}
            for name in names:
                row = conn.execute(
                    f"SELECT {_SCORE_COLUMNS} FROM anomaly_score WHERE sensor = ? "
                    "ORDER BY time_ns DESC LIMIT 1",
                    (name,),
                ).fetchone()
                out[name] = _score_from_row(row)
            return out

        return self._read(run)

    def query_scores(
        self, sensor: str, start_ns: int, end_ns: int, bucket_s: int | None = None
    ) -> ScoreSeries:
        check_name(sensor, "sensor")
        check_range(start_ns, end_ns, bucket_s)
        if bucket_s is None:
            sql = (
                "SELECT time_ns, score, score, threshold, alarm, rms, kurtosis, 1, "
                "speed_rpm, velocity_rms_mm_s, state "
                "FROM anomaly_score WHERE sensor = ? AND time_ns >= ? AND time_ns < ? "
                "ORDER BY time_ns"
            )
            params: tuple[Any, ...] = (sensor, int(start_ns), int(end_ns))
        else:
            sql = (
                "SELECT (time_ns / ?) * ? AS bucket, AVG(score), MAX(score), AVG(threshold), "
                "MAX(alarm), AVG(rms), AVG(kurtosis), COUNT(*), "
                "AVG(speed_rpm), AVG(velocity_rms_mm_s), MAX(state) "
                "FROM anomaly_score WHERE sensor = ? AND time_ns >= ? AND time_ns < ? "
                "GROUP BY bucket ORDER BY bucket"
            )
            width = int(bucket_s) * 1_000_000_000
            params = (width, width, sensor, int(start_ns), int(end_ns))
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        return ScoreSeries.from_rows(rows)

    def events(self, start_ns: int, end_ns: int, sensor: str | None = None) -> list[Event]:
        check_range(start_ns, end_ns)
        sql = f"SELECT {_EVENT_COLUMNS} FROM event "
        params: tuple[Any, ...]
        if sensor is None:
            sql += "WHERE time_ns >= ? AND time_ns < ? ORDER BY time_ns, kind, sensor, asset"
            params = (int(start_ns), int(end_ns))
        else:
            check_name(sensor, "sensor")
            sql += (
                "WHERE sensor = ? AND time_ns >= ? AND time_ns < ? "
                "ORDER BY time_ns, kind, sensor, asset"
            )
            params = (sensor, int(start_ns), int(end_ns))
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [Event(*row) for row in rows]

    def count_scores(self, sensor: str | None = None) -> int:
        if sensor is None:
            row = self._read(lambda c: c.execute("SELECT COUNT(*) FROM anomaly_score").fetchone())
        else:
            check_name(sensor, "sensor")
            row = self._read(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM anomaly_score WHERE sensor = ?", (sensor,)
                ).fetchone()
            )
        return int(row[0])

    # -- evidence -----------------------------------------------------------------------

    def write_evidence(self, records: Sequence[Evidence]) -> None:
        rows = [
            (
                r.time_ns,
                r.sensor,
                r.asset,
                r.sample_rate,
                r.scale,
                r.units,
                r.axes,
                r.window,
                None if math.isnan(r.speed_rpm) else r.speed_rpm,
                r.model,
                r.source,
                np.ascontiguousarray(r.samples, dtype="<i2").tobytes(),
            )
            for r in records
        ]
        self._write(
            f"INSERT OR REPLACE INTO evidence ({_EVIDENCE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def evidence(self, sensor: str, start_ns: int, end_ns: int) -> list[Evidence]:
        check_name(sensor, "sensor")
        check_range(start_ns, end_ns)
        sql = (
            f"SELECT {_EVIDENCE_COLUMNS} FROM evidence "
            "WHERE sensor = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns, asset"
        )
        params = (sensor, int(start_ns), int(end_ns))
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [_evidence_from_row(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _features_text(top: Sequence[int]) -> str | None:
    return ",".join(str(int(i)) for i in top) if top else None


def _features(text: str | None) -> tuple[int, ...]:
    return tuple(int(i) for i in text.split(",")) if text else ()


def _score_from_row(row: Sequence[Any]) -> ScorePoint:
    (t, sensor, asset, model, score, threshold, alarm, rms, kurtosis, seq,
     state, speed, velocity, zone, top) = row  # fmt: skip
    return ScorePoint(
        time_ns=int(t),
        sensor=sensor,
        asset=asset,
        model=model,
        score=float(score),
        threshold=float(threshold),
        alarm=bool(alarm),
        rms=float(rms),
        kurtosis=float(kurtosis),
        seq=int(seq),
        state=None if state is None else int(state),
        speed_rpm=None if speed is None else float(speed),
        velocity_rms_mm_s=None if velocity is None else float(velocity),
        iso_zone=None if zone is None else int(zone),
        top_features=_features(top),
    )


def _evidence_from_row(row: Sequence[Any]) -> Evidence:
    t, sensor, asset, rate, scale, units, axes, window, speed, model, source, blob = row
    samples = np.frombuffer(bytes(blob), dtype="<i2").astype(np.int16).reshape(-1, int(axes))
    return Evidence(
        time_ns=int(t),
        sensor=sensor,
        asset=asset,
        sample_rate=float(rate),
        scale=float(scale),
        units=units,
        samples=samples,
        window=int(window),
        speed_rpm=math.nan if speed is None else float(speed),
        model=model,
        source=source,
    )

"""An SQLite store written before protocol version 2 opens, gains the new columns, keeps its
rows and takes the new fields (ALTER TABLE ADD COLUMN on open)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vibration.telemetry.stores import Batch, Event, ScorePoint, SqliteStore

T0 = 1_700_000_000 * 10**9
S = 10**9

# The schema of tinypdm before protocol version 2, verbatim.
_OLD_SCHEMA = """
CREATE TABLE anomaly_score (
    time_ns INTEGER NOT NULL, sensor TEXT NOT NULL, asset TEXT NOT NULL, model TEXT NOT NULL,
    score REAL NOT NULL, threshold REAL NOT NULL, alarm INTEGER NOT NULL, rms REAL NOT NULL,
    kurtosis REAL NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (sensor, time_ns, asset, model)
) WITHOUT ROWID;
CREATE TABLE sensor_status (
    time_ns INTEGER NOT NULL, sensor TEXT NOT NULL, asset TEXT NOT NULL,
    firmware TEXT NOT NULL, model_hash TEXT NOT NULL, sample_rate REAL NOT NULL,
    crc_errors INTEGER NOT NULL, dropped_frames INTEGER NOT NULL, last_seen INTEGER NOT NULL,
    PRIMARY KEY (sensor, time_ns, asset)
) WITHOUT ROWID;
CREATE TABLE event (
    time_ns INTEGER NOT NULL, kind TEXT NOT NULL, sensor TEXT NOT NULL, asset TEXT NOT NULL,
    text TEXT NOT NULL, author TEXT NOT NULL,
    PRIMARY KEY (time_ns, kind, sensor, asset)
) WITHOUT ROWID;
CREATE INDEX event_by_sensor ON event (sensor, time_ns);
INSERT INTO anomaly_score VALUES (1700000000000000000, 's1', 'pump-1', 'abc', 0.5, 1.0, 0,
    0.25, 3.0, 7);
INSERT INTO event VALUES (1700000000000000000, 'alarm', 's1', 'pump-1', 'old alarm', 'gateway');
"""


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _old_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA)
    conn.close()


def test_store_sqlite_old_file_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    assert "state" not in _columns(path, "anomaly_score")
    with SqliteStore(path) as store:
        old = store.latest_scores()["s1"]
        assert (old.score, old.seq, old.state, old.speed_rpm, old.top_features) == (
            0.5,
            7,
            None,
            None,
            (),
        )
        assert store.events(T0, T0 + 1) == [
            Event(T0, "alarm", "s1", "pump-1", "old alarm", "gateway")
        ]
        new = ScorePoint(
            T0 + S, "s1", "pump-1", "abc", 2.0, 1.0, True, 0.3, 4.0, 8,
            state=2, speed_rpm=1500.0, velocity_rms_mm_s=7.5, iso_zone=4, top_features=(3, 1),
        )  # fmt: skip
        store.write_scores([new])
        shelf = store.shelve_alarm("s1", "pump-1", "ana", "known fault", T0 + 9 * S, time_ns=T0 + S)
        assert store.latest_scores()["s1"] == new
        assert store.events(T0 + S, T0 + 2 * S) == [shelf]
    assert _columns(path, "anomaly_score")[-5:] == [
        "state",
        "speed_rpm",
        "velocity_rms_mm_s",
        "iso_zone",
        "top_features",
    ]
    assert _columns(path, "event")[-1] == "expires_ns"
    # Opening again (already migrated) changes nothing and keeps everything.
    with SqliteStore(path) as store:
        assert store.count_scores() == 2
        assert store.latest_scores()["s1"].top_features == (3, 1)


def test_store_sqlite_two_stores_migrate_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    a = SqliteStore(path)
    b = SqliteStore(path)  # the dashboard opening it while the gateway runs
    assert b.latest_scores()["s1"].state is None
    a.close()
    b.close()


def test_store_spool_batch_carries_v2_fields_and_expiry() -> None:
    batch = Batch(
        scores=[
            ScorePoint(T0, "s", "a", "m", 1.0, 1.0, False, 0.1, 3.0, 1, 3, 990.0, None, 0, (5,))
        ],
        events=[Event(T0, "alarm_shelved", "s", "a", "why", "who", T0 + S)],
    )
    again = Batch.from_bytes(batch.to_bytes())
    assert again == batch
    old_row = Batch.from_bytes(
        Batch(scores=[ScorePoint(T0, "s", "a", "m", 1.0, 1.0, False, 0.1, 3.0)]).to_bytes()
    )
    assert old_row.scores[0].state is None

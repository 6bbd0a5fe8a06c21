"""SQLite backend specifics: URLs, WAL, locking, bound parameters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vibration.errors import StoreError, StoreUnavailable
from vibration.telemetry.stores import ScorePoint, StoreURLError, open_store
from vibration.telemetry.stores.factory import sqlite_path
from vibration.telemetry.stores.sqlite import SqliteStore

T0 = 1_700_000_000 * 10**9


def pt(i: int, sensor: str = "s1") -> ScorePoint:
    return ScorePoint(T0 + i, sensor, "pump", "m", 0.5, 1.0, False, 0.2, 3.0, i)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///tmp/x.db", "/tmp/x.db"),
        ("sqlite:rel/x.db", "rel/x.db"),
        ("sqlite://x.db", "x.db"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_store_sqlite_url_paths(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize(
    "url", ["sqlite:", "sqlite://", "sqlite:///tmp/", "sqlite:///x.db?mode=ro"]
)
def test_store_sqlite_bad_urls_raise(url: str) -> None:
    with pytest.raises(StoreURLError, match="no file path"):
        open_store(url)


def test_store_sqlite_uses_wal_and_reports_its_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/s.db")
    assert store.url == f"sqlite://{tmp_path}/s.db"
    store.write_scores([pt(0)])
    store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_store_sqlite_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open SQLite store"):
        open_store(f"sqlite://{tmp_path}/no/such/dir/s.db")


def test_store_sqlite_lock_held_elsewhere_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", timeout=0.05)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailable, match="locked"):
        store.write_scores([pt(0)])
    other.execute("ROLLBACK")
    other.close()
    store.write_scores([pt(0)])
    assert store.count_scores() == 1
    store.close()


def test_store_sqlite_in_memory_works(tmp_path: Path) -> None:
    with SqliteStore(":memory:") as store:
        store.write_scores([pt(i) for i in range(5)])
        assert store.count_scores() == 5


def test_store_sqlite_failed_batch_writes_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.write_scores([pt(0)])
    with store._guard() as conn:  # make the second row of the next batch fail
        conn.execute(
            "CREATE TRIGGER no_seven BEFORE INSERT ON anomaly_score WHEN NEW.seq = 7 "
            "BEGIN SELECT RAISE(ABORT, 'seven refused'); END"
        )
    with pytest.raises(StoreError, match="seven refused"):
        store.write_scores([pt(6), pt(7), pt(8)])
    assert store.count_scores() == 1
    store.close()

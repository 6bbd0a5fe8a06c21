"""Alarm evidence (raw windows) round trips through SQLite, a real influxd and the spool."""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support import drop_database, with_database
from vibration.errors import StoreUnavailable
from vibration.telemetry.stores import Evidence, SpooledStore, Store, open_store
from vibration.telemetry.stores.influx import EVIDENCE_CHUNK_CHARS, evidence_lines
from vibration.telemetry.stores.spool import Batch

T0 = 1_700_000_000_000_000_000


def record(t: int = T0, n: int = 4096, axes: int = 1, seed: int = 0, **kw: object) -> Evidence:
    rng = np.random.default_rng(seed)
    samples = rng.integers(-32768, 32768, size=(n, axes), dtype=np.int16)
    fields: dict[str, object] = dict(
        sensor='pump 1, "north"',
        asset="line=2",
        sample_rate=12_000.0,
        scale=1.0 / 4096,
        units="g",
        window=2048,
        speed_rpm=1797.0,
        model="3f2a9c01d4e5",
    )
    fields.update(kw)
    return Evidence(t, samples=samples, **fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.influxd)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite://{tmp_path / 'scores.db'}")
        yield s
        s.close()
        return
    base = request.getfixturevalue("influxd_url")
    s = open_store(with_database(base, "t_" + uuid.uuid4().hex[:12]))
    yield s
    drop_database(s)
    s.close()


def test_store_evidence_round_trip(store: Store) -> None:
    a = record(T0, seed=1)
    b = record(T0 + 10**9, n=300, axes=3, seed=2, speed_rpm=math.nan, source="host")
    other = record(T0 + 5, sensor="fan-1", seed=3)
    store.write_evidence([b, a, other])
    got = store.evidence(a.sensor, T0, T0 + 2 * 10**9)
    assert got == [a, b]
    assert got[0].samples.dtype == np.int16 and got[0].samples.shape == (4096, 1)
    assert np.array_equal(got[1].samples, b.samples) and got[1].axes == 3
    assert math.isnan(got[1].speed_rpm) and got[0].speed_rpm == 1797.0
    assert store.evidence(a.sensor, T0 + 1, T0 + 10**9) == []  # half-open range
    assert store.evidence("fan-1", 0, T0 + 10) == [other]


def test_store_evidence_is_idempotent_and_large_records_are_chunked(store: Store) -> None:
    # 65536 samples = 128 KiB of int16 = ~175 000 base64 characters: more than one
    # InfluxDB string field may hold.
    big = record(T0, n=65536, seed=4)
    assert len(evidence_lines([big])[0]) > 2 * EVIDENCE_CHUNK_CHARS
    store.write_evidence([big])
    store.write_evidence([big])
    got = store.evidence(big.sensor, 0, T0 + 1)
    assert got == [big]


def test_store_evidence_table_is_added_to_an_old_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE event (time_ns INTEGER NOT NULL, kind TEXT NOT NULL, sensor TEXT NOT NULL,"
        " asset TEXT NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL,"
        " PRIMARY KEY (time_ns, kind, sensor, asset)) WITHOUT ROWID"
    )
    con.commit()
    con.close()
    store = open_store(f"sqlite://{path}")
    try:
        assert store.evidence("s", 0, 10) == []
        store.write_evidence([record(T0)])
        assert len(store.evidence(record().sensor, 0, T0 + 1)) == 1
    finally:
        store.close()


def test_store_evidence_rejects_bad_records() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        record(sample_rate=0.0)
    with pytest.raises(ValueError, match="int16"):
        Evidence(T0, "s", "a", 100.0, 1.0, "g", np.array([40000]))
    with pytest.raises(ValueError, match="units"):
        record(units="g\n")


class _Down:
    """An inner store that is unreachable until ``up`` is set (then writes to SQLite)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.up = False

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.inner, name)
        if name.startswith("write_") and callable(attr):

            def write(*args: object) -> object:
                if not self.up:
                    raise StoreUnavailable("store down")
                return attr(*args)

            return write
        return attr


def test_store_evidence_waits_in_the_spool_while_the_store_is_down(tmp_path: Path) -> None:
    inner = open_store(f"sqlite://{tmp_path / 'scores.db'}")
    down = _Down(inner)
    spooled = SpooledStore(down, tmp_path / "spool", background=False)  # type: ignore[arg-type]
    try:
        ev = record(T0, seed=5)
        spooled.write(Batch(evidence=[ev]))
        assert spooled.stats().pending_points == 1
        assert inner.evidence(ev.sensor, 0, T0 + 1) == []
        # the spool survives a restart of the gateway
        spooled.spool.close()
        spooled.spool = type(spooled.spool)(tmp_path / "spool")
        down.up = True
        assert spooled.drain() == 1
        assert spooled.evidence(ev.sensor, 0, T0 + 1) == [ev]
    finally:
        spooled.close()

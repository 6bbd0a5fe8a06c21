"""The durable spool and the store that spools: real SQLite files, real processes, real
influxd, SIGKILL and a file-size limit standing in for a full disk."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, require_tool, wait_for
from vibration.errors import StoreError, StoreUnavailable
from vibration.telemetry.stores import Event, ScorePoint, SensorStatus, open_store
from vibration.telemetry.stores.influxd_process import InfluxdServer, free_port
from vibration.telemetry.stores.spool import Batch, Spool, SpooledStore, SpoolFull
from vibration.telemetry.stores.sqlite import SqliteStore

T0 = 1_700_000_000 * 10**9


def scores(first: int, n: int, sensor: str = "s1") -> list[ScorePoint]:
    return [
        ScorePoint(
            T0 + (first + i) * 10**6,
            sensor,
            "pump",
            "m0",
            0.1 * i,
            1.0,
            i % 7 == 0,
            0.3,
            3.0,
            first + i,
        )
        for i in range(n)
    ]


def test_spool_batches_come_back_in_order_across_reopen(tmp_path: Path) -> None:
    batches = [
        Batch(scores=scores(0, 3)),
        Batch(statuses=[SensorStatus(T0, "s1", "pump", "fw", "ab", 100.0, 1, 2)]),
        Batch(events=[Event(T0, "note", "s1", "pump", 'a "quoted"\nline', "me")]),
        Batch(scores=scores(3, 2)),
    ]
    with Spool(tmp_path) as spool:
        for b in batches:
            spool.append(b)
        assert spool.pending_points == 7 and spool.appended_total == 7
    with Spool(tmp_path) as spool:
        assert spool.pending_points == 7
        got = spool.peek(10_000)
        assert [b for _, b in got] == batches
        assert [b for _, b in spool.peek(3)] == batches[:1]  # at least one, up to ~3 points
        spool.remove([got[0][0], got[1][0]])
        assert spool.pending_points == 3
    with Spool(tmp_path) as spool:
        assert [b for _, b in spool.peek(100)] == batches[2:]


def test_spool_full_refuses_batch_and_counts_it_lost(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=2000) as spool:
        spool.append(Batch(scores=scores(0, 10)))
        with pytest.raises(SpoolFull, match="full") as info:
            for k in range(1, 100):
                spool.append(Batch(scores=scores(10 * k, 10)))
        assert info.value.lost == 10
        assert spool.lost_total == 10
        kept = spool.pending_points
        assert kept == spool.appended_total and spool.pending_bytes <= 2000
        with pytest.raises(SpoolFull):
            spool.append(Batch(scores=scores(5000, 10)))
        assert spool.lost_total == 20 and spool.pending_points == kept


def test_spool_directory_is_locked_by_one_owner(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(StoreError, match="in use"):
        Spool(tmp_path)
    Spool(tmp_path).close()  # released on close


def test_spool_state_is_saved_with_the_batch(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        assert spool.load_state() is None
        spool.append(Batch(scores=scores(0, 2)), {"link": {"seq": 41}})
        spool.save_state({"link": {"seq": 42}})
        assert spool.pending_points == 2
    with Spool(tmp_path) as spool:
        assert spool.load_state() == {"link": {"seq": 42}}


_KILL_WRITER = r"""
import sys
from vibration.telemetry.stores.spool import Batch, Spool
from vibration.telemetry.stores import ScorePoint
spool = Spool(sys.argv[1])
i = 0
while True:
    pts = [ScorePoint(10**18 + i * 100 + j, "s1", "a", "m", 0.5, 1.0, False, 0.1, 3.0, i)
           for j in range(100)]
    spool.append(Batch(scores=pts), {"acked": i})
    print(i, flush=True)
    i += 1
"""


def test_spool_acknowledged_batches_survive_sigkill(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    acked = -1
    while acked < 40:
        line = proc.stdout.readline()
        assert line, "writer died"
        acked = int(line)
    proc.send_signal(signal.SIGKILL)  # mid-append, most likely
    proc.wait()
    acked = max([acked, *(int(x) for x in proc.stdout.read().split())])
    proc.stdout.close()
    with Spool(tmp_path) as spool:  # lock released by the kernel
        got = [b for _, b in spool.peek(10**9)]
        state = spool.load_state()
    assert len(got) >= acked + 1
    assert [b.scores[0].seq for b in got] == list(range(len(got)))
    assert all(len(b.scores) == 100 for b in got)
    assert state is not None and state["acked"] == len(got) - 1


_FULL_DISK = r"""
import resource, signal, sys
from vibration.telemetry.stores.spool import Batch, Spool, SpoolFull
from vibration.telemetry.stores import ScorePoint
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
spool = Spool(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
ok = 0
for i in range(400):
    pts = [ScorePoint(10**18 + i * 1000 + j, "s1", "a", "m", 0.001 * j * i, 1.0, False,
                      0.1 * j, 3.0 + i, i) for j in range(300)]
    try:
        spool.append(Batch(scores=pts))
        ok += 1
    except SpoolFull as exc:
        print("FULL", ok, exc.lost, spool.lost_total, str(exc).splitlines()[0], flush=True)
        break
else:
    print("NEVER FULL", ok)
"""


def test_spool_disk_full_is_a_clear_error_and_counts_lost(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    assert words[0] == "FULL", out.stdout
    ok, lost, lost_total = int(words[1]), int(words[2]), int(words[3])
    assert ok > 0 and lost == 300 and lost_total == 300
    assert "points lost" in out.stdout
    with Spool(tmp_path) as spool:  # what was acknowledged is intact
        assert spool.pending_points == ok * 300


# -- SpooledStore -------------------------------------------------------------------------


def _locked(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_spooled_store_spools_while_sqlite_is_locked_then_replays(tmp_path: Path) -> None:
    db = tmp_path / "scores.db"
    store = SpooledStore(SqliteStore(db, timeout=0.05), tmp_path / "spool", background=False)
    store.write_scores(scores(0, 10))
    assert store.count_scores() == 10 and len(store.spool) == 0
    holder = _locked(db)
    store.write_scores(scores(10, 10))  # locked -> StoreUnavailable -> spooled
    store.write_scores(scores(20, 10))  # backlog -> spooled behind it, in order
    store.write_scores(scores(5, 10))  # overlaps what is stored already
    assert store.stats().pending_points == 30
    assert store.drain() == 0  # still locked
    holder.execute("ROLLBACK")
    holder.close()
    assert store.drain() == 30
    assert store.count_scores() == 30  # 0..29, no duplicates
    st = store.stats()
    assert (st.pending_points, st.replayed_total, st.spooled_total, st.lost_total) == (0, 30, 30, 0)
    assert st.written_total == 40
    store.close()


def test_spooled_store_commit_journals_then_delivers_with_state(tmp_path: Path) -> None:
    db = tmp_path / "scores.db"
    store = SpooledStore(SqliteStore(db, timeout=0.05), tmp_path / "spool", background=False)
    store.commit(Batch(scores=scores(0, 5)), {"seq": 5})
    assert store.stats().pending_points == 5  # journaled first
    assert store.drain() == 5
    holder = _locked(db)
    store.commit(Batch(scores=scores(5, 5)), {"seq": 10})
    assert store.drain() == 0
    st = store.stats()
    assert (st.pending_points, st.spooled_total, st.written_total) == (5, 5, 5)
    assert store.drain() == 0  # a second failure does not count the batch twice
    assert store.stats().spooled_total == 5
    holder.execute("ROLLBACK")
    holder.close()
    assert store.drain() == 5
    assert store.spool.load_state() == {"seq": 10}
    assert store.count_scores() == 10
    store.close()


def test_spooled_store_refusal_is_raised_not_spooled(tmp_path: Path) -> None:
    store = SpooledStore(SqliteStore(tmp_path / "s.db"), tmp_path / "spool", background=False)
    store.inner.close()  # a closed store refuses: StoreError, not StoreUnavailable
    with pytest.raises(StoreError) as info:
        store.write_scores(scores(0, 3))
    assert not isinstance(info.value, StoreUnavailable)
    assert len(store.spool) == 0
    store.spool.close()


def test_spooled_store_full_spool_raises_and_counts_lost(tmp_path: Path) -> None:
    url = f"influxdb://127.0.0.1:{free_port()}/tinypdm"  # nobody listens: refused
    store = SpooledStore(open_store(url), tmp_path / "spool", max_bytes=3000, background=False)
    with pytest.raises(SpoolFull, match="points lost"):
        for k in range(100):
            store.write_scores(scores(10 * k, 10))
    assert store.stats().lost_total == 10
    assert "connection refused" in store.stats().last_error
    store.close()


@pytest.mark.influxd
@pytest.mark.slow
def test_spooled_store_rides_out_influxd_restart(tmp_path: Path) -> None:

    require_tool("influxd", "influxdb")
    server = InfluxdServer(tmp_path / "db").start()
    store = SpooledStore(
        open_store(server.store_url()), tmp_path / "spool", retry_min_s=0.05, retry_max_s=0.2
    )
    try:
        store.write_scores(scores(0, 100))
        server.stop()
        for k in range(1, 11):
            store.write_scores(scores(100 * k, 100))
        assert store.stats().pending_points > 0
        server.start()
        wait_for(lambda: store.stats().pending_points == 0, 60.0, "spool replay")
        assert store.count_scores() == 1100
        store.write_scores(scores(0, 1100))  # a second replay of everything: no duplicates
        assert store.count_scores() == 1100
        assert store.stats().lost_total == 0
    finally:
        store.close()
        server.stop()


_SPOOLING_WRITER = r"""
import sys
from vibration.telemetry.stores import ScorePoint, open_store
from vibration.telemetry.stores.spool import SpooledStore
store = SpooledStore(open_store(sys.argv[1]), sys.argv[2], background=False)
i = 0
while True:
    pts = [ScorePoint(10**18 + (i * 50 + j) * 1000, "s1", "a", "m", 0.5, 1.0, False, 0.1,
                      3.0, i * 50 + j) for j in range(50)]
    store.write_scores(pts)
    print(i, flush=True)
    i += 1
"""


@pytest.mark.influxd
def test_spooled_store_sigkilled_writer_loses_no_acknowledged_point(tmp_path: Path) -> None:

    require_tool("influxd", "influxdb")
    server = InfluxdServer(tmp_path / "db")  # not started yet: the writer spools
    proc = subprocess.Popen(
        [sys.executable, "-c", _SPOOLING_WRITER, server.store_url(), str(tmp_path / "spool")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    acked = -1
    while acked < 30:
        line = proc.stdout.readline()
        assert line, "writer died"
        acked = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked = max([acked, *(int(x) for x in proc.stdout.read().split())])
    proc.stdout.close()
    server.start()
    try:
        with SpooledStore(open_store(server.store_url()), tmp_path / "spool") as store:
            store.drain()
            n = store.count_scores()
            assert (acked + 1) * 50 <= n <= (acked + 2) * 50
            assert n % 50 == 0
            latest = store.latest_scores()["s1"]
            assert latest.seq == n - 1
    finally:
        server.stop()

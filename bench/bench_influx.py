"""Score-store throughput: bulk writes into a real influxd, and the dashboard's 24 h query.

* bulk write: 1,000,000 score points (100 sensors) in batches of 5000, through
  ``InfluxStore.write_scores`` (line protocol formatting included); goal >= 100k points/s.
* query: one sensor's last 24 h (seeded at 1 point/s) downsampled server-side to 1-minute
  buckets; median of 7 runs; goal <= 200 ms. The same query on SQLite for comparison.

Quick mode: 100,000 points and 2 h of history.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._table import Row, print_rows
from vibration.telemetry.stores import ScorePoint, open_store
from vibration.telemetry.stores.influx import score_lines
from vibration.telemetry.stores.influxd_process import InfluxdServer, influxd_binary

S = 10**9
BATCH = 5000


def _points(n: int, t0: int, sensors: int) -> list[ScorePoint]:
    return [
        ScorePoint(
            t0 + (i // sensors) * 100_000_000,
            f"bulk-{i % sensors:03d}",
            "line-1",
            "3f2a9c01d4e5",
            0.01 + (i % 97) * 1e-4,
            0.05,
            i % 97 == 0,
            0.3 + (i % 13) * 0.01,
            3.0 + (i % 7) * 0.1,
            i // sensors,
        )
        for i in range(n)
    ]


def _history(hours: int, end_ns: int) -> list[ScorePoint]:
    n = hours * 3600
    start = end_ns - n * S
    return [
        ScorePoint(
            start + i * S,
            "trend-1",
            "line-1",
            "3f2a9c01d4e5",
            0.02 + (i % 600) * 1e-5,
            0.05,
            (i % 600) > 590,
            0.31,
            3.1,
            i,
        )
        for i in range(n)
    ]


def _time_query(store: object, end_ns: int, hours: int, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        series = store.query_scores("trend-1", end_ns - hours * 3600 * S, end_ns, bucket_s=60)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
        if len(series) != hours * 60:
            raise RuntimeError(f"expected {hours * 60} buckets, got {len(series)}")
    return statistics.median(times) * 1000


def run(quick: bool = False) -> list[Row]:
    if influxd_binary() is None:
        return [Row("influx", "skipped", "influxd not installed")]
    n = 100_000 if quick else 1_000_000
    hours = 2 if quick else 24
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-influx-") as tmp:
        server = InfluxdServer(Path(tmp) / "influxd").start()
        try:
            store = open_store(server.store_url())
            t0 = 1_700_000_000 * S
            pts = _points(n, t0, 100)

            t = time.perf_counter()
            for k in range(0, len(pts), BATCH):
                score_lines(pts[k : k + BATCH])
            fmt_rate = n / (time.perf_counter() - t)

            store.write_scores(pts[:BATCH])  # create database, warm up the connection
            t = time.perf_counter()
            for k in range(BATCH, len(pts), BATCH):
                store.write_scores(pts[k : k + BATCH])
            rate = (n - BATCH) / (time.perf_counter() - t)
            count = store.count_scores()
            rows += [
                Row("influx", "line protocol formatting", fmt_rate, "points/s"),
                Row(
                    "influx",
                    f"bulk write {n:,} points, batches of {BATCH}",
                    rate,
                    "points/s",
                    ">= 100000",
                    rate >= 100_000,
                ),
                Row("influx", "points stored / written", f"{count} / {n}", "", "all", count == n),
            ]

            t = time.perf_counter()
            latest = store.latest_scores()
            latest_ms = (time.perf_counter() - t) * 1000
            rows.append(
                Row(
                    "influx",
                    f"latest_scores() of {len(latest)} sensors over {n:,} points",
                    latest_ms,
                    "ms",
                )
            )

            end = (1_750_000_000 // 60) * 60 * S  # on a bucket boundary
            history = _history(hours, end)
            for k in range(0, len(history), BATCH):
                store.write_scores(history[k : k + BATCH])
            ms = _time_query(store, end, hours)
            rows.append(
                Row(
                    "influx", f"{hours} h of 1 pt/s -> 1 min buckets", ms, "ms", "<= 200", ms <= 200
                )
            )
            store.close()

            sq = open_store(f"sqlite://{tmp}/bench.db")
            for k in range(0, len(history), BATCH):
                sq.write_scores(history[k : k + BATCH])
            t = time.perf_counter()
            for k in range(0, len(pts), BATCH):
                sq.write_scores(pts[k : k + BATCH])
            sq_rate = n / (time.perf_counter() - t)
            sq_ms = _time_query(sq, end, hours)
            rows += [
                Row("sqlite", f"bulk write {n:,} points, batches of {BATCH}", sq_rate, "points/s"),
                Row(
                    "sqlite",
                    f"{hours} h of 1 pt/s -> 1 min buckets",
                    sq_ms,
                    "ms",
                    "<= 200",
                    sq_ms <= 200,
                ),
            ]
            sq.close()
        finally:
            server.stop()
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))

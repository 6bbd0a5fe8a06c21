"""Dashboard render times against a real influxd full of scores.

Seeds a private influxd (through the store API) with 50 sensors x 24 h x 1 score/s
(4.32 M points) plus one sensor with 7 days x 1 score/s (604,800 points), then measures,
with cold caches:

* the fleet page's first render: ``AppTest.run()`` of the app (script, store queries,
  state rules, table serialisation; no browser), and the data layer alone
  (``sensors()`` + ``latest_scores()``);
* the sensor page switched to "7 d": ``AppTest.run()`` of that rerun (one server-side
  downsampled query into 600 s buckets, five Altair charts, and the alarm's evidence:
  2 x 2048 raw samples, their spectrum and envelope spectrum, three more charts), and the
  query alone.

``quick`` seeds 50 sensors x 2 h and 1 day for the long sensor.

    python -m bench.bench_dashboard [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench._table import Row, print_rows

if TYPE_CHECKING:
    from dashboard.sample_fleet import SensorSpec

TOPIC = "dashboard"
_NS = 1_000_000_000
_GOAL_S = 2.0


def _specs(n: int) -> list[SensorSpec]:
    from dashboard.sample_fleet import SensorSpec

    scenarios = ["ok"] * 40 + ["warning"] * 5 + ["alarm"] * 3 + ["offline"] * 2
    return [
        SensorSpec(f"sensor-{i:02d}", f"asset-{i // 5:02d}", scenarios[i % len(scenarios)])
        for i in range(n)
    ]


def _timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _settle(fn: Callable[[], object], limit_s: float = 60.0) -> None:
    """Call ``fn`` until two successive timings agree within 20 % (influxd compacting
    after the bulk write makes the first queries slow), for at most ``limit_s``."""
    deadline = time.monotonic() + limit_s
    last = _timed(fn)
    while time.monotonic() < deadline:
        now = _timed(fn)
        if abs(now - last) <= 0.2 * max(now, last):
            return
        last = now


def run(quick: bool = False) -> list[Row]:
    from vibration.telemetry.stores.influxd_process import InfluxdServer, influxd_binary

    if influxd_binary() is None:
        return [Row(TOPIC, "skipped", "influxd not installed (Debian package influxdb)")]
    import logging

    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" notices

    from dashboard import data
    from dashboard.config import ENV_MODELS, ENV_STORE
    from dashboard.sample_fleet import SensorSpec, sample_evidence, seed_fleet
    from dashboard.serve import APP_PATH
    from vibration.telemetry.stores import open_store

    hours = 2.0 if quick else 24.0
    long_hours = 24.0 if quick else 7 * 24.0
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tinypdm-bench-dash-") as tmp:
        server = InfluxdServer(Path(tmp) / "influxd").start()
        try:
            url = server.store_url()
            store = open_store(url)
            now = time.time_ns()
            t0 = time.perf_counter()
            n = seed_fleet(store, now_ns=now, specs=_specs(50), hours=hours, seed=1)
            long_spec = SensorSpec("long-run", "asset-long", "alarm")
            n += seed_fleet(store, now_ns=now, specs=[long_spec], hours=long_hours, seed=2)
            seed_s = time.perf_counter() - t0
            rows.append(Row(TOPIC, "points seeded", n, "points"))
            rows.append(Row(TOPIC, "seed rate (store API)", n / seed_s, "points/s"))

            os.environ[ENV_STORE] = url
            os.environ.pop(ENV_MODELS, None)

            # data layer alone, cold (a fresh client each time)
            def fleet_queries() -> None:
                s = open_store(url)
                s.sensors()
                s.latest_scores()
                s.close()

            def fleet_render() -> AppTest:
                data.clear_caches()
                return AppTest.from_file(APP_PATH, default_timeout=120).run()

            _settle(fleet_queries)
            rows.append(
                Row(TOPIC, "fleet queries (sensors+latest_scores)", _timed(fleet_queries, 3), "s")
            )
            rows.append(
                Row(
                    TOPIC,
                    "fleet page, very first run (imports included)",
                    _timed(fleet_render),
                    "s",
                )
            )
            t_fleet = _timed(fleet_render, 3)
            at = fleet_render()
            ok = not at.exception and len(at.dataframe) == 1 and len(at.dataframe[0].value) == 51
            rows.append(
                Row(
                    TOPIC,
                    "fleet page first render, 51 sensors (AppTest run, cold caches, median of 3)",
                    t_fleet,
                    "s",
                    f"<= {_GOAL_S:g}",
                    ok and t_fleet <= _GOAL_S,
                )
            )

            span = int(long_hours * 3600) * _NS
            step = 600 * _NS if not quick else 60 * _NS
            end = -(-time.time_ns() // step) * step
            bucket = step // _NS

            def week_query() -> None:
                s = open_store(url)
                s.query_scores("long-run", end - span, end, bucket)
                s.close()

            label = "7 d" if not quick else "24 h"
            _settle(week_query)
            rows.append(
                Row(
                    TOPIC, f"sensor query {label} in {bucket} s buckets", _timed(week_query, 3), "s"
                )
            )

            at.query_params["sensor"] = "long-run"
            at.switch_page("app_pages/sensor.py").run()

            def week_renders() -> float:
                times = []
                for other in ("1 h", label, "1 h", label, "1 h", label):
                    data.clear_caches()
                    t0 = time.perf_counter()
                    at.segmented_control(key="range").set_value(other).run()
                    if other == label:
                        times.append(time.perf_counter() - t0)
                return statistics.median(times)

            # the same page before and after the alarm got its evidence (same load)
            t_plain = week_renders()
            rows.append(
                Row(TOPIC, f"sensor page {label} render, alarm without evidence", t_plain, "s")
            )
            evidence_ok = sample_evidence(store, "long-run") is not None
            t_week = week_renders()
            metrics = {m.label: m.value for m in at.metric}
            # health index, speed, velocity RMS, RMS, kurtosis (the fleet speaks protocol
            # v2), then the evidence: waveform, spectrum, envelope spectrum
            ok = not at.exception and len(at.get("vega_lite_chart")) == 8 and evidence_ok
            rows.append(
                Row(
                    TOPIC,
                    f"sensor page {label} render with the alarm's evidence "
                    "(AppTest run, cold caches, median of 3)",
                    t_week,
                    "s",
                    f"<= {_GOAL_S:g}",
                    ok and t_week <= _GOAL_S,
                )
            )
            rows.append(
                Row(TOPIC, f"scores behind the {label} chart", metrics.get("scores in range", "?"))
            )
            store.close()
        finally:
            server.stop()
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv[1:]))

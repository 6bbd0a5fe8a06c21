"""A partial write to InfluxDB (field type conflict on the scores) does not take the
statuses and events replayed in the same chunk with it: every point is written or counted
(real influxd)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_dashboard_influx import _with_database
from tests.test_gateway import _raw_sender, config, frames_seen, links, wait_for
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Score, Text, encode_frame
from vibration.telemetry.gateway import Gateway
from vibration.telemetry.stores import PartialWriteError, open_store
from vibration.telemetry.stores.influx import InfluxStore

__all__ = ["links"]  # the fixture


@pytest.mark.influxd
def test_gateway_partial_write_keeps_statuses_and_events(
    tmp_path: Path, links: list[PtyLink], influxd_url: str
) -> None:
    url = _with_database(influxd_url, f"partial_{time.time_ns()}")
    with InfluxStore(url) as store:  # `score` becomes a string field: every float conflicts
        store.write_lines([f'anomaly_score,sensor=x,asset=y,model=z score="text" {time.time_ns()}'])
    hello = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "mixed", "fw", bytes(32))
    burst = [encode_frame(0, hello)]
    burst += [
        encode_frame(s, Score(s * 100_000, 0.1, 1.0, 0.2, 3.0, False, False)) for s in range(1, 61)
    ]
    burst += [encode_frame(60 + k, Text(Text.WARNING, f"warn {k}")) for k in range(1, 11)]
    cfg = config(tmp_path, links[:1], store_url=url, batch_interval_s=1.0, status_interval_s=3600.0)
    gw = Gateway(cfg).start()
    _raw_sender(links[0], [b"".join(burst)])  # one read, one batch, one replayed chunk
    wait_for(lambda: frames_seen(gw) == 60 and frames_seen(gw, "TEXT") == 10, what="frames")
    report = gw.stop()
    made = 60 + 10 + 2  # scores, notes, the HELLO's status and the final one
    assert (report.lost, report.rejected) == (60, 60)
    assert report.points_written == made - 60
    assert report.spool_pending == 0
    with open_store(url) as store:
        assert store.count_scores("mixed") == 0
        assert len(store.events(0, 2**62, sensor="mixed")) == 10
        assert [s.sensor for s in store.sensors()] == ["mixed"]


@pytest.mark.influxd
def test_store_influx_partial_post_does_not_stop_the_next_posts(influxd_url: str) -> None:
    url = _with_database(influxd_url, f"partial_posts_{time.time_ns()}")
    t0 = time.time_ns()
    with InfluxStore(url) as store:
        store.write_lines([f'anomaly_score,sensor=x,asset=y,model=z score="text" {t0}'])
        bad = [f"anomaly_score,sensor=s,asset=a,model=m score=1 {t0 + i}" for i in range(5000)]
        good = [f'event,kind=note,sensor=s,asset=a text="n{i}" {t0 + i}' for i in range(10)]
        with pytest.raises(PartialWriteError) as info:  # 5000 lines per POST: 2 POSTs
            store.write_lines(bad + good)
        assert info.value.dropped == 5000
        assert len(store.events(0, 2**62, sensor="s")) == 10

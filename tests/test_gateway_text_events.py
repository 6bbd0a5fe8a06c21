"""Device warnings that arrive in one read are all stored (none overwrites another)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_dashboard_influx import _with_database
from tests.test_gateway import _raw_sender, config, links, wait_for
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Text, encode_frame
from vibration.telemetry.gateway import Gateway
from vibration.telemetry.stores import open_store

__all__ = ["links"]  # the fixture


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("influxdb", marks=pytest.mark.influxd)])
def test_gateway_stores_every_warning_of_a_burst(
    tmp_path: Path, links: list[PtyLink], request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "sqlite":
        url = f"sqlite://{tmp_path}/scores.db"
    else:
        url = _with_database(request.getfixturevalue("influxd_url"), f"notes_{time.time_ns()}")
    hello = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "chatty", "fw", bytes(32))
    bursts = [encode_frame(0, hello)]
    for b in range(20):  # 20 bursts of 10 warnings, each burst written at once
        seqs = range(1 + 10 * b, 11 + 10 * b)
        bursts.append(b"".join(encode_frame(s, Text(Text.WARNING, f"warn {s}")) for s in seqs))
    gw = Gateway(config(tmp_path, links[:1], store_url=url)).start()
    _raw_sender(links[0], bursts, interval=0.02)
    wait_for(lambda: gw._links[0].report().frames["TEXT"] == 200, what="TEXT frames")
    report = gw.stop()
    assert (report.lost, report.dropped_frames, report.spool_pending) == (0, 0, 0)
    store = open_store(url)
    notes = store.events(0, 2**62, sensor="chatty")
    store.close()
    assert sorted(int(e.text.split()[-1]) for e in notes) == list(range(1, 201))
    assert all(e.kind == "note" and e.author == "device" for e in notes)

"""A full spool: the points it refuses are counted as lost once (not twice)."""

from __future__ import annotations

from pathlib import Path

from tests.test_gateway import _raw_sender, config, frames_seen, links, wait_for
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Score, encode_frame
from vibration.telemetry.gateway import Gateway

__all__ = ["links"]  # the fixture

#: Nothing listens on port 1: every write is refused at once (the store is down).
DOWN = "influxdb://127.0.0.1:1/down?timeout=1"


def test_gateway_counts_points_the_full_spool_refuses_once(
    tmp_path: Path, links: list[PtyLink]
) -> None:
    hello = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "busy", "fw", bytes(32))
    frames = [encode_frame(0, hello)]
    for k in range(30):  # 3000 scores, 100 per write
        seqs = range(1 + 100 * k, 101 + 100 * k)
        frames.append(
            b"".join(
                encode_frame(s, Score(s * 10_000, 0.1 + s * 1e-4, 1.0, 0.2, 3.0, False, False))
                for s in seqs
            )
        )
    cfg = config(
        tmp_path,
        links[:1],
        store_url=DOWN,
        spool_max_bytes=16 * 1024,
        batch_points=100,  # batches much smaller than the spool
        status_interval_s=3600.0,
        drain_timeout_s=0.0,
    )
    gw = Gateway(cfg).start()
    _raw_sender(links[0], frames, interval=0.01)
    wait_for(lambda: frames_seen(gw) == 3000, what="SCORE frames")
    report = gw.stop()
    made = report.scores + 2  # the HELLO's status and the final one
    assert report.scores == 3000 and report.points_written == 0
    assert 0 < report.spool_pending < made  # the spool filled up
    assert report.lost == made - report.spool_pending

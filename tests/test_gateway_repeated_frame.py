"""A frame received twice (same ``seq``) is neither a loss nor a reboot (docs/protocol.md)."""

from __future__ import annotations

from pathlib import Path

from tests.test_gateway import _raw_sender, config, frames_seen, links, wait_for
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Score, encode_frame
from vibration.telemetry.gateway import Gateway
from vibration.telemetry.stores import open_store

__all__ = ["links"]  # the fixture


def test_gateway_repeated_frame_is_neither_drop_nor_reboot(
    tmp_path: Path, links: list[PtyLink]
) -> None:
    hello = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "echo", "fw", bytes(32))

    def score(seq: int) -> bytes:
        return encode_frame(seq, Score(seq * 100_000, 0.1, 1.0, 0.2, 3.0, False, False))

    seqs = [*range(1, 21), 20, *range(21, 41)]
    frames = [encode_frame(0, hello)] + [score(s) for s in seqs]
    gw = Gateway(config(tmp_path, links[:1])).start()
    _raw_sender(links[0], frames, interval=0.002)
    wait_for(lambda: frames_seen(gw) == 41, what="SCORE frames")
    report = gw.stop()
    lk = report.links[0]
    assert (lk.dropped_frames, lk.reboots, lk.last_seq) == (0, 0, 40)
    assert (report.dropped_frames, report.lost) == (0, 0)
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    series = store.query_scores("echo", 0, 2**62)
    (status,) = store.sensors()
    store.close()
    assert len(series) == 40  # the repeat is not stored a second time
    assert status.dropped_frames == 0

"""A spool on a full filesystem: the restarted gateway delivers what it can and reports,
no traceback (a real 2 MB tmpfs, filled to the last byte)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.test_gateway import _raw_sender, config, frames_seen, links, wait_for
from tests.test_gateway_spool_full import DOWN
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Score, encode_frame
from vibration.telemetry.gateway import Gateway
from vibration.telemetry.stores import open_store

__all__ = ["links"]  # the fixture

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (mounting needs root)."""
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    where = tmp_path / "small"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path, leave: int) -> None:
    """Write a file until the filesystem has at most ``leave`` bytes left."""
    with open(directory / "filler", "wb", buffering=0) as f:
        for size in (1 << 16, 1 << 12):
            with contextlib.suppress(OSError):
                while os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize > leave:
                    f.write(b"\xa5" * size)


def _scores(first: int, n: int) -> list[bytes]:
    return [
        b"".join(
            encode_frame(s, Score(s * 10_000, 0.1 + s * 1e-4, 1.0, 0.2, 3.0, False, False))
            for s in range(k, min(k + 100, first + n))
        )
        for k in range(first, first + n, 100)
    ]


def test_gateway_spool_on_a_full_disk_reports_without_traceback(
    tmp_path: Path, small_fs: Path, links: list[PtyLink]
) -> None:
    spool = small_fs / "spool"
    hello = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "dusty", "fw", bytes(32))
    cfg = config(
        tmp_path,
        links[:1],
        store_url=DOWN,
        spool_dir=str(spool),
        status_interval_s=3600.0,
        drain_timeout_s=0.0,
    )
    _fill(small_fs, leave=192 * 1024)
    gw = Gateway(cfg).start()
    _raw_sender(links[0], [encode_frame(0, hello), *_scores(1, 6000)], interval=0.01)
    wait_for(lambda: frames_seen(gw) == 6000, what="SCORE frames")
    first = gw.stop()
    # The disk filled up during the first run: what the spool refused is counted once.
    assert first.points_written == 0 and first.lost > 0
    assert first.spool_pending + first.lost == first.scores + 2  # + the HELLO's status, the last
    # Restarted with the store up, on the full disk.
    db = tmp_path / "up.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vibration.app.cli",
            "monitor",
            "--json",
            "--seconds",
            "1",
            "--store",
            f"sqlite://{db}",
            "--spool",
            str(spool),
            "--port",
            str(tmp_path / "no-such-port"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    store = open_store(f"sqlite://{db}")
    stored = store.count_scores("dusty")
    store.close()
    # Every point the first run spooled is in the store now, once.
    assert stored == first.spool_pending - 1  # one sensor_status
    assert report["points_written"] == first.spool_pending
    assert (report["lost"], report["spool_pending"]) == (0, 0)

    # With space again, the next run deletes them (a replay changes nothing in the store).
    (small_fs / "filler").unlink()
    third = Gateway(config(tmp_path, links[:1], store_url=f"sqlite://{db}", spool_dir=str(spool)))
    end = third.start().stop()
    assert (end.spool_pending, end.lost) == (0, 0)
    store = open_store(f"sqlite://{db}")
    assert store.count_scores("dusty") == stored
    store.close()

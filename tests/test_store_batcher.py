"""The gateway's point buffer: size and age triggers, checkpoints, bounded memory."""

from __future__ import annotations

import threading
import time

import pytest

from vibration.telemetry.stores import ScorePoint
from vibration.telemetry.stores.batcher import PointBatcher

T0 = 1_700_000_000 * 10**9


def pts(first: int, n: int) -> list[ScorePoint]:
    return [
        ScorePoint(T0 + first + i, "s", "a", "m", 0.1, 1.0, False, 0.2, 3.0, first + i)
        for i in range(n)
    ]


def test_store_batcher_size_trigger_returns_points_with_checkpoints() -> None:
    b = PointBatcher(max_points=10, max_age_s=60.0)
    b.add("port-a", {"seq": 4}, scores=pts(0, 4))
    assert b.take(timeout=0.05) is None  # neither full nor old
    b.add("port-b", {"seq": 9}, scores=pts(4, 6))
    batch, checkpoints = b.take(timeout=1.0) or pytest.fail("no batch")
    assert [p.seq for p in batch.scores] == list(range(10))
    assert checkpoints == {"port-a": {"seq": 4}, "port-b": {"seq": 9}}
    assert b.pending == 0


def test_store_batcher_age_trigger_and_checkpoint_only_batches() -> None:
    b = PointBatcher(max_points=1000, max_age_s=0.1)
    b.add("port-a", {"seq": 1})  # a frame without points still moves the checkpoint
    t = time.monotonic()
    batch, checkpoints = b.take(timeout=5.0) or pytest.fail("no batch")
    assert time.monotonic() - t >= 0.05
    assert len(batch) == 0 and checkpoints == {"port-a": {"seq": 1}}
    assert b.take(timeout=0.2) is None  # nothing new: nothing due


def test_store_batcher_overflow_is_counted_and_keeps_the_checkpoint() -> None:
    b = PointBatcher(max_points=5, max_age_s=60.0, max_pending=8)
    assert b.add("p", {"seq": 5}, scores=pts(0, 5))
    assert not b.add("p", {"seq": 9}, scores=pts(5, 4))
    assert b.overflowed == 4
    batch, checkpoints = b.take(timeout=1.0) or pytest.fail("no batch")
    assert len(batch) == 5 and checkpoints == {"p": {"seq": 5}}


def test_store_batcher_close_flushes_the_rest_then_ends() -> None:
    b = PointBatcher(max_points=100, max_age_s=60.0)
    b.add("p", 1, scores=pts(0, 3))
    b.close()
    batch, _ = b.take() or pytest.fail("no batch")
    assert len(batch) == 3
    assert b.take() is None


def test_store_batcher_many_threads_lose_nothing() -> None:
    b = PointBatcher(max_points=50, max_age_s=0.05)
    got: list[int] = []

    def writer() -> None:
        while (item := b.take()) is not None:
            got.extend(p.seq for p in item[0].scores)

    w = threading.Thread(target=writer)
    w.start()
    adders = [
        threading.Thread(
            target=lambda k=k: [b.add(f"p{k}", i, scores=pts(k * 1000 + i, 1)) for i in range(300)]
        )
        for k in range(4)
    ]
    for t in adders:
        t.start()
    for t in adders:
        t.join()
    b.close()
    w.join()
    assert sorted(got) == sorted(k * 1000 + i for k in range(4) for i in range(300))

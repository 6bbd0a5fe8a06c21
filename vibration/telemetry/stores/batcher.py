"""Collect points from many threads into batches, triggered by size or by age.

:class:`PointBatcher` is the gateway's buffer between the port readers and the store: readers
:meth:`~PointBatcher.add` points together with a small *checkpoint* (per key, e.g. the last
sequence number of a serial link that is fully accounted for); the writer thread
:meth:`~PointBatcher.take` s a :class:`~vibration.telemetry.stores.spool.Batch` plus the checkpoints
that batch makes true, and commits both at once (:meth:`SpooledStore.commit
<vibration.telemetry.stores.spool.SpooledStore.commit>`). Memory is bounded: points beyond
``max_pending`` are refused and counted in :attr:`~PointBatcher.overflowed`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from vibration.telemetry.stores.base import Event, Evidence, ScorePoint, SensorStatus
from vibration.telemetry.stores.spool import Batch

__all__ = ["PointBatcher"]


class PointBatcher:
    """Thread-safe point buffer with size/age triggers and checkpoints.

    Parameters
    ----------
    max_points : int
        A batch is ready when it holds this many points.
    max_age_s : float
        ... or when its oldest point (or checkpoint change) is this old.
    max_pending : int
        Points held at most; more are refused (the writer is stuck).
    """

    def __init__(self, max_points: int = 2000, max_age_s: float = 1.0, max_pending: int = 10**6):
        if max_points <= 0 or max_pending < max_points:
            raise ValueError(
                f"need 0 < max_points <= max_pending, got {max_points!r}, {max_pending!r}"
            )
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s!r}")
        self.max_points = max_points
        self.max_age_s = max_age_s
        self.max_pending = max_pending
        self._cond = threading.Condition()
        self._scores: list[ScorePoint] = []
        self._statuses: list[SensorStatus] = []
        self._events: list[Event] = []
        self._evidence: list[Evidence] = []
        self._checkpoints: dict[str, Any] = {}
        self._since: float | None = None
        self._closed = False
        self.overflowed = 0

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def pending(self) -> int:
        """Points waiting for the next batch."""
        return len(self._scores) + len(self._statuses) + len(self._events) + len(self._evidence)

    def add(
        self,
        key: str | None = None,
        checkpoint: Any = None,
        *,
        scores: Sequence[ScorePoint] = (),
        statuses: Sequence[SensorStatus] = (),
        events: Sequence[Event] = (),
        evidence: Sequence[Evidence] = (),
    ) -> bool:
        """Queue points and (when ``key`` is given) replace ``key``'s checkpoint.

        Returns False, counting the points in :attr:`overflowed` and leaving the checkpoint
        alone, when the buffer is full.
        """
        n = len(scores) + len(statuses) + len(events) + len(evidence)
        with self._cond:
            if n and self.pending + n > self.max_pending:
                self.overflowed += n
                return False
            self._scores.extend(scores)
            self._statuses.extend(statuses)
            self._events.extend(events)
            self._evidence.extend(evidence)
            if key is not None:
                self._checkpoints[key] = checkpoint
            if (n or key is not None) and self._since is None:
                self._since = time.monotonic()
            if self.pending >= self.max_points:
                self._cond.notify_all()
        return True

    def take(self, timeout: float | None = None) -> tuple[Batch, dict[str, Any]] | None:
        """Wait until a batch is due (size, age, or :meth:`close`) and return it with a copy
        of all checkpoints; None when nothing became due within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                due = self._since is not None and (
                    self.pending >= self.max_points
                    or now - self._since >= self.max_age_s
                    or self._closed
                )
                if due:
                    return self._swap()
                if self._closed or (deadline is not None and now >= deadline):
                    return None
                waits = [] if deadline is None else [deadline - now]
                if self._since is not None:
                    waits.append(self._since + self.max_age_s - now)
                self._cond.wait(min(waits) if waits else None)

    def _swap(self) -> tuple[Batch, dict[str, Any]]:
        batch = Batch(self._scores, self._statuses, self._events, self._evidence)
        self._scores, self._statuses, self._events, self._evidence = [], [], [], []
        self._since = None
        return batch, dict(self._checkpoints)

    def checkpoints(self) -> Mapping[str, Any]:
        with self._cond:
            return dict(self._checkpoints)

    def close(self) -> None:
        """Make what is pending due now and wake the writer; :meth:`take` then returns the
        last batch, and None after it."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

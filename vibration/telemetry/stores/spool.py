"""A durable, bounded on-disk queue of point batches, and a store that spools into it.

:class:`Spool` keeps batches in one SQLite file (``spool.db`` in its directory): every
append is a committed transaction in WAL mode with ``synchronous=FULL`` (fsync), so a batch
whose ``append`` returned survives SIGKILL and power loss. Batches are zlib-compressed JSON
(no pickle). The directory is locked (``flock``) by one process at a time. When the
pending payload would exceed ``max_bytes``, or the disk is full, the batch is refused with
:class:`SpoolFull` and its points are counted as ``lost``: never dropped silently.

:class:`SpooledStore` wraps a store: a write goes to the inner store; when that raises
:class:`~vibration.errors.StoreUnavailable` the batch goes to the spool, and a background
thread replays the spool, oldest first, with exponential backoff while the store is down.
A batch leaves the spool only after the inner store accepted it: delivery is
at-least-once, and since points are idempotent (same tags and time = same point) the store
ends up with every point exactly once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import operator
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibration.errors import StoreError, StoreUnavailable
from vibration.telemetry.stores.base import (
    AlarmActions,
    Event,
    Evidence,
    PartialWriteError,
    ScorePoint,
    ScoreSeries,
    SensorStatus,
    Store,
)
from vibration.validation import is_int

__all__ = ["Batch", "Spool", "SpoolFull", "SpoolStats", "SpooledStore"]

log = logging.getLogger("tinypdm.stores.spool")

DEFAULT_MAX_BYTES = 512 * 2**20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    points     INTEGER NOT NULL,
    payload    BLOB    NOT NULL,
    created_ns INTEGER NOT NULL,
    deferred   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_SCORE_ROW = operator.attrgetter(*(f.name for f in dataclasses.fields(ScorePoint)))
_STATUS_ROW = operator.attrgetter(*(f.name for f in dataclasses.fields(SensorStatus)))
_EVENT_ROW = operator.attrgetter(*(f.name for f in dataclasses.fields(Event)))


class SpoolFull(StoreError):
    """The spool refused a batch (size cap reached or disk full); its points are lost."""

    def __init__(self, message: str, lost: int) -> None:
        super().__init__(message)
        self.lost = lost


@dataclass(frozen=True)
class Batch:
    """Points written together: scores, statuses, events and alarm evidence (any may be
    empty)."""

    scores: Sequence[ScorePoint] = ()
    statuses: Sequence[SensorStatus] = ()
    events: Sequence[Event] = ()
    evidence: Sequence[Evidence] = ()

    def __post_init__(self) -> None:
        for name in ("scores", "statuses", "events", "evidence"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    def __len__(self) -> int:
        return len(self.scores) + len(self.statuses) + len(self.events) + len(self.evidence)

    def to_bytes(self) -> bytes:
        doc: dict[str, list[Any]] = {
            "s": [_SCORE_ROW(p) for p in self.scores],
            "st": [_STATUS_ROW(s) for s in self.statuses],
            "e": [_EVENT_ROW(e) for e in self.events],
        }
        if self.evidence:
            doc["ev"] = [r.to_dict() for r in self.evidence]
        text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
        return zlib.compress(text.encode(), 1)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Batch:
        doc = json.loads(zlib.decompress(blob))
        return cls(
            scores=[ScorePoint(*row) for row in doc["s"]],
            statuses=[SensorStatus(*row) for row in doc["st"]],
            events=[Event(*row) for row in doc["e"]],
            evidence=[Evidence.from_dict(r) for r in doc.get("ev", ())],
        )

    @staticmethod
    def merge(batches: Sequence[Batch]) -> Batch:
        return Batch(
            scores=[p for b in batches for p in b.scores],
            statuses=[s for b in batches for s in b.statuses],
            events=[e for b in batches for e in b.events],
            evidence=[r for b in batches for r in b.evidence],
        )


@dataclass(frozen=True)
class SpoolStats:
    """Counters of a :class:`SpooledStore` (``*_total``: since it was opened, in points).

    Attributes
    ----------
    pending_points, pending_bytes : int
        In the spool now.
    written_total : int
        Accepted by the store (directly, or replayed from the spool).
    spooled_total : int
        Had to wait in the spool because the store was unavailable.
    replayed_total : int
        Delivered from the spool (journaled commits included).
    lost_total : int
        Refused because the spool was full (or the disk).
    rejected_total : int
        Refused by the store during replay (partial writes).
    last_error : str
        The last store error, empty once a write succeeded again.
    """

    pending_points: int = 0
    pending_bytes: int = 0
    written_total: int = 0
    spooled_total: int = 0
    replayed_total: int = 0
    lost_total: int = 0
    rejected_total: int = 0
    last_error: str = ""


class Spool:
    """Durable FIFO of :class:`Batch` es in ``directory/spool.db``.

    Parameters
    ----------
    directory : path
        Created if missing. Locked for this process until :meth:`close`.
    max_bytes : int
        Cap on the pending (compressed) payload; an append beyond it raises
        :class:`SpoolFull`.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES):
        if not is_int(max_bytes) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lockfd = os.open(self.directory / "spool.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot use spool directory {str(self.directory)!r}: {exc}") from exc
        try:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lockfd)
            raise StoreError(
                f"spool directory {str(self.directory)!r} is in use by another process"
            ) from None
        try:
            try:
                row = self._connect(exclusive=False)
            except sqlite3.OperationalError as exc:
                if "full" not in str(exc):
                    raise
                # A full disk leaves no room for the WAL index file (-shm): keep the index
                # in memory instead (exclusive locking; the flock above already makes this
                # process the spool's only user), so what was spooled can still be delivered.
                if getattr(self, "_conn", None) is not None:
                    self._conn.close()
                row = self._connect(exclusive=True)
        except sqlite3.Error as exc:
            self._release()
            raise StoreError(f"cannot open spool {str(self.directory)!r}: {exc}") from exc
        self._pending_points, self._pending_bytes = row
        # Batches the store accepted but a full disk kept us from deleting: not pending
        # any more, skipped by peek, deleted at the next chance (or replayed next run).
        self._delivered: set[int] = set()
        self.appended_total = 0
        self.lost_total = 0

    def _connect(self, *, exclusive: bool) -> tuple[int, int]:
        """Open spool.db (WAL, full sync, schema); the pending points and payload bytes."""
        self._conn = sqlite3.connect(
            self.directory / "spool.db", isolation_level=None, check_same_thread=False
        )
        if exclusive:
            self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute(
            "SELECT COALESCE(SUM(points), 0), COALESCE(SUM(LENGTH(payload)), 0) FROM batch"
        ).fetchone()
        return int(row[0]), int(row[1])

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lockfd, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(self._lockfd)

    @property
    def pending_points(self) -> int:
        return self._pending_points

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def __len__(self) -> int:
        """Pending points."""
        return self._pending_points

    def append(
        self, batch: Batch, state: Mapping[str, Any] | None = None, *, deferred: bool = False
    ) -> None:
        """Append ``batch`` durably (and save ``state`` in the same transaction).

        ``deferred`` marks the batch as one that had to wait for the store (see
        :meth:`mark_deferred`).

        Raises
        ------
        SpoolFull
            The size cap or the disk is full: the batch's points are counted as lost
            (``state`` is not saved either).
        """
        n = len(batch)
        blob = batch.to_bytes() if n else b""
        with self._lock:
            if n and self._pending_bytes + len(blob) > self.max_bytes:
                self.lost_total += n
                raise SpoolFull(
                    f"spool {str(self.directory)!r} is full ({self._pending_bytes} of "
                    f"{self.max_bytes} bytes): {n} points lost",
                    n,
                )
            try:
                with self._transaction():
                    if n:
                        self._conn.execute(
                            "INSERT INTO batch (points, payload, created_ns, deferred) "
                            "VALUES (?, ?, ?, ?)",
                            (n, blob, time.time_ns(), int(deferred)),
                        )
                    if state is not None:
                        self._put_meta("state", json.dumps(dict(state), allow_nan=False))
            except sqlite3.Error as exc:
                self.lost_total += n
                raise SpoolFull(
                    f"cannot write spool {str(self.directory)!r} ({exc}): {n} points lost", n
                ) from exc
            self._pending_points += n
            self._pending_bytes += len(blob)
            self.appended_total += n

    def mark_deferred(self) -> int:
        """Mark every pending batch as deferred; returns the points newly marked.

        Raises
        ------
        StoreError
            The disk is full (nothing was marked).
        """
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(points), 0) FROM batch WHERE deferred = 0"
            ).fetchone()
            if row[0]:
                self._update("mark", "UPDATE batch SET deferred = 1 WHERE deferred = 0", ())
            return int(row[0])

    def _update(self, what: str, sql: str, args: tuple[Any, ...]) -> None:
        """Run ``sql`` in a transaction; on a full disk, checkpoint the WAL (which gives
        its space back) and try once more."""
        try:
            with self._transaction():
                self._conn.execute(sql, args)
            return
        except sqlite3.Error:
            pass
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with self._transaction():
                self._conn.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot {what} batches in spool {str(self.directory)!r}: {exc}"
            ) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _put_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def save_state(self, state: Mapping[str, Any]) -> None:
        """Save a JSON-able checkpoint (e.g. the gateway's sequence counters)."""
        self.append(Batch(), state)

    def load_state(self) -> dict[str, Any] | None:
        """The last checkpoint saved with :meth:`append` or :meth:`save_state`."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def peek(self, max_points: int) -> list[tuple[int, Batch]]:
        """The oldest batches, at least one, up to about ``max_points`` points."""
        out: list[tuple[int, Batch]] = []
        total = 0
        with self._lock:
            cur = self._conn.execute("SELECT id, points, payload FROM batch ORDER BY id")
            for bid, points, payload in cur:
                if bid in self._delivered:
                    continue
                if out and total + points > max_points:
                    break
                out.append((int(bid), Batch.from_bytes(payload)))
                total += points
            cur.close()
        return out

    def remove(self, ids: Sequence[int]) -> None:
        """Delete batches (after the store accepted them).

        Raises
        ------
        StoreError
            The disk is full: the batches stay on disk (a later run replays them again,
            harmlessly: points are idempotent) but are no longer pending here.
        """
        if not ids:
            return
        with self._lock:
            fresh = tuple(i for i in ids if i not in self._delivered)
            marks = ",".join("?" * len(fresh))
            row = self._conn.execute(
                f"SELECT COALESCE(SUM(points), 0), COALESCE(SUM(LENGTH(payload)), 0) "
                f"FROM batch WHERE id IN ({marks})",
                fresh,
            ).fetchone()
            self._pending_points -= int(row[0])
            self._pending_bytes -= int(row[1])
            self._delivered.update(fresh)
            gone = tuple(self._delivered)
            marks = ",".join("?" * len(gone))
            self._update("remove delivered", f"DELETE FROM batch WHERE id IN ({marks})", gone)
            self._delivered.clear()
            if self._pending_points == 0:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA incremental_vacuum")
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            if self._lockfd < 0:
                return
            self._conn.close()
            self._release()
            self._lockfd = -1

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SpooledStore(AlarmActions):
    """A :class:`~vibration.telemetry.stores.base.Store` that never loses a batch to an outage.

    Parameters
    ----------
    inner : Store
        The real store (owned: :meth:`close` closes it).
    spool : Spool or path
        The spool, or its directory.
    max_bytes : int
        Size cap when ``spool`` is a path.
    background : bool
        Run a thread that replays the spool when the store is back. Without it, call
        :meth:`drain`.
    retry_min_s, retry_max_s : float
        Backoff between replay attempts while the store is unavailable (doubling).
    drain_points : int
        Points per replayed write.

    Writes raise :class:`SpoolFull` when a batch can be neither written nor spooled, and
    :class:`~vibration.errors.StoreError` when the store refuses it (bad data,
    authentication): such batches are not spooled, retrying would not help. Reads go
    straight to the inner store (spooled points are not visible until replayed).
    """

    def __init__(
        self,
        inner: Store,
        spool: Spool | str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        background: bool = True,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        drain_points: int = 5000,
    ) -> None:
        self.inner = inner
        self.spool = spool if isinstance(spool, Spool) else Spool(spool, max_bytes)
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.drain_points = drain_points
        self._retry_s = retry_min_s
        self._next_try = 0.0
        self._write_lock = threading.Lock()  # one writer of the inner store at a time
        self._wake = threading.Condition()
        self._stop = False
        self.written_total = 0
        self.spooled_total = 0
        self.replayed_total = 0
        self.rejected_total = 0
        self.last_error = ""
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="spool-drain", daemon=True)
            self._thread.start()
            if len(self.spool):
                self._kick()

    @property
    def url(self) -> str:
        return self.inner.url

    def __repr__(self) -> str:
        return f"SpooledStore({self.inner!r}, {str(self.spool.directory)!r})"

    # -- writing ----------------------------------------------------------------------

    def write_scores(self, points: Sequence[ScorePoint]) -> None:
        self.write(Batch(scores=points))

    def write_status(self, statuses: Sequence[SensorStatus]) -> None:
        self.write(Batch(statuses=statuses))

    def write_events(self, events: Sequence[Event]) -> None:
        self.write(Batch(events=events))

    def write(self, batch: Batch) -> None:
        """Write to the store, or spool when it is unavailable or a backlog is waiting."""
        if not len(batch):
            return
        if len(self.spool) == 0 and self._write_lock.acquire(blocking=False):
            try:
                if len(self.spool) == 0:
                    try:
                        self._write_inner(batch)
                        self.written_total += len(batch)
                        self.last_error = ""
                        return
                    except StoreUnavailable as exc:
                        self._note_unavailable(exc)
                    except PartialWriteError as exc:  # the rest was written
                        rejected = min(exc.dropped, len(batch)) or len(batch)
                        self.rejected_total += rejected
                        self.written_total += len(batch) - rejected
                        self.last_error = str(exc)
                        raise
            finally:
                self._write_lock.release()
        self.spool.append(batch, deferred=True)
        self.spooled_total += len(batch)
        self._kick()

    def commit(self, batch: Batch, state: Mapping[str, Any] | None = None) -> None:
        """Journal ``batch`` (with a checkpoint ``state``) in the spool first, then let the
        background thread deliver it. After ``commit`` returns the batch and the state are
        durable together: a process killed at any instant loses neither half."""
        self.spool.append(batch, state)
        self._kick()

    def _write_inner(self, batch: Batch) -> None:
        """Write scores, statuses and events; a partial write of one kind does not keep
        the others from being written.

        Raises
        ------
        PartialWriteError
            After writing every kind, when some points were rejected: ``dropped`` is their
            number (all of a kind's points when the store did not say).
        """
        partial: list[PartialWriteError] = []
        dropped = 0
        kinds: list[tuple[Sequence[Any], Callable[[Any], None]]] = [
            (batch.scores, self.inner.write_scores),
            (batch.statuses, self.inner.write_status),
            (batch.events, self.inner.write_events),
            (batch.evidence, self.inner.write_evidence),
        ]
        for points, write in kinds:
            if not points:
                continue
            try:
                write(points)
            except PartialWriteError as exc:
                partial.append(exc)
                dropped += min(exc.dropped, len(points)) or len(points)
        if partial:
            raise PartialWriteError("; ".join(str(e) for e in partial), dropped)

    def _note_unavailable(self, exc: StoreError) -> None:
        self.last_error = str(exc)
        self._next_try = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, self.retry_max_s)

    # -- replay -----------------------------------------------------------------------

    def drain(self, timeout: float | None = None) -> int:
        """Replay the spool into the store until it is empty, the store is unavailable,
        or ``timeout`` seconds passed; returns the number of points replayed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        while len(self.spool) and (deadline is None or time.monotonic() < deadline):
            n = self._drain_once()
            if n is None:
                break
            done += n
        return done

    def _drain_once(self) -> int | None:
        """Replay one chunk; None when the store is unavailable (or refuses)."""
        with self._write_lock:
            chunk = self.spool.peek(self.drain_points)
            if not chunk:
                return 0
            ids = [bid for bid, _ in chunk]
            merged = Batch.merge([b for _, b in chunk])
            try:
                self._write_inner(merged)
            except StoreUnavailable as exc:
                self._note_unavailable(exc)
                with contextlib.suppress(StoreError):  # a full disk: counted next time
                    self.spooled_total += self.spool.mark_deferred()
                return None
            except PartialWriteError as exc:
                # Part of the chunk can never be stored: keeping it would block the queue.
                # The rest was written.
                rejected = min(exc.dropped, len(merged)) or len(merged)
                self.rejected_total += rejected
                self.replayed_total += len(merged) - rejected
                self.written_total += len(merged) - rejected
                self.last_error = str(exc)
                log.error("spool replay: %s (batch removed)", exc)
            except StoreError as exc:
                # Authentication or permission trouble: keep the data, retry slowly.
                self.last_error = str(exc)
                self._retry_s = self.retry_max_s
                self._next_try = time.monotonic() + self._retry_s
                log.error("spool replay: %s", exc)
                return None
            else:
                self.replayed_total += len(merged)
                self.written_total += len(merged)
                self._retry_s = self.retry_min_s
                self._next_try = 0.0
                self.last_error = ""
            try:
                self.spool.remove(ids)
            except StoreError as exc:  # delivered all the same: go on, delete them later
                self.last_error = str(exc)
                log.error("spool: %s", exc)
            return len(merged)

    def _kick(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stop:
                    wait = self._next_try - time.monotonic()
                    if len(self.spool) and wait <= 0:
                        break
                    self._wake.wait(timeout=wait if len(self.spool) else None)
                if self._stop:
                    return
            try:
                while not self._stop and len(self.spool):
                    if self._drain_once() is None:
                        break
            except Exception as exc:  # keep the thread alive; the data stays spooled
                self.last_error = f"spool replay failed: {exc}"
                log.exception("spool replay failed")
                self._note_unavailable(StoreError(str(exc)))

    def stats(self) -> SpoolStats:
        return SpoolStats(
            pending_points=self.spool.pending_points,
            pending_bytes=self.spool.pending_bytes,
            written_total=self.written_total,
            spooled_total=self.spooled_total,
            replayed_total=self.replayed_total,
            lost_total=self.spool.lost_total,
            rejected_total=self.rejected_total,
            last_error=self.last_error,
        )

    # -- reads and lifetime -----------------------------------------------------------

    def sensors(self) -> list[SensorStatus]:
        return self.inner.sensors()

    def latest_scores(self) -> dict[str, ScorePoint]:
        return self.inner.latest_scores()

    def query_scores(
        self, sensor: str, start_ns: int, end_ns: int, bucket_s: int | None = None
    ) -> ScoreSeries:
        return self.inner.query_scores(sensor, start_ns, end_ns, bucket_s)

    def events(self, start_ns: int, end_ns: int, sensor: str | None = None) -> list[Event]:
        return self.inner.events(start_ns, end_ns, sensor)

    def count_scores(self, sensor: str | None = None) -> int:
        return self.inner.count_scores(sensor)

    def write_evidence(self, records: Sequence[Evidence]) -> None:
        self.write(Batch(evidence=records))

    def evidence(self, sensor: str, start_ns: int, end_ns: int) -> list[Evidence]:
        return self.inner.evidence(sensor, start_ns, end_ns)

    def close(self) -> None:
        """Stop the replay thread and close spool and store (pending batches stay on
        disk for the next run; call :meth:`drain` first to deliver them now)."""
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
        self.spool.close()
        self.inner.close()

    def __enter__(self) -> SpooledStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

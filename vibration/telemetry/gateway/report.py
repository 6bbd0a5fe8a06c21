"""What the gateway tells its user: per-port :class:`LinkReport`, the :class:`GatewayStatus`
snapshot behind the status line (:func:`format_status`) and the run's :class:`GatewayReport`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["GatewayReport", "GatewayStatus", "LinkReport", "format_status"]


@dataclass(frozen=True)
class LinkReport:
    """One port: who is on it and its counters (``crc_errors``, ``dropped_frames`` are
    cumulative across restarts of the gateway; the others count this run).

    ``mode`` is the stream type of the current (or last) connection, None while unknown;
    ``line_errors`` the text lines not understood (text mode: refused lines, boot text
    included); ``skipped_bytes`` the boot text skipped by streams first taken for text
    that turned out binary."""

    port: str
    sensor: str | None
    connected: bool
    frames: dict[str, int]
    scores: int
    crc_errors: int
    dropped_frames: int
    reboots: int
    reconnects: int
    invalid: int
    last_seq: int | None
    last_error: str
    mode: str | None = None
    line_errors: int = 0
    skipped_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class GatewayStatus:
    """A snapshot for the status line."""

    elapsed_s: float
    sensors: int
    connected: int
    ports: int
    scores: int
    scores_per_s: float
    queued: int
    spool_pending: int
    points_written: int
    spooled: int
    lost: int
    crc_errors: int
    dropped_frames: int
    store_error: str
    not_understood: int = 0  # text lines refused plus boot-text bytes skipped, all links


@dataclass(frozen=True)
class GatewayReport:
    """What a run did; :meth:`as_dict` is ``tinypdm monitor --json``.

    ``scores`` counts SCORE frames plus host-scored windows; ``points_written`` every point
    (scores, statuses, events) the store accepted during the run, replays of an earlier
    run's spool included; ``spooled`` the points that had to wait for the store; ``lost``
    the points that will never reach it (spool full, buffer overflow, or ``rejected`` by
    the store); ``invalid`` SCORE frames with non-finite values; ``crc_errors`` and
    ``dropped_frames`` are the serial links' cumulative counters.
    """

    seconds: float
    frames: dict[str, int]
    scores: int
    points_written: int
    spooled: int
    lost: int
    rejected: int
    invalid: int
    spool_pending: int
    crc_errors: int
    dropped_frames: int
    reconnects: int
    links: tuple[LinkReport, ...]
    store: str
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": dict(self.frames),
            "scores": self.scores,
            "points_written": self.points_written,
            "spooled": self.spooled,
            "lost": self.lost,
            "rejected": self.rejected,
            "invalid": self.invalid,
            "spool_pending": self.spool_pending,
            "crc_errors": self.crc_errors,
            "dropped_frames": self.dropped_frames,
            "reconnects": self.reconnects,
            "seconds": round(self.seconds, 3),
            "store": self.store,
            "last_error": self.last_error,
            "sensors": _by_sensor(self.links),
        }


def _by_sensor(links: tuple[LinkReport, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for lk in links:
        key = lk.sensor or lk.port
        out[key if key not in out else lk.port] = lk.as_dict()
    return out


def format_status(s: GatewayStatus) -> str:
    """One status line: ``3/3 ports, 3 sensors | 30.0 scores/s | queue 12 | spool 0 |
    written 900 | lost 0 | crc 0 dropped 2 | store ok``."""
    store = "store ok" if not s.store_error else f"store: {s.store_error}"
    unread = f" not understood {s.not_understood} |" if s.not_understood else ""
    return (
        f"{s.connected}/{s.ports} ports, {s.sensors} sensors | {s.scores_per_s:.1f} scores/s | "
        f"queue {s.queued} | spool {s.spool_pending} | written {s.points_written} | "
        f"lost {s.lost} | crc {s.crc_errors} dropped {s.dropped_frames} |{unread} {store}"
    )

"""Configuration of the gateway: :class:`GatewayConfig` and the default spool location."""

from __future__ import annotations

import hashlib
import math
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from vibration.telemetry.devtime import ClockConfig
from vibration.telemetry.stores.base import check_name
from vibration.telemetry.stores.spool import DEFAULT_MAX_BYTES

__all__ = ["GatewayConfig", "default_spool_dir"]


@dataclass(frozen=True)
class GatewayConfig:
    """Everything ``tinypdm monitor`` needs.

    Attributes
    ----------
    ports : tuple of str
        Serial ports: device paths, pty symlinks or pyserial URLs.
    store_url : str
        Where points go (:func:`~vibration.telemetry.stores.open_store`).
    asset : str
        The asset tag of every sensor on these ports.
    spool_dir : str or None
        Spool directory; None: :func:`default_spool_dir` of the store.
    spool_max_bytes : int
        Spool size cap.
    baudrate : int
        Line speed of real UARTs (ptys and sockets ignore it).
    batch_points, batch_interval_s
        A batch is committed at this many points or this age.
    status_interval_s : float
        A SensorStatus point per sensor at most this often (and at each HELLO).
    hello_wait_s : float
        How long frames of an unknown sensor wait for its HELLO before the port's name is
        used as the sensor's name.
    reconnect_min_s, reconnect_max_s : float
        Backoff between attempts to reopen a lost port (doubling).
    read_timeout_s : float
        Longest blocking read (bounds how fast a stop is noticed).
    drain_timeout_s : float
        At stop, how long to wait for the spool to reach the store.
    clock : ClockConfig
        Device-time mapping parameters.
    mode : {"binary", "ascii"} or None
        Stream type of every port; None detects it per connection
        (:class:`~vibration.protocol.StreamDecoder`).
    """

    ports: tuple[str, ...]
    store_url: str
    asset: str = "default"
    spool_dir: str | None = None
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    baudrate: int = 921600
    batch_points: int = 2000
    batch_interval_s: float = 1.0
    status_interval_s: float = 10.0
    hello_wait_s: float = 15.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    read_timeout_s: float = 0.1
    drain_timeout_s: float = 10.0
    clock: ClockConfig = field(default_factory=ClockConfig)
    mode: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in (None, "binary", "ascii"):
            raise ValueError(f"mode must be None, 'binary' or 'ascii', got {self.mode!r}")
        if isinstance(self.ports, str) or not self.ports:
            raise ValueError(f"ports must be a non-empty tuple of URLs, got {self.ports!r}")
        object.__setattr__(self, "ports", tuple(self.ports))
        if len(set(self.ports)) != len(self.ports):
            raise ValueError(f"ports must be distinct, got {self.ports!r}")
        check_name(self.asset, "asset")
        for name in (
            "batch_interval_s",
            "status_interval_s",
            "hello_wait_s",
            "reconnect_min_s",
            "reconnect_max_s",
            "read_timeout_s",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not self.drain_timeout_s >= 0:
            raise ValueError(f"drain_timeout_s must be >= 0, got {self.drain_timeout_s!r}")
        if isinstance(self.batch_points, bool) or not (
            isinstance(self.batch_points, int) and self.batch_points > 0
        ):
            raise ValueError(f"batch_points must be a positive int, got {self.batch_points!r}")


def default_spool_dir(store_url: str) -> Path:
    """``$XDG_STATE_HOME/tinypdm/spool/<hash of the store>`` (``~/.local/state`` by
    default): one spool per store, so that points spooled for one store are never replayed
    into another.

    The store is the one the URL resolves to now: for SQLite the absolute path of the file
    (``sqlite:scores.db`` run from two directories names two stores; symlinks resolved),
    for InfluxDB the URL normalised (host in lower case, port made explicit, options
    dropped) and without its password.
    """
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local/state")
    digest = hashlib.sha256(_store_key(store_url).encode()).hexdigest()[:16]
    return Path(base) / "tinypdm" / "spool" / digest


def _legacy_spool_dir(store_url: str) -> Path:
    """Where earlier versions kept the default spool (keyed on the text of the URL)."""
    from vibration.telemetry.stores.base import redact_url

    digest = hashlib.sha256(redact_url(store_url).encode()).hexdigest()[:16]
    return default_spool_dir(store_url).parent / digest


def _store_key(store_url: str) -> str:
    """What identifies the store behind ``store_url`` (no secret in it)."""
    from vibration.telemetry.stores.base import redact_url
    from vibration.telemetry.stores.factory import sqlite_path
    from vibration.telemetry.stores.influx import parse_influx_url

    scheme = store_url.split(":", 1)[0].lower() if ":" in store_url else ""
    try:
        if scheme == "sqlite":
            path = sqlite_path(store_url)
            return f"sqlite:{path if path == ':memory:' else os.path.realpath(path)}"
        if scheme in ("influxdb", "influxdbs"):
            u = parse_influx_url(store_url)
            user = f"{urllib.parse.quote(u.user, safe='')}@" if u.user is not None else ""
            host = f"[{u.host}]" if ":" in u.host else u.host
            return f"{scheme}://{user}{host.lower()}:{u.port}/{u.database}"
    except ValueError:  # a malformed URL (StoreURLError): its text is all there is
        pass
    return redact_url(store_url)

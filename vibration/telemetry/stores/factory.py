"""``open_store(url)``: a store from its URL."""

from __future__ import annotations

from typing import Any

from vibration.telemetry.stores.base import Store, StoreURLError, redact_url

__all__ = ["open_store", "sqlite_path"]

_HINT = (
    "expected sqlite:///ABSOLUTE/PATH.db, sqlite:RELATIVE/PATH.db or "
    "influxdb://[user:password@]host[:port]/database"
)


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:`` URL.

    ``sqlite:///tmp/x.db`` -> ``/tmp/x.db``; ``sqlite:x.db`` and ``sqlite://x.db`` ->
    ``x.db`` (relative); ``sqlite://:memory:`` -> ``:memory:``.
    """
    if not url.startswith("sqlite:"):
        raise StoreURLError(f"not a sqlite URL: {redact_url(url)!r}; {_HINT}")
    path = url[len("sqlite:") :]
    if path.startswith("//"):
        path = path[2:]
    if not path or path.endswith("/") or "?" in path:
        raise StoreURLError(f"bad SQLite URL {url!r}: no file path; {_HINT}")
    return path


def open_store(url: str, **kw: Any) -> Store:
    """Open the store named by ``url``.

    Parameters
    ----------
    url : str
        ``sqlite:///path/scores.db`` (embedded, the default of the CLI) or
        ``influxdb[s]://[user:password@]host[:port]/database[?timeout=S]``.
    **kw
        Passed to the backend (``SqliteStore(path, timeout=...)``,
        ``InfluxStore(url, token=...)``).

    Raises
    ------
    StoreURLError
        Unknown scheme or malformed URL (also a ``ValueError``).
    StoreError
        The store cannot be opened (e.g. SQLite file in a missing directory).
    """
    if not isinstance(url, str):
        raise StoreURLError(f"store URL must be a string, got {url!r}")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from vibration.telemetry.stores.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), **kw)
    if scheme in ("influxdb", "influxdbs"):
        from vibration.telemetry.stores.influx import InfluxStore

        return InfluxStore(url, **kw)
    raise StoreURLError(f"unknown store URL {redact_url(url)!r}; {_HINT}")

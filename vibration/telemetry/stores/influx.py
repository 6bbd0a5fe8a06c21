"""InfluxDB score store over the 1.x HTTP API (``influxdb://[user:password@]host[:port]/db``).

A small client on :mod:`http.client`: line protocol POSTed to ``/write?precision=ns``,
InfluxQL POSTed to ``/query`` with ``epoch=ns``. It works with InfluxDB 1.x, with 2.x
through its v1-compatibility API and with 3.x, because it needs nothing else.

* One keep-alive connection per store, used under a lock (thread-safe), with timeouts;
  a connection the server closed is reopened once per request.
* Authentication: ``user:password@`` in the URL (HTTP basic auth), or else a token from
  the environment variable ``TINYPDM_INFLUX_TOKEN`` (``Authorization: Token ...``).
  Credentials never appear in :attr:`InfluxStore.url`, ``repr`` or error messages.
* ``CREATE DATABASE`` on first contact (idempotent; skipped silently without admin rights).
* Escaping: tag values escape ``,``, ``=`` and space; string fields escape ``"`` and ``\\``;
  InfluxQL quotes identifiers with ``"..."`` and string literals with ``'...'``, after the
  names were validated by :func:`~vibration.telemetry.stores.base.check_name`.
* Errors: unreachable server, timeout or 5xx -> :class:`~vibration.errors.StoreUnavailable`;
  401 -> :class:`~vibration.errors.StoreError` "authentication failed"; other 4xx ->
  ``StoreError`` with the server's text; a partial write ->
  :class:`~vibration.telemetry.stores.base.PartialWriteError` with the number of dropped points.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vibration.errors import StoreError, StoreUnavailable
from vibration.telemetry.stores.base import (
    Event,
    PartialWriteError,
    ScorePoint,
    ScoreSeries,
    SensorStatus,
    StoreURLError,
    check_name,
    check_range,
    redact_url,
)

__all__ = ["InfluxStore", "InfluxURL", "parse_influx_url"]

TOKEN_ENV = "TINYPDM_INFLUX_TOKEN"
_DB_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_DROPPED_RE = re.compile(r"dropped=(\d+)")
_LINES_PER_POST = 5000
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


@dataclass(frozen=True)
class InfluxURL:
    """The parts of an ``influxdb://`` or ``influxdbs://`` (TLS) URL."""

    tls: bool
    host: str
    port: int
    database: str
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0

    @property
    def redacted(self) -> str:
        scheme = "influxdbs" if self.tls else "influxdb"
        cred = f"{self.user}:***@" if self.user is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{cred}{host}:{self.port}/{self.database}"


def parse_influx_url(url: str) -> InfluxURL:
    """Parse ``influxdb[s]://[user:password@]host[:port]/database[?timeout=S]``.

    The password may be percent-encoded. The default port is 8086.

    Raises
    ------
    StoreURLError
        On anything else (the message shows the URL with its password redacted).
    """
    shown = redact_url(url)
    hint = "expected influxdb://[user:password@]host[:port]/database"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 8086
    except ValueError as exc:
        raise StoreURLError(f"bad InfluxDB URL {shown!r}: {exc}; {hint}") from None
    if parts.scheme not in ("influxdb", "influxdbs"):
        raise StoreURLError(f"bad InfluxDB URL {shown!r}: {hint}")
    if not parts.hostname:
        raise StoreURLError(f"bad InfluxDB URL {shown!r}: no host; {hint}")
    database = parts.path.strip("/")
    if not _DB_RE.fullmatch(database):
        raise StoreURLError(
            f"bad InfluxDB URL {shown!r}: database name must match [A-Za-z0-9_-]{{1,64}}; {hint}"
        )
    timeout = 10.0
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key != "timeout":
            raise StoreURLError(f"bad InfluxDB URL {shown!r}: unknown option {key!r}")
        try:
            timeout = float(value)
        except ValueError:
            raise StoreURLError(f"bad InfluxDB URL {shown!r}: timeout must be seconds") from None
        if not timeout > 0:
            raise StoreURLError(f"bad InfluxDB URL {shown!r}: timeout must be > 0")
    user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if user is not None and password is None:
        raise StoreURLError(f"bad InfluxDB URL {shown!r}: user without password")
    return InfluxURL(
        tls=parts.scheme == "influxdbs",
        host=parts.hostname,
        port=port,
        database=database,
        user=user,
        password=password,
        timeout=timeout,
    )


# -- line protocol and InfluxQL quoting -----------------------------------------------------


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _string_field(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def score_lines(points: Iterable[ScorePoint]) -> list[str]:
    """Line protocol of score points (tags cached per sensor/asset/model)."""
    prefixes: dict[tuple[str, str, str], str] = {}
    lines = []
    for p in points:
        key = (p.sensor, p.asset, p.model)
        prefix = prefixes.get(key)
        if prefix is None:
            prefix = (
                f"anomaly_score,asset={_tag(p.asset)},model={_tag(p.model)},"
                f"sensor={_tag(p.sensor)} "
            )
            prefixes[key] = prefix
        lines.append(
            f"{prefix}score={float(p.score)!r},threshold={float(p.threshold)!r},"
            f"alarm={1 if p.alarm else 0}i,rms={float(p.rms)!r},"
            f"kurtosis={float(p.kurtosis)!r},seq={int(p.seq)}i {int(p.time_ns)}"
        )
    return lines


def status_lines(statuses: Iterable[SensorStatus]) -> list[str]:
    """Line protocol of sensor status points."""
    return [
        f"sensor_status,asset={_tag(s.asset)},sensor={_tag(s.sensor)} "
        f"firmware={_string_field(s.firmware)},model_hash={_string_field(s.model_hash)},"
        f"sample_rate={float(s.sample_rate)!r},crc_errors={int(s.crc_errors)}i,"
        f"dropped_frames={int(s.dropped_frames)}i,last_seen={int(s.time_ns)}i {int(s.time_ns)}"
        for s in statuses
    ]


def event_lines(events: Iterable[Event]) -> list[str]:
    """Line protocol of events."""
    return [
        f"event,asset={_tag(e.asset)},kind={_tag(e.kind)},sensor={_tag(e.sensor)} "
        f"text={_string_field(e.text)},author={_string_field(e.author)} {int(e.time_ns)}"
        for e in events
    ]


# -- the store --------------------------------------------------------------------------------


class InfluxStore:
    """Score store in an InfluxDB database, through the 1.x HTTP API.

    Parameters
    ----------
    url : str
        ``influxdb[s]://[user:password@]host[:port]/database[?timeout=S]``.
    token : str, optional
        API token sent as ``Authorization: Token ...`` when the URL has no credentials;
        defaults to the environment variable ``TINYPDM_INFLUX_TOKEN``.

    Opening does not contact the server: a gateway may start while InfluxDB is down.
    """

    def __init__(self, url: str, *, token: str | None = None) -> None:
        self._parsed = parse_influx_url(url)
        p = self._parsed
        self._auth_header: str | None = None
        if p.user is not None:
            raw = f"{p.user}:{p.password}".encode()
            self._auth_header = "Basic " + base64.b64encode(raw).decode("ascii")
        else:
            token = token if token is not None else os.environ.get(TOKEN_ENV)
            if token:
                self._auth_header = f"Token {token}"
        self._lock = threading.RLock()
        self._conn: http.client.HTTPConnection | None = None
        self._db_ready = False
        self._closed = False

    @property
    def url(self) -> str:
        return self._parsed.redacted

    @property
    def database(self) -> str:
        return self._parsed.database

    def __repr__(self) -> str:
        return f"InfluxStore({self.url!r})"

    # -- HTTP -------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            p = self._parsed
            if p.tls:
                self._conn = http.client.HTTPSConnection(p.host, p.port, timeout=p.timeout)
            else:
                self._conn = http.client.HTTPConnection(p.host, p.port, timeout=p.timeout)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(
        self,
        path: str,
        params: dict[str, str],
        body: bytes,
        content_type: str,
        method: str = "POST",
    ) -> tuple[int, bytes]:
        """Send ``body`` to ``path?params``; returns (status, body). Network trouble ->
        StoreUnavailable. A kept-alive connection the server closed is retried once."""
        if self._closed:
            raise StoreError(f"{self.url}: store is closed")
        target = path + ("?" + urllib.parse.urlencode(params) if params else "")
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if self._auth_header is not None:
            headers["Authorization"] = self._auth_header
        with self._lock:
            for attempt in (0, 1):
                reused = self._conn is not None
                conn = self._connection()
                try:
                    conn.request(method, target, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.will_close:
                        self._drop_connection()
                    return resp.status, data
                except (
                    http.client.RemoteDisconnected,
                    BrokenPipeError,
                    ConnectionResetError,
                ) as exc:
                    self._drop_connection()
                    if reused and attempt == 0:
                        continue
                    raise StoreUnavailable(f"{self.url}: connection lost ({exc})") from None
                except TimeoutError:
                    self._drop_connection()
                    raise StoreUnavailable(
                        f"{self.url}: no answer within {self._parsed.timeout:g} s"
                    ) from None
                except ConnectionRefusedError:
                    self._drop_connection()
                    raise StoreUnavailable(f"{self.url}: connection refused") from None
                except (OSError, http.client.HTTPException) as exc:
                    self._drop_connection()
                    raise StoreUnavailable(f"{self.url}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, status: int, data: bytes, what: str) -> StoreError:
        text = _server_error(data)
        if status == 401:
            return StoreError(f"{self.url}: authentication failed ({text or 'unauthorized'})")
        if status == 403:
            return StoreError(f"{self.url}: not authorized to {what} ({text or 'forbidden'})")
        if status >= 500:
            return StoreUnavailable(f"{self.url}: server error {status} on {what}: {text}")
        return StoreError(f"{self.url}: {what} failed ({status}): {text}")

    def _query(self, q: str, *, db: bool = True) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the ``series`` of the first statement (maybe empty)."""
        params = {"q": q, "epoch": "ns"}
        if db:
            self._ensure_database()
            params["db"] = self._parsed.database
        body = urllib.parse.urlencode(params).encode()
        status, data = self._request("/query", {}, body, "application/x-www-form-urlencoded")
        if status != 200:
            raise self._error(status, data, "query")
        try:
            doc = json.loads(data)
        except ValueError:
            raise StoreError(f"{self.url}: query answered with invalid JSON") from None
        if "error" in doc:
            raise StoreError(f"{self.url}: query failed: {doc['error']}")
        results = doc.get("results") or [{}]
        first = results[0]
        if "error" in first:
            raise StoreError(f"{self.url}: query failed: {first['error']}")
        return list(first.get("series") or [])

    def _ensure_database(self) -> None:
        if self._db_ready:
            return
        q = f"CREATE DATABASE {_ident(self._parsed.database)}"
        body = urllib.parse.urlencode({"q": q}).encode()
        status, data = self._request("/query", {}, body, "application/x-www-form-urlencoded")
        if status == 401:
            raise self._error(status, data, "create the database")
        # 403: no admin rights; the database must exist already (writes will tell).
        if status not in (200, 403):
            raise self._error(status, data, "create the database")
        self._db_ready = True

    def write_lines(self, lines: Sequence[str]) -> None:
        """POST line protocol, ``_LINES_PER_POST`` lines at a time.

        Raises
        ------
        StoreUnavailable
            Server unreachable, timed out or answered 5xx (nothing or part was written;
            retrying is safe because points are idempotent).
        PartialWriteError
            The server stored part of the lines and rejected ``dropped`` of them (raised
            after every POST was sent: a partial POST does not stop the next ones).
        StoreError
            Authentication failed, or the server rejected the batch.
        """
        self._ensure_database()
        params = {"db": self._parsed.database, "precision": "ns"}
        partial: list[str] = []
        dropped = 0
        for start in range(0, len(lines), _LINES_PER_POST):
            body = "\n".join(lines[start : start + _LINES_PER_POST]).encode()
            for attempt in (0, 1):
                status, data = self._request("/write", params, body, "text/plain; charset=utf-8")
                if status == 204:
                    break
                text = _server_error(data)
                if status == 404 and "database not found" in text and attempt == 0:
                    self._db_ready = False
                    self._ensure_database()
                    continue
                if status == 400 and text.startswith("partial write"):
                    m = _DROPPED_RE.search(text)
                    n = len(lines[start : start + _LINES_PER_POST])
                    dropped += min(int(m.group(1)), n) if m else n
                    partial.append(text)
                    break
                raise self._error(status, data, "write")
        if partial:
            raise PartialWriteError(f"{self.url}: {'; '.join(partial)}", dropped)

    def write_scores(self, points: Sequence[ScorePoint]) -> None:
        self.write_lines(score_lines(points))

    def write_status(self, statuses: Sequence[SensorStatus]) -> None:
        self.write_lines(status_lines(statuses))

    def write_events(self, events: Sequence[Event]) -> None:
        self.write_lines(event_lines(events))

    # -- reads ------------------------------------------------------------------------

    def sensors(self) -> list[SensorStatus]:
        series = self._query(
            'SELECT * FROM "sensor_status" GROUP BY "sensor" ORDER BY time DESC LIMIT 1'
        )
        out = []
        for s in series:
            row = dict(zip(s["columns"], s["values"][0], strict=True))
            out.append(
                SensorStatus(
                    time_ns=int(row["time"]),
                    sensor=s["tags"]["sensor"],
                    asset=row["asset"],
                    firmware=row.get("firmware") or "",
                    model_hash=row.get("model_hash") or "",
                    sample_rate=float(row.get("sample_rate") or 0.0),
                    crc_errors=int(row.get("crc_errors") or 0),
                    dropped_frames=int(row.get("dropped_frames") or 0),
                )
            )
        return sorted(out, key=lambda st: st.sensor)

    def latest_scores(self) -> dict[str, ScorePoint]:
        series = self._query(
            'SELECT * FROM "anomaly_score" GROUP BY "sensor" ORDER BY time DESC LIMIT 1'
        )
        out = {}
        for s in series:
            row = dict(zip(s["columns"], s["values"][0], strict=True))
            sensor = s["tags"]["sensor"]
            out[sensor] = ScorePoint(
                time_ns=int(row["time"]),
                sensor=sensor,
                asset=row["asset"],
                model=row["model"],
                score=float(row["score"]),
                threshold=float(row["threshold"]),
                alarm=bool(row["alarm"]),
                rms=float(row["rms"]),
                kurtosis=float(row["kurtosis"]),
                seq=int(row["seq"]),
            )
        return out

    def query_scores(
        self, sensor: str, start_ns: int, end_ns: int, bucket_s: int | None = None
    ) -> ScoreSeries:
        check_name(sensor, "sensor")
        check_range(start_ns, end_ns, bucket_s)
        where = (
            f'WHERE "sensor" = {_literal(sensor)} AND time >= {int(start_ns)} '
            f"AND time < {int(end_ns)}"
        )
        if bucket_s is None:
            q = (
                'SELECT "score", "threshold", "alarm", "rms", "kurtosis" '
                f'FROM "anomaly_score" {where}'
            )
        else:
            q = (
                'SELECT mean("score") AS "score", max("score") AS "score_max", '
                'mean("threshold") AS "threshold", max("alarm") AS "alarm", '
                'mean("rms") AS "rms", mean("kurtosis") AS "kurtosis", '
                'count("score") AS "count" '
                f'FROM "anomaly_score" {where} GROUP BY time({int(bucket_s)}s) fill(none)'
            )
        series = self._query(q)
        if not series:
            return ScoreSeries()
        cols = series[0]["columns"]
        idx = {name: i for i, name in enumerate(cols)}
        rows = []
        for v in series[0]["values"]:
            if bucket_s is None:
                score = v[idx["score"]]
                rows.append(
                    (
                        v[0],
                        score,
                        score,
                        v[idx["threshold"]],
                        v[idx["alarm"]],
                        v[idx["rms"]],
                        v[idx["kurtosis"]],
                        1,
                    )
                )
            else:
                rows.append(
                    (
                        v[0],
                        v[idx["score"]],
                        v[idx["score_max"]],
                        v[idx["threshold"]],
                        v[idx["alarm"]],
                        v[idx["rms"]],
                        v[idx["kurtosis"]],
                        v[idx["count"]],
                    )
                )
        return ScoreSeries.from_rows(rows)

    def events(self, start_ns: int, end_ns: int, sensor: str | None = None) -> list[Event]:
        check_range(start_ns, end_ns)
        where = f"WHERE time >= {int(start_ns)} AND time < {int(end_ns)}"
        if sensor is not None:
            check_name(sensor, "sensor")
            where += f' AND "sensor" = {_literal(sensor)}'
        series = self._query(
            f'SELECT "kind", "sensor", "asset", "text", "author" FROM "event" {where}'
        )
        out = []
        for s in series:
            for v in s["values"]:
                t, kind, sens, asset, text, author = v
                out.append(Event(int(t), kind, sens, asset, text or "", author or ""))
        out.sort(key=lambda e: (e.time_ns, e.kind, e.sensor, e.asset))
        return out

    def count_scores(self, sensor: str | None = None) -> int:
        q = 'SELECT count("score") FROM "anomaly_score"'
        if sensor is not None:
            check_name(sensor, "sensor")
            q += f' WHERE "sensor" = {_literal(sensor)}'
        series = self._query(q)
        return sum(int(v[1]) for s in series for v in s["values"])

    def ping(self) -> bool:
        """True when the server answers ``/ping``."""
        try:
            status, _ = self._request("/ping", {}, b"", "text/plain", method="GET")
        except StoreUnavailable:
            return False
        return status == 204

    def close(self) -> None:
        with self._lock:
            self._drop_connection()
            self._closed = True

    def __enter__(self) -> InfluxStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _server_error(data: bytes) -> str:
    """The ``error`` text of an InfluxDB JSON answer, else the body (shortened)."""
    try:
        doc = json.loads(data)
        if isinstance(doc, dict) and "error" in doc:
            return str(doc["error"])
    except ValueError:
        pass
    return data.decode("utf-8", "replace").strip()[:500]

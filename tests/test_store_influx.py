"""InfluxDB backend specifics: URLs, auth, errors, escaping, reconnects (real influxd)."""

from __future__ import annotations

import http.server
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support import require_tool
from vibration.errors import StoreError, StoreUnavailable
from vibration.telemetry.stores import PartialWriteError, ScorePoint, StoreURLError, open_store
from vibration.telemetry.stores.base import Event
from vibration.telemetry.stores.influx import (
    InfluxStore,
    event_lines,
    parse_influx_url,
    score_lines,
)
from vibration.telemetry.stores.influxd_process import InfluxdServer, free_port

T0 = 1_700_000_000 * 10**9
SECRET = "s3cr3t-pw"


def pt(i: int, sensor: str = "s1") -> ScorePoint:
    return ScorePoint(T0 + i, sensor, "pump", "m", 0.5, 1.0, False, 0.2, 3.0, i)


def fresh_db(base_url: str) -> str:
    return base_url.rsplit("/", 1)[0] + "/t_" + uuid.uuid4().hex[:12]


# -- URLs and line protocol (no server) -----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "influxdb://",
        "influxdb://host",
        "influxdb://host/",
        "influxdb://host/bad name",
        "influxdb://host:99999/db",
        "influxdb://host:http/db",
        f"influxdb://user@host/db?pw={SECRET}",
        "influxdb://host/db?retention=1d",
        "influxdb://host/db?timeout=-1",
        f"influxdb://admin:{SECRET}@/db",
        "mongodb://host/db",
        "scores.db",
        "sqlite:",
    ],
)
def test_store_influx_bad_urls_raise_one_clear_error(url: str) -> None:
    with pytest.raises(StoreURLError) as info:
        open_store(url)
    assert isinstance(info.value, ValueError)
    assert (
        "expected" in str(info.value) or "must" in str(info.value) or "unknown" in str(info.value)
    )


def test_store_influx_url_parsing_and_redaction() -> None:
    u = parse_influx_url("influxdbs://ann%40plant:p%2Fw%3Ad@db.local/tinypdm?timeout=2.5")
    assert (u.tls, u.host, u.port, u.database, u.user, u.password, u.timeout) == (
        True,
        "db.local",
        8086,
        "tinypdm",
        "ann@plant",
        "p/w:d",
        2.5,
    )
    store = InfluxStore(f"influxdb://admin:{SECRET}@127.0.0.1:1234/x")
    for text in (store.url, repr(store)):
        assert SECRET not in text and "admin:***@" in text
    store.close()


def test_store_influx_line_protocol_escapes_tags_and_strings() -> None:
    p = ScorePoint(5, "a b,c=d", "it's", 'q"m', 1e-5, 2.0, True, 0.25, 3.0, 9)
    assert score_lines([p]) == [
        r"""anomaly_score,asset=it's,model=q"m,sensor=a\ b\,c\=d """
        "score=1e-05,threshold=2.0,alarm=1i,rms=0.25,kurtosis=3.0,seq=9i 5"
    ]
    e = Event(7, "note", "s", "a", 'say "hi"\\ now\nbye', "me")
    assert event_lines([e]) == [
        'event,asset=a,kind=note,sensor=s text="say \\"hi\\"\\\\ now\nbye",author="me" 7'
    ]


# -- against a real influxd ------------------------------------------------------------------


@pytest.mark.influxd
def test_store_influx_refused_connection_is_unavailable() -> None:
    store = open_store(f"influxdb://admin:{SECRET}@127.0.0.1:{free_port()}/tinypdm")
    with pytest.raises(StoreUnavailable, match="connection refused") as info:
        store.write_scores([pt(0)])
    assert SECRET not in str(info.value)
    with pytest.raises(StoreUnavailable):
        store.latest_scores()
    assert isinstance(store, InfluxStore) and not store.ping()
    store.close()


@pytest.mark.influxd
def test_store_influx_creates_database_and_recreates_it_when_dropped(influxd_url: str) -> None:
    store = open_store(fresh_db(influxd_url))
    assert isinstance(store, InfluxStore)
    assert store.ping()
    store.write_scores([pt(0)])
    store._query(f'DROP DATABASE "{store.database}"', db=False)
    store.write_scores([pt(1)])  # 404 database not found -> CREATE DATABASE, retry
    assert store.count_scores() == 1
    store._query(f'DROP DATABASE "{store.database}"', db=False)
    store.close()


@pytest.mark.influxd
def test_store_influx_partial_write_reports_dropped_points(influxd_url: str) -> None:
    store = open_store(fresh_db(influxd_url))
    assert isinstance(store, InfluxStore)
    store.write_lines([f"anomaly_score,asset=pump,model=m,sensor=s1 score=1i {T0 - 1}"])
    with pytest.raises(PartialWriteError, match="field type conflict") as info:
        store.write_scores([pt(i) for i in range(5)])  # score is a float field here
    assert info.value.dropped == 5
    with pytest.raises(StoreError, match="unable to parse"):
        store.write_lines(["anomaly_score score=1 1 garbage"])
    with pytest.raises(StoreError, match="query failed"):
        store._query("SELECT FROM WHERE")
    store._query(f'DROP DATABASE "{store.database}"', db=False)
    store.close()


@pytest.mark.influxd
def test_store_influx_keepalive_survives_server_restart(influxd_server: InfluxdServer) -> None:
    store = open_store(influxd_server.store_url())
    store.write_scores([pt(0)])
    influxd_server.stop()
    with pytest.raises(StoreUnavailable):
        store.write_scores([pt(1)])
    influxd_server.start()
    store.write_scores([pt(2)])
    influxd_server.stop()
    influxd_server.start()  # the kept-alive connection is stale now: reopened once
    store.write_scores([pt(3)])
    assert store.count_scores() == 3
    store.close()


@pytest.mark.influxd
@pytest.mark.slow
def test_store_influx_authentication(tmp_path: Path) -> None:
    require_tool("influxd", "influxdb")
    with InfluxdServer(tmp_path / "db", auth=True, admin=("admin", SECRET)) as server:
        good = open_store(server.store_url())
        good.write_scores([pt(0)])
        assert good.count_scores() == 1
        good.close()
        wrong = open_store(server.store_url().replace(SECRET, "wrong-pw"))
        with pytest.raises(StoreError, match="authentication failed") as info:
            wrong.write_scores([pt(1)])
        assert not isinstance(info.value, StoreUnavailable)
        assert "wrong-pw" not in str(info.value) and "admin:***@" in str(info.value)
        wrong.close()
        anonymous = open_store(server.store_url().replace(f"admin:{SECRET}@", ""))
        with pytest.raises(StoreError, match="authentication failed"):
            anonymous.latest_scores()
        anonymous.close()


# -- a stand-in server for what influxd 1.6 cannot show (tokens, hangs, 5xx) ----------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []
    status = 204

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        type(self).seen.append(dict(self.headers))
        status = self.status
        if status >= 500:
            body = b'{"error":"engine: cache-max-memory-size exceeded"}'
        elif self.path.startswith("/query"):
            status, body = 200, b'{"results":[{"statement_id":0}]}'
        else:
            body = b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[int, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "status": 204})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_store_influx_sends_token_from_environment(
    recorder: tuple[int, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, handler = recorder
    monkeypatch.setenv("TINYPDM_INFLUX_TOKEN", "tok-123")
    store = open_store(f"influxdb://127.0.0.1:{port}/tinypdm")
    store.write_scores([pt(0)])
    store.close()
    assert {h["Authorization"] for h in handler.seen} == {"Token tok-123"}
    handler.seen.clear()
    store = open_store(f"influxdb://ann:{SECRET}@127.0.0.1:{port}/tinypdm")  # URL wins
    store.write_scores([pt(0)])
    store.close()
    assert all(h["Authorization"].startswith("Basic ") for h in handler.seen)
    assert SECRET not in str(handler.seen)  # base64, never in clear


def test_store_influx_server_error_is_unavailable(recorder: tuple[int, type[_Recorder]]) -> None:
    port, handler = recorder
    handler.status = 503
    store = open_store(f"influxdb://127.0.0.1:{port}/tinypdm")
    with pytest.raises(StoreUnavailable, match=r"server error 503.*cache-max-memory"):
        store.write_scores([pt(0)])
    store.close()


def test_store_influx_silent_server_times_out_as_unavailable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts (in the kernel), never answers
        port = listener.getsockname()[1]
        store = open_store(f"influxdb://127.0.0.1:{port}/tinypdm?timeout=0.3")
        with pytest.raises(StoreUnavailable, match=r"no answer within 0\.3 s"):
            store.write_scores([pt(0)])
        store.close()

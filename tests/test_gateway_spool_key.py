"""The default spool belongs to the store itself, not to the text of its URL: a relative
SQLite URL run from two directories names two stores, two spools."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_gateway import config, links
from vibration.acquisition.serial_link import PtyLink
from vibration.telemetry.gateway import Gateway, default_spool_dir

__all__ = ["links"]  # the fixture


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def test_gateway_default_spool_of_a_relative_sqlite_url_follows_the_directory(
    tmp_path: Path, state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.chdir(a)
    in_a = default_spool_dir("sqlite:tinypdm-scores.db")
    monkeypatch.chdir(b)
    in_b = default_spool_dir("sqlite:tinypdm-scores.db")
    assert in_a != in_b
    assert in_a.parent == state_home / "tinypdm" / "spool"
    # The same file, however it is spelt, is the same store.
    assert in_b == default_spool_dir(f"sqlite://{b}/tinypdm-scores.db")
    assert in_b == default_spool_dir("sqlite:./tinypdm-scores.db")
    assert in_a == default_spool_dir("sqlite:../a/tinypdm-scores.db")


def test_gateway_default_spool_of_influx_ignores_password_case_and_default_port(
    state_home: Path,
) -> None:
    one = default_spool_dir("influxdb://gw:secret-1@Influx.Example:8086/plant")
    assert one == default_spool_dir("influxdb://gw:secret-2@influx.example/plant?timeout=5")
    assert one != default_spool_dir("influxdb://gw:secret-1@influx.example:8086/other")
    assert one != default_spool_dir("influxdbs://gw:secret-1@influx.example:8086/plant")
    assert one != default_spool_dir("influxdb://gw:secret-1@influx.example:8087/plant")
    assert "secret" not in str(one)


def test_gateway_uses_the_spool_of_the_resolved_store(
    tmp_path: Path, state_home: Path, monkeypatch: pytest.MonkeyPatch, links: list[PtyLink]
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path, links[:1], store_url="sqlite:tinypdm-scores.db", spool_dir=None)
    gw = Gateway(cfg).start()
    try:
        assert gw.store is not None
        used = gw.store.spool.directory
    finally:
        gw.stop()
    monkeypatch.chdir(state_home.parent.parent)
    assert used == default_spool_dir(f"sqlite://{tmp_path}/tinypdm-scores.db")


def test_gateway_warns_about_a_spool_keyed_on_the_url_text(
    tmp_path: Path,
    state_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    links: list[PtyLink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import hashlib

    from vibration.telemetry.stores.spool import Spool

    monkeypatch.chdir(tmp_path)
    url = "sqlite:tinypdm-scores.db"
    old = state_home / "tinypdm" / "spool" / hashlib.sha256(url.encode()).hexdigest()[:16]
    Spool(old).close()
    gw = Gateway(config(tmp_path, links[:1], store_url=url, spool_dir=None)).start()
    gw.stop()
    assert f"deliver them with --spool {old}" in caplog.text

"""Shared fixtures: real tools, loud in CI (helpers in ``tests/support.py``).

* ``links``: three real ptys for gateway tests;
* ``fleet``: the sample fleet in a SQLite store with a model registry beside it, and the
  dashboard's settings pointing at both (the page tests);
* ``influxd_url``, ``influxd_server``, ``cwru_dir``, ``sim_bundle``: real tools and data.

A test that needs a tool which is absent (influxd, qemu, arm gcc, chromium) fails in CI
(``CI=true``) and skips with a clear reason elsewhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, make_registry, require, require_tool, specs_for
from vibration.acquisition.serial_link import PtyLink
from vibration.telemetry.stores import Event, Store, open_store

SHARED_DATA = REPO.parent / "shared" / "data"
CWRU_DIR = SHARED_DATA / "cwru"


@pytest.fixture(scope="session")
def cwru_dir() -> Path:
    require((CWRU_DIR / "manifest.csv").exists(), f"CWRU data not found at {CWRU_DIR}")
    return CWRU_DIR


@pytest.fixture(scope="session")
def influxd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``influxdb://`` URL of a real influxd: the one CI started, or a private one."""
    from_ci = os.environ.get("TINYPDM_TEST_INFLUX_URL")
    if from_ci:
        yield from_ci
        return
    require_tool("influxd", "influxdb")
    from vibration.telemetry.stores.influxd_process import InfluxdServer

    server = InfluxdServer(tmp_path_factory.mktemp("influxd")).start()
    try:
        yield server.store_url()
    finally:
        server.stop()


@pytest.fixture
def influxd_server(tmp_path: Path) -> Iterator[object]:
    """A private influxd the test may stop and restart (InfluxdServer)."""
    require_tool("influxd", "influxdb")
    from vibration.telemetry.stores.influxd_process import InfluxdServer

    server = InfluxdServer(tmp_path / "influxd").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sim_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small exported bundle trained on 30 s of simulated healthy vibration at 12 kHz.

    Shared by the tests that need any real bundle (on-board scoring, demo pieces); built
    once per session through the library functions the CLI calls.
    """
    require_tool("gcc", "gcc")
    from firmware_export.exporter.bundle import ExportOptions, export_bundle
    from vibration.data.simulator import SimulatorConfig, simulate_recording
    from vibration.learning.training import train_model

    root = tmp_path_factory.mktemp("sim-bundle")
    simulate_recording(root / "ds", "healthy", SimulatorConfig(seed=11), 30.0)
    train_model([root / "ds"], root / "model", epochs=5, seed=0)
    export_bundle(root / "model", root / "bundle", options=ExportOptions(measure=False))
    return root / "bundle"


@pytest.fixture
def links(tmp_path: Path) -> Iterator[list[PtyLink]]:
    """Three real ptys under ``tmp_path`` (closed after the test)."""
    made = [PtyLink(tmp_path / f"tty{i}") for i in range(3)]
    yield made
    for lk in made:
        lk.close()


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The page tests' sample fleet (:func:`tests.support.specs_for`, 2 h, seed 7) in a
    SQLite store, a maintenance note on fan-1, and a registry from
    :func:`tests.support.make_registry`; the dashboard's settings point at both."""
    from dashboard.config import ENV_MODELS, ENV_STORE
    from dashboard.sample_fleet import seed_fleet

    hashes = make_registry(tmp_path / "models")
    url = f"sqlite:///{tmp_path}/scores.db"
    store = open_store(url)
    now = time.time_ns()
    seed_fleet(store, now_ns=now, specs=specs_for(hashes), hours=2.0, seed=7)
    store.write_events(
        [Event(now - 3000 * 10**9, "maintenance", "fan-1", "fan", "belt tensioned", "bo")]
    )
    monkeypatch.setenv(ENV_STORE, url)
    monkeypatch.setenv(ENV_MODELS, str(tmp_path / "models"))
    yield store
    store.close()


#: Fixtures that train a model (TensorFlow): a test using one must carry the marker.
_TENSORFLOW_FIXTURES = {"sim_bundle"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if _TENSORFLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("tensorflow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            f"tests that train a model need @pytest.mark.tensorflow: {', '.join(unmarked)}"
        )

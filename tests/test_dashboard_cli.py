"""``tinypdm dashboard``: options, errors, the streamlit subprocess, the package surface."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import dashboard
from dashboard.config import ENV_MODELS, ENV_STORE, DashboardConfig
from dashboard.serve import describe, streamlit_command
from dashboard.state import StateRules
from vibration.app.cli import main
from vibration.errors import TinyPdmError
from vibration.telemetry.stores.influxd_process import free_port


def test_dashboard_package_exports_its_public_names():
    assert dashboard.__all__ == [
        "DashboardConfig",
        "FleetRow",
        "LinkHistory",
        "ModelCheck",
        "Registry",
        "RegistryEntry",
        "SensorSpec",
        "SensorState",
        "StateRules",
        "alarm_periods",
        "check_model",
        "check_store",
        "choose_bucket_s",
        "classify",
        "fleet_rows",
        "scan_registry",
        "seed_fleet",
        "serve",
        "streamlit_command",
    ]
    for name in dashboard.__all__:
        assert getattr(dashboard, name) is not None


def test_dashboard_import_does_not_load_streamlit():
    code = (
        "import sys, dashboard, vibration.app.commands.dashboard;"
        "print([m for m in ('streamlit', 'pandas', 'altair', 'tensorflow') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_dashboard_cli_bad_store_url_is_one_error_line(capsys):
    assert main(["dashboard", "--store", "ftp://u:hunter2@host/db"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinypdm: error:")
    assert "hunter2" not in err[0]


def test_dashboard_cli_port_in_use_is_one_error_line(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc = main(["dashboard", "--store", f"sqlite:///{tmp_path}/s.db", "--port", str(port)])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("tinypdm: error:") and "address in use" in err[0]


def test_dashboard_cli_rejects_missing_models_dir(tmp_path, capsys):
    rc = main(["dashboard", "--store", f"sqlite:///{tmp_path}/s.db", "--models", "/nope/x"])
    assert rc == 2
    assert "--models" in capsys.readouterr().err


def test_streamlit_command_is_headless_and_carries_no_store_url():
    argv = streamlit_command(host="127.0.0.1", port=8600)
    joined = " ".join(argv)
    for flag in (
        "--server.headless true",
        "--browser.gatherUsageStats false",
        "--server.address 127.0.0.1",
        "--server.port 8600",
    ):
        assert flag in joined
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert Path(argv[4]).name == "streamlit_app.py"
    with pytest.raises(ValueError, match="port"):
        streamlit_command(host="127.0.0.1", port=0)
    with pytest.raises(ValueError, match="host"):
        streamlit_command(host="bad host", port=8600)


def test_dashboard_config_travels_through_the_environment(tmp_path):
    cfg = DashboardConfig(
        store_url="influxdb://u:secret@127.0.0.1:8086/db",
        models_dir=tmp_path,
        refresh_s=3.0,
        rules=StateRules(expected_interval_s=2.0, offline_factor=5.0),
    )
    env = cfg.to_env()
    assert env[ENV_STORE] == cfg.store_url and env[ENV_MODELS] == str(tmp_path)
    back = DashboardConfig.from_env(env)
    assert back == cfg
    assert "secret" not in describe(cfg, "127.0.0.1", 8501)
    with pytest.raises(TinyPdmError, match="no store configured"):
        DashboardConfig.from_env({})
    with pytest.raises(TinyPdmError, match="refresh_s"):
        DashboardConfig.from_env({ENV_STORE: "sqlite:///x.db", "TINYPDM_DASHBOARD_REFRESH_S": "0"})
    with pytest.raises(ValueError) as info:
        DashboardConfig(store_url="no-scheme-secret")
    assert "store_url" in str(info.value)


@pytest.mark.slow
def test_dashboard_cli_serves_http_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    script = Path(sys.executable).parent / "tinypdm"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "vibration.app.cli"]
    proc = subprocess.Popen(
        [*cmd, "dashboard", "--store", f"sqlite:///{tmp_path}/s.db", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read()
                    break
            except OSError:
                time.sleep(0.2)
        assert b"<html" in body.lower()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out.decode(errors="replace")
    assert f"http://127.0.0.1:{port}" in out.decode()


@pytest.mark.slow
def test_dashboard_cli_sigterm_stops_streamlit_too(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vibration.app.cli", "dashboard", "--store",
         f"sqlite:///{tmp_path}/s.db", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # to tinypdm only, as a service manager would
        proc.wait(timeout=30)
        time.sleep(0.5)
        with pytest.raises(ProcessLookupError):  # nothing of its process group is left
            os.killpg(proc.pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

"""Store passwords stay secret: redacted in every message and JSON, and never needed on a
command line (``--store-password-file`` or ``TINYPDM_INFLUX_PASSWORD``; children get them in
their environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vibration.app.cli import main
from vibration.telemetry.stores import (
    PASSWORD_ENV,
    StoreURLError,
    open_store,
    redact_url,
    store_url_with_password,
)
from vibration.telemetry.stores.influx import parse_influx_url
from vibration.telemetry.stores.influxd_process import InfluxdServer, free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("influxdb://u:hunter2@h:8086/db", "influxdb://u:***@h:8086/db"),
        ("influxdb://u:hun/ter2@h:8086/db", "influxdb://u:***@h:8086/db"),
        ("influxdb://u:hu@n/t:er2@h/db?timeout=1", "influxdb://u:***@h/db?timeout=1"),
        ("sqlite:///data/a@b/x.db", "sqlite:///data/a@b/x.db"),
        ("influxdb://h:8086/db", "influxdb://h:8086/db"),
    ],
    ids=["plain", "slash", "at-colon-slash", "sqlite-at-in-path", "no-credentials"],
)
def test_store_url_redact_hides_passwords_with_reserved_characters(url, shown):
    assert redact_url(url) == shown


def test_store_url_password_with_a_slash_is_accepted_and_never_printed():
    parsed = parse_influx_url("influxdb://u:hun/t@r2@h:8086/db")
    assert (parsed.user, parsed.password, parsed.host) == ("u", "hun/t@r2", "h")
    assert "hun" not in repr(parsed)


def test_cli_bad_influx_url_error_hides_a_password_with_a_slash(capsys):
    assert main(["dashboard", "--store", "influxdb://u:se/cret@127.0.0.1:1/bad.db"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinypdm: error: bad InfluxDB URL")
    assert "cret" not in err[0]


def test_store_url_password_from_file_or_environment():
    url = "influxdb://u@h/db"
    assert store_url_with_password(url, "p/w", environ={}) == "influxdb://u:p%2Fw@h/db"
    assert store_url_with_password(url, environ={PASSWORD_ENV: "e"}) == "influxdb://u:e@h/db"
    assert store_url_with_password("influxdb://h/db", environ={PASSWORD_ENV: "e"}) == (
        "influxdb://h/db"
    )
    with pytest.raises(StoreURLError, match="twice"):
        store_url_with_password("influxdb://u:x@h/db", "y")
    with pytest.raises(StoreURLError, match="needs a user"):
        store_url_with_password("influxdb://h/db", "y")


def test_cli_store_password_file_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "pw"
    empty.write_text("\n")
    for args in (
        ["--store-password-file", str(empty)],
        ["--store-password-file", str(tmp_path / "missing")],
    ):
        rc = main(["monitor", "--port", "loop://", "--store", "influxdb://u@h/db", *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 1 and len(err) == 1 and err[0].startswith("tinypdm: error:"), err


@pytest.fixture
def auth_influxd(tmp_path: Path):
    server = InfluxdServer(tmp_path / "influxd", auth=True, admin=("admin", "s3/cr@t")).start()
    try:
        yield server
    finally:
        server.stop()


def _process_tree_cmdlines(pid: int) -> list[str]:
    """Command lines of ``pid`` and every process in its session."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) != pid:
                continue
            out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            continue
    return out


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "env"])
def test_dashboard_password_stays_off_every_command_line(auth_influxd, tmp_path, how):
    host_url = auth_influxd.host_url.split("://", 1)[1]
    url = f"influxdb://admin@{host_url}/tinypdm"
    open_store(f"influxdb://admin:s3%2Fcr%40t@{host_url}/tinypdm").close()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop(PASSWORD_ENV, None)
    args = ["--store", url]
    if how == "file":
        pw = tmp_path / "pw"
        pw.write_text("s3/cr@t\n")
        args += ["--store-password-file", str(pw)]
    else:
        env[PASSWORD_ENV] = "s3/cr@t"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vibration.app.cli", "dashboard", *args, "--port", str(port)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        served = False
        while time.monotonic() < deadline and proc.poll() is None and not served:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    served = True
            except OSError:
                time.sleep(0.2)
        cmdlines = _process_tree_cmdlines(proc.pid)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert served, out
    assert any("streamlit" in c for c in cmdlines), cmdlines
    assert not [c for c in cmdlines if "s3" in c], cmdlines
    assert "store: 0 sensor(s)" in out  # the password reached the store
    assert "s3" not in out


@pytest.mark.slow
def test_demo_json_store_field_is_redacted(auth_influxd, tmp_path):
    host_url = auth_influxd.host_url.split("://", 1)[1]
    url = f"influxdb://admin:s3%2Fcr%40t@{host_url}/tinypdm"
    proc = subprocess.run(
        [sys.executable, "-m", "vibration.app.cli", "demo", "--quick", "--json", "--no-dashboard",
         "--out", str(tmp_path / "demo"), "--store", url],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert summary["store"] == f"influxdb://admin:***@{host_url}/tinypdm"
    assert "s3" not in proc.stdout and "s3" not in proc.stderr

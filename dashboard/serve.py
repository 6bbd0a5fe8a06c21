"""Run the Streamlit app in a subprocess (what ``tinypdm dashboard`` does)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from vibration.errors import TinyPdmError
from vibration.telemetry.stores import redact_url
from vibration.validation import is_int

from .config import DashboardConfig

__all__ = [
    "APP_PATH",
    "check_port",
    "check_store",
    "describe",
    "is_loopback",
    "serve",
    "streamlit_command",
]

#: The Streamlit entry script.
APP_PATH = Path(__file__).resolve().parent / "streamlit_app.py"


def streamlit_command(*, host: str, port: int) -> list[str]:
    """argv of ``streamlit run`` for the dashboard (no settings that carry secrets)."""
    _check_host_port(host, port)
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.address", host,
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def _check_host_port(host: str, port: int) -> None:
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise ValueError(f"host must be a host name or address, got {host!r}")
    if not is_int(port) or not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port!r}")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the server will: a port in TIME_WAIT is free, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_port(host: str, port: int) -> None:
    """Raise :class:`TinyPdmError` when ``host:port`` cannot be listened on now."""
    _check_host_port(host, port)
    if not _port_free(host, port):
        raise TinyPdmError(f"cannot listen on {host}:{port}: address in use (pick --port)")


def check_store(url: str) -> int:
    """Open the store and list its sensors; returns how many it knows.

    Raises
    ------
    StoreError
        Bad URL, wrong password, unreadable file (the dashboard would only show errors).
    StoreUnavailable
        The server does not answer now (the dashboard may still start and retry).
    """
    from vibration.telemetry.stores import open_store

    store = open_store(url)
    try:
        return len(store.sensors())
    finally:
        store.close()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while serving, so Streamlit is stopped, not orphaned."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(
    config: DashboardConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
) -> int:
    """Serve the dashboard until Ctrl-C or the Streamlit process ends; returns its exit code.

    Parameters
    ----------
    config : DashboardConfig
        Store URL, registry and rules; handed to Streamlit in environment variables.
    host, port : str, int
        Where Streamlit listens (loopback unless told otherwise).

    Raises
    ------
    TinyPdmError
        The port is taken, or the store cannot be used (see :func:`check_store`).
    """
    argv = streamlit_command(host=host, port=port)
    check_port(host, port)
    env = dict(os.environ)
    env.update(config.to_env())
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
    try:
        with _sigterm_as_interrupt():
            return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


def describe(config: DashboardConfig, host: str, port: int) -> str:
    """One line for people: where the dashboard serves which store (password hidden)."""
    shown = f"[{host}]" if ":" in host else host
    return f"dashboard of {redact_url(config.store_url)} on http://{shown}:{port}"

"""Start and stop a private ``influxd`` (InfluxDB 1.x) on loopback.

Tests, benchmarks and CI use this to run the real server from Debian's ``influxdb``
package with its data in a temporary directory, on free ports, never touching a
system-wide instance. Usable from the shell too::

    python -m vibration.telemetry.stores.influxd_process start DIR   # prints influxdb://127.0.0.1:PORT/tinypdm
    python -m vibration.telemetry.stores.influxd_process stop DIR
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from vibration.errors import StoreError

__all__ = ["InfluxdServer", "free_port", "influxd_binary"]

_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {auth}
  log-enabled = false
  max-body-size = 0

[continuous_queries]
  enabled = false
  log-enabled = false
"""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def influxd_binary() -> str | None:
    """Path of the ``influxd`` executable, or None when InfluxDB is not installed."""
    return shutil.which("influxd") or (
        "/usr/bin/influxd" if os.access("/usr/bin/influxd", os.X_OK) else None
    )


class InfluxdServer:
    """One influxd process with its data under ``root``.

    Parameters
    ----------
    root : path
        Directory for the config, data, WAL and log; created if missing.
    auth : bool
        Start with ``auth-enabled = true``. The first admin user is created through
        the HTTP API (``CREATE USER ... WITH ALL PRIVILEGES``) by :meth:`start`.
    http_port : int, optional
        Keep a fixed port (a restart after :meth:`stop` reuses the same one).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        auth: bool = False,
        http_port: int | None = None,
        admin: tuple[str, str] = ("admin", "tinypdm-admin"),
    ) -> None:
        self.root = Path(root)
        self.auth = auth
        self.http_port = http_port or free_port()
        self.rpc_port = free_port()
        self.admin = admin
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def store_url(self, database: str = "tinypdm") -> str:
        """The ``influxdb://`` URL of this server (with admin credentials when auth is on)."""
        cred = f"{self.admin[0]}:{self.admin[1]}@" if self.auth else ""
        return f"influxdb://{cred}127.0.0.1:{self.http_port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> InfluxdServer:
        binary = influxd_binary()
        if binary is None:
            raise StoreError("influxd not found: install Debian's 'influxdb' package")
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "influxdb.conf"
        conf.write_text(
            _CONFIG.format(
                root=self.root.resolve(),
                rpc_port=self.rpc_port,
                http_port=self.http_port,
                auth="true" if self.auth else "false",
            )
        )
        log = (self.root / "influxd.log").open("ab")
        self._proc = subprocess.Popen(
            [binary, "-config", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        (self.root / "influxd.pid").write_text(str(self._proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = (self.root / "influxd.log").read_text(errors="replace")[-2000:]
                raise StoreError(f"influxd exited with code {self._proc.returncode}: {tail}")
            if self._ping():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise StoreError(f"influxd did not answer on {self.host_url} within {timeout} s")
        if self.auth:
            self._create_admin()
        return self

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(self.host_url + "/ping", timeout=1) as resp:
                return bool(resp.status == 204)
        except (OSError, urllib.error.URLError):
            return False

    def _create_admin(self) -> None:
        import urllib.parse

        user, password = self.admin
        q = f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
        data = urllib.parse.urlencode({"q": q}).encode()
        req = urllib.request.Request(self.host_url + "/query", data=data, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5):
                pass
        except urllib.error.HTTPError as exc:
            # Already created on an earlier start of the same data dir.
            if exc.code not in (401, 403):
                raise StoreError(f"could not create influxd admin user: {exc}") from exc

    def stop(self, timeout: float = 15.0) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            (self.root / "influxd.pid").unlink()

    def __enter__(self) -> InfluxdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop_by_pidfile(root: Path) -> None:
    pidfile = root / "influxd.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink()


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(
            "usage: python -m vibration.telemetry.stores.influxd_process start|stop DIR",
            file=sys.stderr,
        )
        return 2
    root = Path(argv[1])
    if argv[0] == "stop":
        _stop_by_pidfile(root)
        return 0
    server = InfluxdServer(root).start()
    server._proc = None  # leave it running: the caller stops it with `stop DIR`
    print(server.store_url())
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

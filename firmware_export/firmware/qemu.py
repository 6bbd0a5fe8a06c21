"""Run a firmware image in ``qemu-system-arm -M mps2-an386`` with its UART on a socket.

QEMU runs with ``-icount shift=0``: one guest instruction advances virtual time by 1 ns,
so the firmware's SysTick readings count instructions (``docs/firmware-qemu.md``).
UART0 is a TCP chardev on loopback that QEMU opens with ``server=on,wait=on``: the guest
does not start before the host connects, so the boot HELLO is never lost. pyserial opens
it as ``socket://127.0.0.1:PORT``; the UART model only takes a byte when the previous one
was read, which gives the link back-pressure.

Example
-------
>>> with QemuSensor("build/fw/sensor.elf") as sensor:          # doctest: +SKIP
...     port = sensor.open_serial(timeout=5)
...     port.write(frame_bytes)
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from firmware_export.errors import ExportError
from vibration.validation import is_integer

__all__ = ["QemuSensor", "qemu_available"]

_QEMU = "qemu-system-arm"


def qemu_available() -> bool:
    """True when ``qemu-system-arm`` is on PATH."""
    return shutil.which(_QEMU) is not None


# QEMU binds port 0 (the kernel picks a free one, no race) and says which one it got:
#   "info: QEMU waiting for connection on: disconnected:tcp:127.0.0.1:39881,server=on"
_LISTENING = re.compile(rb"waiting for connection on: \S*tcp:127\.0\.0\.1:(\d+)")


class QemuSensor:
    """One QEMU process running a firmware ELF, its UART0 on a loopback socket.

    Parameters
    ----------
    elf : path
        The image (``BuildResult.elf``).
    machine : str
        QEMU machine; the board support is written for ``mps2-an386``.
    icount_shift : int
        ``-icount shift=N``: each instruction takes 2**N ns of virtual time. Keep 0 for
        instruction counts.
    startup_timeout : float
        Seconds to wait for QEMU to listen on its UART socket.

    Notes
    -----
    Semihosting is on (``target=native``): the firmware ends the run with
    ``SYS_EXIT_EXTENDED`` and QEMU exits with its status; its console output (QEMU's
    stderr) is in :attr:`console` after the process ended.
    """

    def __init__(
        self,
        elf: str | Path,
        *,
        machine: str = "mps2-an386",
        icount_shift: int = 0,
        startup_timeout: float = 20.0,
    ) -> None:
        self.elf = Path(elf)
        self.machine = machine
        self.icount_shift = icount_shift
        self.startup_timeout = startup_timeout
        self.port_number = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._serial: Any = None
        self._console = ""

    # -- lifecycle -------------------------------------------------------------------
    def command(self, port: int = 0) -> list[str]:
        """The QEMU command line for a UART socket on ``port`` (0: any free port)."""
        return [
            shutil.which(_QEMU) or _QEMU,
            "-M",
            self.machine,
            "-nographic",
            "-monitor",
            "none",
            "-icount",
            f"shift={self.icount_shift}",
            "-semihosting-config",
            "enable=on,target=native",
            "-chardev",
            f"socket,id=uart0,host=127.0.0.1,port={port},server=on,wait=on",
            "-serial",
            "chardev:uart0",
            "-kernel",
            str(self.elf),
        ]

    def start(self) -> QemuSensor:
        """Start QEMU; the guest waits (paused) until :meth:`open_serial` connects.

        Raises
        ------
        ExportError
            No QEMU, no ELF, or QEMU exited before listening.
        ValueError
            Bad ``icount_shift``.
        """
        if self._proc is not None:
            raise ExportError("QemuSensor already started")
        if not is_integer(self.icount_shift) or not 0 <= self.icount_shift <= 10:
            raise ValueError(f"icount_shift must be in 0..10, got {self.icount_shift!r}")
        if shutil.which(_QEMU) is None:
            raise ExportError(f"{_QEMU} not found: install Debian's qemu-system-arm")
        if not self.elf.is_file():
            raise ExportError(f"firmware image {str(self.elf)!r} does not exist")
        with self.elf.open("rb") as f:
            head = f.read(20)
        # ELF magic, 32-bit, little-endian, e_machine 40 (EM_ARM).
        if len(head) < 20 or head[:6] != b"\x7fELF\x01\x01" or head[18:20] != b"\x28\x00":
            raise ExportError(f"{str(self.elf)!r} is not a 32-bit ARM ELF image")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as QEMU)
        # A process group of its own: a Ctrl-C in the terminal reaches tinypdm, which stops
        # the sensor cleanly, instead of killing QEMU under a running exchange.
        self._proc = subprocess.Popen(
            self.command(0),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            process_group=0,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            self._stderr.seek(0)
            match = _LISTENING.search(self._stderr.read())
            if match is not None:
                self.port_number = int(match.group(1))
                return self
            if self._proc.poll() is not None:
                console = "; ".join(ln for ln in self.console.splitlines() if ln.strip())
                self.close()
                raise ExportError(f"QEMU exited at start-up: {console}")
            if time.monotonic() > deadline:
                self.close()
                raise ExportError(f"QEMU did not open its UART within {self.startup_timeout} s")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        """The pyserial URL of UART0 (``socket://127.0.0.1:PORT``)."""
        if self._proc is None:
            raise ExportError("QemuSensor not started")
        return f"socket://127.0.0.1:{self.port_number}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """QEMU's exit status (the firmware's, through semihosting), None while running."""
        return None if self._proc is None else self._proc.poll()

    @property
    def console(self) -> str:
        """QEMU's stderr so far: the semihosting console and QEMU's own messages."""
        if self._stderr is not None:
            self._stderr.seek(0)
            self._console = self._stderr.read().decode("utf-8", "replace")
        return self._console

    def open_serial(self, timeout: float | None = 1.0, **kwargs: Any) -> Any:
        """Connect to UART0 (this releases the guest) and return the open pyserial port.

        Parameters
        ----------
        timeout : float or None
            pyserial read timeout, seconds.
        **kwargs
            Passed to ``serial.serial_for_url``.
        """
        import serial

        if self._serial is not None:
            raise ExportError("the UART of this QEMU is already open")
        port = serial.serial_for_url(self.url, timeout=timeout, do_not_open=True, **kwargs)
        try:
            port.open()
        except serial.SerialException as exc:
            raise ExportError(f"cannot connect to QEMU's UART at {self.url}: {exc}") from exc
        self._serial = port
        return port

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the firmware to exit; return its status.

        Raises
        ------
        ExportError
            Still running after ``timeout`` seconds.
        """
        if self._proc is None:
            raise ExportError("QemuSensor not started")
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise ExportError(f"firmware still running after {timeout} s") from exc

    def close(self) -> None:
        """Close the UART and stop QEMU (SIGTERM, then SIGKILL); safe to call twice."""
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
            self._serial = None
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._stderr is not None:
            _ = self.console
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> QemuSensor:
        if self._proc is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Serial links: opening a port by URL, and the pseudo-terminal a virtual sensor talks on.

:func:`open_port` opens anything pyserial understands (a device path, a pty path, ``loop://``,
``socket://host:port``) and turns every failure into one :class:`~vibration.errors.ProtocolError`
line. :class:`PtyLink` is the other end: a pseudo-terminal in raw mode whose slave is published
as a symlink, written without ever blocking the sensor.

A pty has no baud rate; it moves bytes as fast as both sides go. The kernel buffers about
4 KiB in the slave's line discipline plus some more in flip buffers (16-20 KiB in all on
Linux): when nobody reads, writes fail with ``EAGAIN``, like a UART shouting into a cable with
nobody on the other end.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import struct
import termios
import time
import tty
from pathlib import Path
from types import TracebackType

import serial

from vibration.errors import ProtocolError
from vibration.validation import is_int

__all__ = ["DEFAULT_BAUD", "PtyLink", "open_port"]

DEFAULT_BAUD = 921600


def open_port(
    url: str, *, baudrate: int = DEFAULT_BAUD, timeout: float = 0.05
) -> serial.SerialBase:
    """Open a serial port by path or pyserial URL.

    Parameters
    ----------
    url : str
        ``/dev/ttyACM0``, a pty path or symlink, ``loop://``, ``socket://host:port``, ...
    baudrate : int
        Line speed; ignored by ptys, loops and sockets.
    timeout : float
        Read timeout in seconds (how long one ``read`` may wait for its bytes).

    Returns
    -------
    serial.SerialBase
        The open port; the caller closes it.

    Raises
    ------
    ProtocolError
        ``could not open port 'URL': reason``.
    ValueError
        ``baudrate`` or ``timeout`` out of range.
    """
    if not is_int(baudrate) or baudrate <= 0:
        raise ValueError(f"baudrate must be a positive integer, got {baudrate!r}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0, got {timeout!r}")
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, do_not_open=True)
        port.open()
    except (serial.SerialException, ValueError, OSError) as exc:
        raise ProtocolError(f"could not open port {url!r}: {_reason(exc)}") from None
    return port


def _reason(exc: BaseException) -> str:
    """The root cause of a pyserial error, without pyserial's repeated prefix."""
    cause = exc.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, serial.SerialException):
        return exc.strerror
    return str(exc) or type(exc).__name__


class PtyLink:
    """A pseudo-terminal in raw mode, its slave published as a symlink at ``path``.

    The sensor side writes to the master without blocking; readers open ``path`` like a
    serial port. The link knows whether anyone holds the slave open (the master reports a
    hang-up while nobody does), so a sensor can stay quiet, or wait, until a reader comes.

    Parameters
    ----------
    path : path
        Where to create the symlink. An existing symlink there is replaced (a stale one
        left by a killed simulator, typically); any other existing file is refused.

    Raises
    ------
    ProtocolError
        ``path`` exists and is not a symlink, or the symlink cannot be made.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_symlink():
            raise ProtocolError(
                f"refusing to replace {str(self.path)!r}: it exists and is not a symlink"
            )
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # no echo, no CR/LF translation, no signals: bytes pass as-is
            self.slave_name = os.ttyname(slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # we hold only the master: the hang-up flag then tracks readers
        os.set_blocking(master, False)
        self._master: int | None = master
        self._poll = select.poll()
        self._poll.register(master, select.POLLIN | select.POLLOUT)
        try:
            self._publish()
        except BaseException:
            self._close_master()
            raise

    def _publish(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(self.slave_name, tmp)
            if self.path.exists() and not self.path.is_symlink():  # appeared meanwhile
                tmp.unlink()
                raise ProtocolError(
                    f"refusing to replace {str(self.path)!r}: it exists and is not a symlink"
                )
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ProtocolError(f"cannot create link {str(self.path)!r}: {exc}") from None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._master is None

    def _fd(self) -> int:
        if self._master is None:
            raise ProtocolError(f"link {str(self.path)!r} is closed")
        return self._master

    def has_reader(self) -> bool:
        """Whether some process holds the slave open now."""
        events = self._poll.poll(0)
        return not any(ev & select.POLLHUP for _, ev in events)

    def write(self, data: bytes | memoryview) -> int:
        """Write what the kernel takes now, never blocking.

        Returns
        -------
        int
            Bytes written, 0 when the buffer is full (``EAGAIN``) or nobody reads.
        """
        fd = self._fd()
        if not data:
            return 0
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EAGAIN):
                return 0
            raise

    def discard_input(self) -> int:
        """Read and drop what the reader sent to the sensor (so its buffer never fills).

        Returns
        -------
        int
            Bytes discarded.
        """
        fd = self._fd()
        total = 0
        while True:
            try:
                chunk = os.read(fd, 65536)
            except (BlockingIOError, OSError):
                return total
            if not chunk:
                return total
            total += len(chunk)

    def queued(self) -> int:
        """Bytes waiting in the slave's input queue (line discipline only), -1 if unknown."""
        try:
            fd = os.open(self.slave_name, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return -1
        try:
            raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
            return int(struct.unpack("i", raw)[0])
        except OSError:
            return -1
        finally:
            os.close(fd)

    def wait_drained(self, timeout: float, *, settle: float = 0.05) -> bool:
        """Wait until the reader has taken every byte written, or ``timeout`` seconds.

        Closing the master discards bytes still queued for the reader, so a sensor that
        stops calls this first. Returns at once (False) when nobody reads.

        Returns
        -------
        bool
            True when the queue stayed empty for ``settle`` seconds with a reader attached.
        """
        deadline = time.monotonic() + timeout
        empty_since: float | None = None
        while True:
            now = time.monotonic()
            if not self.has_reader():
                return False
            if self.queued() == 0:
                empty_since = now if empty_since is None else empty_since
                if now - empty_since >= settle:
                    return True
            else:
                empty_since = None
            if now >= deadline:
                return False
            time.sleep(0.005)

    def _close_master(self) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                self._poll.unregister(self._master)
            os.close(self._master)
            self._master = None

    def close(self) -> None:
        """Remove the symlink (if it is still ours) and close the pty. Idempotent."""
        if self._master is None:
            return
        with contextlib.suppress(OSError):
            if self.path.is_symlink() and os.readlink(self.path) == self.slave_name:
                self.path.unlink()
        self._close_master()

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PtyLink({str(self.path)!r} -> {self.slave_name!r})"

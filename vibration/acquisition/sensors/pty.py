"""Run a virtual sensor on a pty it publishes, for as long as asked."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from vibration.acquisition.sensors.pump import SensorReport
from vibration.acquisition.sensors.wire import VirtualSensor
from vibration.acquisition.serial_link import PtyLink

__all__ = ["run_on_pty"]


def run_on_pty(
    link_path: str | Path,
    sensor: VirtualSensor,
    *,
    seconds: float | None = None,
    stop_event: threading.Event | None = None,
    wait_reader: float | None = None,
    drain_timeout: float = 2.0,
    on_start: Callable[[PtyLink], None] | None = None,
    on_progress: Callable[[SensorReport], None] | None = None,
) -> SensorReport:
    """Publish a pty at ``link_path``, stream ``sensor`` on it, remove it at the end.

    Parameters
    ----------
    link_path : path
        Symlink to create (see :class:`~vibration.acquisition.serial_link.PtyLink`).
    sensor : VirtualSensor
    seconds, stop_event, wait_reader, drain_timeout, on_progress
        As :meth:`VirtualSensor.run`.
    on_start : callable, optional
        Called with the link once it exists (before any reader can be waited for).

    Returns
    -------
    SensorReport
        With ``extra["link"]`` and ``extra["pty"]``.

    Raises
    ------
    ProtocolError
        The link cannot be created (a regular file is in the way, ...).
    """
    with PtyLink(link_path) as link:
        if on_start is not None:
            on_start(link)
        report = sensor.run(
            link,
            seconds=seconds,
            stop_event=stop_event,
            wait_reader=wait_reader,
            drain_timeout=drain_timeout,
            on_progress=on_progress,
        )
        report.extra.update(link=str(link.path), pty=link.slave_name)
        return report

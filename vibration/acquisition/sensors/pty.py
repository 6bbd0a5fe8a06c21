"""Run a virtual sensor on a pty it publishes, for as long as asked."""

from __future__ import annotations

from pathlib import Path

from vibration.acquisition.sensors.pump import RunOptions, SensorReport
from vibration.acquisition.sensors.wire import VirtualSensor
from vibration.acquisition.serial_link import PtyLink

__all__ = ["run_on_pty"]


def run_on_pty(
    link_path: str | Path,
    sensor: VirtualSensor,
    options: RunOptions | None = None,
) -> SensorReport:
    """Publish a pty at ``link_path``, stream ``sensor`` on it, remove it at the end.

    Parameters
    ----------
    link_path : path
        Symlink to create (see :class:`~vibration.acquisition.serial_link.PtyLink`).
    sensor : VirtualSensor
    options : RunOptions, optional
        As :meth:`VirtualSensor.run`; ``on_start`` is called with the link once it exists
        (before any reader can be waited for).

    Returns
    -------
    SensorReport
        With ``extra["link"]`` and ``extra["pty"]``.

    Raises
    ------
    ProtocolError
        The link cannot be created (a regular file is in the way, ...).
    """
    opts = options if options is not None else RunOptions()
    with PtyLink(link_path) as link:
        if opts.on_start is not None:
            opts.on_start(link)
        report = sensor.run(link, opts)
        report.extra.update(link=str(link.path), pty=link.slave_name)
        return report

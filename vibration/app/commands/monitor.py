"""``tinypdm monitor``: the gateway, from serial ports to the score store.

Parses arguments, shows a live status line on stderr and calls
:func:`vibration.telemetry.gateway.run_gateway`; everything else lives in
:mod:`vibration.telemetry.gateway`.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from vibration.telemetry.gateway import GatewayConfig, GatewayStatus, format_status, run_gateway

__all__ = ["monitor"]

_PLAIN_STATUS_EVERY_S = 10.0


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM stop the gateway cleanly (it commits, drains and reports)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@click.command("monitor")
@click.option(
    "--port",
    "ports",
    multiple=True,
    required=True,
    metavar="URL",
    help="Serial port: /dev/ttyACM0, a pty path, socket://host:port ... (repeatable).",
)
@click.option(
    "--store",
    "store_url",
    default="sqlite:tinypdm-scores.db",
    show_default=True,
    metavar="URL",
    help="sqlite:///path.db or influxdb://[user:pw@]host:port/db.",
)
@click.option("--asset", default="default", show_default=True, help="Asset tag of these sensors.")
@click.option(
    "--baud",
    type=click.IntRange(min=300),
    default=921600,
    show_default=True,
    help="Line speed of real UARTs (ptys and sockets ignore it).",
)
@click.option(
    "--mode",
    type=click.Choice(["auto", "binary", "ascii"]),
    default="auto",
    show_default=True,
    help="Stream type of the sensors; auto detects it per connection (boot text that "
    "precedes binary frames is skipped and counted).",
)
@click.option(
    "--bundle",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Firmware bundle: score raw-sample streams on the host (shadow mode).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds (default: until Ctrl-C / SIGTERM).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's counters as JSON.")
@click.option(
    "--spool",
    "spool_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Spool directory (default: one per store under ~/.local/state/tinypdm).",
)
@click.option(
    "--spool-max-mb",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Spool size cap; beyond it points are refused and counted lost.",
)
@click.option(
    "--batch-interval",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds between batches written to the store.",
)
def monitor(
    ports: tuple[str, ...],
    store_url: str,
    asset: str,
    baud: int,
    mode: str,
    bundle: Path | None,
    seconds: float | None,
    as_json: bool,
    spool_dir: Path | None,
    spool_max_mb: int,
    batch_interval: float,
) -> None:
    """Read sensors on serial ports and write their scores to a store.

    \b
    Points go through a durable spool: an unreachable store delays them, it never loses
    them. A port that disappears is reopened as soon as it is back.
    """
    from rich.console import Console
    from rich.logging import RichHandler

    try:
        config = GatewayConfig(
            ports=ports,
            store_url=store_url,
            asset=asset,
            baudrate=baud,
            mode=None if mode == "auto" else mode,
            spool_dir=str(spool_dir) if spool_dir is not None else None,
            spool_max_bytes=spool_max_mb * 2**20,
            batch_interval_s=batch_interval,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    shadow = None
    if bundle is not None:
        from firmware_export.runtime.shadow import load_shadow_factory

        shadow = load_shadow_factory(bundle)

    console = Console(stderr=True)
    logger = logging.getLogger("tinypdm")
    handler = RichHandler(console=console, show_path=False, show_time=False)
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stop = threading.Event()
    last_plain = [0.0]

    with _stop_on_signals(stop):
        if console.is_terminal:
            status = console.status("starting ...")
            status.start()

            def show(s: GatewayStatus) -> None:
                status.update(format_status(s))

            try:
                report = run_gateway(
                    config, seconds, stop_event=stop, on_status=show, shadow=shadow
                )
            finally:
                status.stop()
                logger.removeHandler(handler)
        else:

            def show(s: GatewayStatus) -> None:
                now = time.monotonic()
                if now - last_plain[0] >= _PLAIN_STATUS_EVERY_S:
                    last_plain[0] = now
                    console.print(format_status(s), highlight=False, soft_wrap=True)

            try:
                report = run_gateway(
                    config, seconds, stop_event=stop, on_status=show, shadow=shadow
                )
            finally:
                logger.removeHandler(handler)

    summary = (
        f"{report.scores} scores from {len(report.links)} port(s) in {report.seconds:.1f} s; "
        f"{report.points_written} points written, {report.spooled} spooled, "
        f"{report.spool_pending} still in the spool, {report.lost} lost"
    )
    console.print(summary, highlight=False, soft_wrap=True)
    for link in report.links:
        if link.line_errors or link.skipped_bytes:
            console.print(
                f"{link.sensor or link.port}: not understood: {link.line_errors} text line(s), "
                f"{link.skipped_bytes} byte(s) of boot text skipped (mode {link.mode or '?'})",
                highlight=False,
                soft_wrap=True,
            )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))

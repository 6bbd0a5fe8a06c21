"""``tinypdm dashboard``: parse options, check the store, serve the Streamlit app."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.config import DEFAULT_REFRESH_S, DashboardConfig
from dashboard.serve import check_port, check_store, describe, is_loopback, serve
from dashboard.state import StateRules
from vibration.app.commands.store_options import resolve_store_url, store_password_file_option
from vibration.errors import StoreUnavailable

__all__ = ["dashboard"]

_RULES = StateRules()  # the defaults of the state rules, in one place


@click.command()
@click.option(
    "--store",
    "store_url",
    required=True,
    metavar="URL",
    help="Score store: sqlite:///path.db or influxdb://[user:pw@]host:port/db.",
)
@store_password_file_option
@click.option(
    "--port", default=8501, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface; anyone who reaches it can "
    "acknowledge alarms).",
)
@click.option(
    "--models",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of model directories and bundles (the registry).",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=1),
    default=DEFAULT_REFRESH_S,
    show_default=True,
    help="Fleet auto-refresh period, seconds.",
)
@click.option(
    "--expected-interval",
    type=click.FloatRange(min=0.001),
    default=_RULES.expected_interval_s,
    show_default=True,
    help="Seconds between messages of a healthy sensor.",
)
@click.option(
    "--offline-factor",
    type=click.FloatRange(min=1),
    default=_RULES.offline_factor,
    show_default=True,
    help="A sensor is offline after this many expected intervals of silence.",
)
def dashboard(
    store_url: str,
    port: int,
    host: str,
    models: Path | None,
    refresh: float,
    expected_interval: float,
    offline_factor: float,
    store_password_file: Path | None,
) -> None:
    """Serve the Streamlit dashboard (fleet, sensor timelines, alarms, models)."""
    from rich.console import Console

    from vibration.app.extras import require_extra

    require_extra("streamlit", "pandas")

    console = Console(stderr=True)
    # The password travels to the Streamlit child in its environment, never in its argv.
    store_url = resolve_store_url(store_url, store_password_file)
    try:
        config = DashboardConfig(
            store_url=store_url,
            models_dir=models.resolve() if models is not None else None,
            refresh_s=refresh,
            rules=StateRules(expected_interval_s=expected_interval, offline_factor=offline_factor),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    check_port(host, port)
    try:
        n = check_store(config.store_url)
        console.print(f"store: {n} sensor(s)")
    except StoreUnavailable as exc:
        console.print(f"[yellow]warning:[/] store not reachable now ({exc}); the pages retry")
    if not is_loopback(host):
        console.print(f"[yellow]warning:[/] listening on {host}: reachable from the network")
    console.print(f"serving {describe(config, host, port)} (Ctrl-C stops)")
    rc = serve(config, host=host, port=port)
    if rc not in (0, -2, -15):
        raise click.ClickException(f"streamlit exited with code {rc}")

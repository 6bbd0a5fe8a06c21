"""``tinypdm demo``: the whole loop end to end (:mod:`vibration.app.demo` does the work)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import click

from vibration.app.commands.simulate import stop_on_signals
from vibration.app.commands.store_options import resolve_store_url, store_password_file_option

__all__ = ["demo"]

_STAGES = {
    "dataset": "1/4 capture healthy sensors",
    "model": "2/4 train and evaluate",
    "bundle": "3/4 export int8 firmware",
    "fleet": "4/4 fleet -> gateway -> store",
}


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Output directory (default: demo-out/<UTC time>). Must not hold an earlier demo.",
)
@click.option("--quick", is_flag=True, help="Short mode (about a minute), no dashboard.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Score store for the fleet (default: sqlite:///<out>/scores.db), "
    "e.g. influxdb://127.0.0.1:8086/tinypdm.",
)
@store_password_file_option
@click.option(
    "--engine",
    type=click.Choice(["auto", "qemu", "host"]),
    default="auto",
    show_default=True,
    help="How fleet sensors score: auto runs pump-1 and pump-2 as the Cortex-M4 firmware "
    "in QEMU (where installed) and the others as the same C on the host; qemu or host: all.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--no-dashboard", is_flag=True, help="Do not serve the dashboard at the end.")
@click.option("--capture-seconds", type=click.FloatRange(min=1), default=None)
@click.option("--fleet-seconds", type=click.FloatRange(min=5), default=None)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def demo(
    out: Path | None,
    quick: bool,
    as_json: bool,
    store_url: str | None,
    engine: str,
    port: int,
    no_dashboard: bool,
    capture_seconds: float | None,
    fleet_seconds: float | None,
    seed: int,
    store_password_file: Path | None,
) -> None:
    """Run the whole loop on built-in defaults.

    \b
    1. virtual sensors stream healthy vibration over ptys; capture records them;
    2. the autoencoder trains on them and is evaluated on simulated faults;
    3. it is exported to an int8 firmware bundle and the parity ladder runs;
    4. a fleet of sensors scores on board (QEMU Cortex-M4 firmware where installed)
       while pump-1 develops an outer-race fault; the gateway stores the scores;
    5. the dashboard serves the store (not with --quick or --no-dashboard).

    Ctrl-C stops cleanly at any point: finished stages stay usable.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vibration.app.demo import DemoConfig, run_demo

    console = Console(stderr=True)
    if store_url is not None:
        store_url = resolve_store_url(store_url, store_password_file)
    elif store_password_file is not None:
        raise click.UsageError("--store-password-file needs --store")
    if out is None:
        out = Path("demo-out") / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        cfg = DemoConfig(
            out=out,
            quick=quick,
            store_url=store_url,
            engine=engine,
            seed=seed,
            capture_seconds=capture_seconds,
            fleet_seconds=fleet_seconds,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    stop = threading.Event()
    progress = Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks = {name: progress.add_task(text, total=None, note="") for name, text in _STAGES.items()}

    def tick(stage: str, done: float, total: float, note: str) -> None:
        fields: dict[str, Any] = {"note": note}
        if total > 0:
            fields["total"] = total
        progress.update(tasks[stage], completed=done, **fields)

    with stop_on_signals(stop), progress:
        summary = run_demo(cfg, stop=stop, tick=tick)
    _report(console, summary)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    if stop.is_set():
        console.print("interrupted: the fleet stopped early; everything above is complete")
        raise SystemExit(130)
    if quick or no_dashboard:
        return
    from dashboard.config import DashboardConfig
    from dashboard.serve import serve

    config = DashboardConfig(store_url=cfg.store, models_dir=cfg.out)
    console.print(
        f"[bold]dashboard[/]: http://127.0.0.1:{port}  (fleet state, pump-1's alarm; "
        f"Ctrl-C to stop)\n           pump-1's timeline: "
        f"http://127.0.0.1:{port}/sensor?sensor=pump-1&range=1h",
        highlight=False,
    )
    serve(config, host="127.0.0.1", port=port)


def _report(console: Any, s: dict[str, Any]) -> None:
    ds, model, bundle, fleet = s["dataset"], s["model"], s["bundle"], s["fleet"]
    sizes = bundle.get("sizes") or {}
    lines = [
        f"dataset: {len(ds['recordings'])} recordings, {ds['total_samples']} samples "
        f"in {ds['path']}",
        f"model:   threshold {model['threshold']:.4g}, {model['parameters']} parameters; "
        "detection by fault/severity: "
        + ", ".join(f"{k} {v:.0%}" for k, v in model["detection"].items() if k != "healthy-unseen"),
        f"         false alarms on unseen healthy data: {model['false_alarm_rate']:.1%}",
        f"bundle:  parity {'passed' if bundle['parity_passed'] else 'FAILED'}; "
        + (
            f"Cortex-M4 flash {sizes.get('flash_bytes')} B, RAM {sizes.get('ram_bytes')} B, "
            f"{bundle.get('instructions_per_window')} instructions/window"
            if sizes.get("flash_bytes")
            else "Cortex-M4 figures not measured (no arm-none-eabi-gcc / qemu-system-arm)"
        ),
        "fleet:   "
        + ", ".join(f"{k} on {v['engine']}" for k, v in sorted(fleet["sensors"].items()))
        + f"; {s['points_stored']} scores stored in "
        f"{fleet['store']}; alarms: " + ", ".join(f"{k} {v}" for k, v in s["alarms"].items()),
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False)

"""``tinypdm train``: fit the autoencoder on normal recordings into a model directory.

:func:`train_model` does the work (tests call it); the click command parses arguments,
shows a progress bar per epoch on stderr and prints the summary.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from vibration.learning.training import MIN_TRAIN_WINDOWS, train_model

__all__ = ["MIN_TRAIN_WINDOWS", "train", "train_model"]


@click.command(name="train")
@click.argument("datasets", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "-o", required=True, type=click.Path(), help="Model directory to write.")
@click.option("--label", default="normal", show_default=True, help="Label of the normal data.")
@click.option("--epochs", type=click.IntRange(min=1), help="Training epochs.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--from",
    "from_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Fine-tune this model directory on the new normal data.",
)
@click.option(
    "--rpm-range",
    metavar="LO:HI",
    help=(
        "The machine's speed range in rpm (nameplate), searched by the tachless speed "
        "estimator; default 300:3600. The model learns the speeds it saw (its operating "
        "envelope) and reports windows outside them as 'unknown operating point'."
    ),
)
@click.option(
    "--no-speed",
    is_flag=True,
    help="Train a speed-unaware model (no estimator, no operating envelope).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
def train(
    datasets: tuple[str, ...],
    out: str,
    label: str,
    epochs: int | None,
    seed: int,
    from_dir: str | None,
    rpm_range: str | None,
    no_speed: bool,
    as_json: bool,
) -> None:
    """Train the autoencoder on the recordings labelled LABEL in DATASETS.

    Record healthy data at every operating point the machine runs at (speeds, loads):
    the model learns how its normal vibration moves with speed, and calls windows at
    speeds it never saw "unknown operating point" rather than raising alarms. To teach it
    a new operating point, record healthy data there and retrain with --from.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    progress = Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    task: list[Any] = []

    def on_start(n_epochs: int, summary: Mapping[str, Any]) -> None:
        ignored = Counter(str(r["label"]) for r in summary["ignored"])
        if ignored:
            listing = ", ".join(f"{k}: {v}" for k, v in sorted(ignored.items()))
            n_ignored = sum(ignored.values())
            err.print(
                f"ignoring {n_ignored} recording{'s' * (n_ignored != 1)} not labelled "
                f"{label!r} ({listing})",
                highlight=False,
                markup=False,
            )
        for warning in summary.get("warnings", []):
            err.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        n = sum(r["n_windows"] for r in summary["recordings"])
        n_rec = len(summary["recordings"])
        err.print(
            f"training on {n_rec} recording{'s' * (n_rec != 1)}, {n} windows", highlight=False
        )
        progress.start()
        task.append(progress.add_task("train", total=n_epochs, loss="-"))

    def on_epoch(epoch: int, logs: Mapping[str, float]) -> None:
        progress.update(task[0], completed=epoch, loss=f"{logs.get('loss', float('nan')):.4f}")

    speed: Any = "default"
    if no_speed and rpm_range:
        raise click.UsageError("--no-speed and --rpm-range exclude each other")
    if no_speed:
        speed = None
    elif rpm_range:
        speed = _parse_rpm_range(rpm_range)
    try:
        summary = train_model(
            datasets,
            out,
            label=label,
            epochs=epochs,
            seed=seed,
            from_dir=from_dir,
            on_epoch=on_epoch,
            on_start=on_start,
            speed=speed,
        )
    finally:
        progress.stop()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    out_path = Path(summary["model_dir"])
    click.echo(
        f"model: {out_path}\n"
        f"windows: {summary['n_windows_train']} train, {summary['n_windows_held_out']} held out\n"
        f"parameters: {summary['n_parameters']}, epochs: {summary['epochs_run']}, "
        f"loss {summary['final_loss']:.4f}\n"
        f"threshold: {summary['threshold']:.4g} (held-out scores: median "
        f"{summary['held_out_score_median']:.4g}, max {summary['held_out_score_max']:.4g})\n"
        f"time: {summary['timings_s']['total']:.1f} s"
    )
    envelope = summary.get("speed_envelope_rpm")
    if envelope:
        how = "normal follows speed" if summary.get("speed_conditioned") else "one speed"
        click.echo(f"operating envelope: {envelope[0]:.0f}-{envelope[1]:.0f} rpm ({how})")
    else:
        click.echo("operating envelope: none (speed-unaware model)")
    if summary.get("calibration_warning"):
        err.print(f"[yellow]warning:[/] {summary['calibration_warning']}", highlight=False)


def _parse_rpm_range(text: str) -> Any:
    from vibration.learning.speed import SpeedConfig

    try:
        lo, hi = (float(v) for v in text.split(":"))
        return SpeedConfig(rpm_min=lo, rpm_max=hi)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(
            f"expected LO:HI in rpm with 0 < LO < HI, got {text!r} ({exc})",
            param_hint="--rpm-range",
        ) from None

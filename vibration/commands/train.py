"""``tinypdm train``: fit the autoencoder on normal recordings into a model directory.

:func:`train_model` does the work (tests call it); the click command parses arguments,
shows a progress bar per epoch on stderr and prints the summary.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from vibration.errors import ModelError

__all__ = ["MIN_TRAIN_WINDOWS", "train", "train_model"]

MIN_TRAIN_WINDOWS = 8
"""Fewest normal windows :func:`train_model` accepts (a quarter of them set the threshold)."""


def train_model(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    label: str = "normal",
    epochs: int | None = None,
    seed: int = 0,
    from_dir: str | os.PathLike[str] | None = None,
    on_epoch: Callable[[int, Mapping[str, float]], None] | None = None,
    on_start: Callable[[int, Mapping[str, Any]], None] | None = None,
    detector_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train (or fine-tune) a detector on the recordings labelled ``label``.

    Parameters
    ----------
    paths : sequence of path
        Dataset or recording directories. Recordings with another label are ignored.
    out : path
        Model directory to write (replaced if it holds a model).
    label : str
        Label of the normal recordings to learn from.
    epochs : int or None
        Training epochs; None: the detector's default (or the base model's with
        ``from_dir``).
    seed : int
        Seeds weight initialisation, shuffling and training noise.
    from_dir : path or None
        Start from this model directory: keep its feature configuration and
        standardisation, continue training on the new windows and recalibrate the
        threshold on their held-out part (recordings must have its sample rate).
    on_epoch : callable or None
        ``on_epoch(epoch, logs)`` after every epoch.
    on_start : callable or None
        ``on_start(n_epochs, summary_so_far)`` once the windows are ready, before training.
    detector_params : mapping or None
        Other :class:`~vibration.detector.AutoencoderDetector` hyper-parameters (new
        models only).

    Returns
    -------
    dict
        The training summary as saved in ``model.json`` (plus ``model_dir``).

    Raises
    ------
    ModelError
        No usable recording, too few windows, a sample rate that does not match.
    DatasetError
        Unreadable recordings.
    """
    from vibration.detector import AutoencoderDetector
    from vibration.model_dir import load_model_dir, save_model_dir
    from vibration.windows import load_windows, stack_features

    began = time.perf_counter()
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if epochs is not None and (
        isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    ):
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    base = load_model_dir(from_dir) if from_dir is not None else None
    config, windows, skipped = load_windows(
        paths, None if base is None else base.feature_config, label=label
    )
    X = stack_features(windows, config.n_features)
    if X.shape[0] < MIN_TRAIN_WINDOWS:
        raise ModelError(
            f"only {X.shape[0]} windows of {config.window} samples in the recordings labelled "
            f"{label!r}; need at least {MIN_TRAIN_WINDOWS} (record longer)"
        )
    features_s = time.perf_counter() - began
    summary: dict[str, Any] = {
        "label": label,
        "recordings": [
            {"name": w.name, "path": w.path, "sha256": w.sha256, "n_windows": w.n_windows}
            for w in windows
        ],
        "ignored": [{"name": r.name, "label": r.meta.label} for r in skipped],
        "warnings": [
            f"recording {w.name} is a flat signal (every sample the same, e.g. all zeros): "
            "a dead or disconnected sensor? The model learns nothing from it"
            for w in windows
            if w.flat
        ],
        "seed": seed,
        "fine_tuned_from": None,
    }
    if base is None:
        params = {**dict(detector_params or {}), "random_state": seed}
        if epochs is not None:
            params["epochs"] = epochs
        detector = AutoencoderDetector(**params)
        n_epochs = detector.epochs
    else:
        if detector_params:
            raise ValueError("detector_params cannot change a model that is fine-tuned")
        detector = base.detector.set_params(random_state=seed)
        n_epochs = epochs if epochs is not None else detector.epochs
        summary["fine_tuned_from"] = {
            "path": str(base.path),
            "created_at": base.summary.get("created_at"),
            "recordings": base.summary.get("recordings", []),
            "threshold": base.threshold,
        }
    if on_start is not None:
        on_start(n_epochs, summary)
    if base is None:
        detector.fit(X, on_epoch=on_epoch)
    else:
        detector.fine_tune(X, epochs=n_epochs, on_epoch=on_epoch)
    held = detector.held_out_scores_
    summary.update(
        {
            "n_parameters": detector.n_parameters_,
            "epochs_run": detector.n_epochs_,
            "final_loss": detector.history_["loss"][-1],
            "train_score_mean": detector.train_loss_,
            "held_out_score_median": float(np.median(held)),
            "held_out_score_max": float(np.max(held)),
            "threshold": detector.threshold_,
            "timings_s": {
                "features": features_s,
                "fit": detector.fit_seconds_,
                "total": time.perf_counter() - began,
            },
        }
    )
    path = save_model_dir(out, detector, config, summary, features=X)
    saved = json.loads((path / "model.json").read_text("utf-8"))["training"]
    return {**saved, "model_dir": str(path)}


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
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
def train(
    datasets: tuple[str, ...],
    out: str,
    label: str,
    epochs: int | None,
    seed: int,
    from_dir: str | None,
    as_json: bool,
) -> None:
    """Train the autoencoder on the recordings labelled LABEL in DATASETS."""
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
        for warning in summary["warnings"]:
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

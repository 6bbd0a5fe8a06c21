"""``tinypdm evaluate``: score recordings with a model directory and the baselines.

The work is :func:`vibration.learning.evaluation.evaluate_model` and
:func:`vibration.learning.report.write_report`; this module parses arguments and prints.
"""

from __future__ import annotations

import json
from typing import Any

import click

from vibration.app.commands.iso_options import iso_limits, iso_options

__all__ = ["evaluate"]


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _secs(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


@click.command(name="evaluate")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("datasets", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    help="Write report.md and PNG plots into this directory.",
)
@click.option("--no-baselines", is_flag=True, help="Score with the autoencoder only.")
@click.option(
    "--scores",
    "scores_csv",
    type=click.Path(dir_okay=False),
    help="Write one CSV row per window (recording, t_s, score, threshold, over, alarm, "
    "state, speed_rpm, ...) to this file.",
)
@iso_options("the velocity zone of each window in --scores")
def evaluate(
    model_dir: str,
    datasets: tuple[str, ...],
    as_json: bool,
    report_dir: str | None,
    no_baselines: bool,
    scores_csv: str | None,
    iso_group: str | None,
    foundation: str,
) -> None:
    """Score the recordings in DATASETS with the model in MODEL_DIR.

    Per recording: AUC against the normal windows, detection rate at the model's
    threshold, false-alarm rate on normal recordings and alarms under the alarm policy,
    for the autoencoder and every baseline.
    """
    from rich.console import Console

    from vibration.learning.evaluation import evaluate_model
    from vibration.learning.model_dir import load_model_dir

    limits = iso_limits(iso_group, foundation)

    err = Console(stderr=True)
    with err.status("scoring recordings"):
        model = load_model_dir(model_dir, keras=False)
        evaluation = evaluate_model(model, datasets, baselines=not no_baselines, iso_limits=limits)
    if scores_csv is not None:
        from vibration.learning.report import write_scores_csv

        write_scores_csv(evaluation, scores_csv)
        err.print(f"scores: {scores_csv}", highlight=False, markup=False)
    if report_dir is not None:
        from vibration.learning.report import write_report

        with err.status("writing the report"):
            path = write_report(evaluation, report_dir)
        err.print(f"report: {path}", highlight=False, markup=False)
    doc = evaluation.to_dict()
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(
        f"threshold {doc['threshold']:.4g}, alarm policy {doc['alarm_policy']['k']} of "
        f"{doc['alarm_policy']['n']}, AUC reference: {doc['reference']['source']} "
        f"({doc['reference']['n_windows']} windows)"
    )
    width = max([len(r["name"]) for r in doc["recordings"]] + [9])
    click.echo(
        f"{'recording':<{width}}  {'label':<8} {'windows':>7} {'auc':>6} {'detect':>7} "
        f"{'false':>7} {'alarms':>6} {'first':>9} {'lasting':>9}"
    )
    for r in doc["recordings"]:
        click.echo(
            f"{r['name']:<{width}}  {r['label'] or '-':<8} {r['n_windows']:>7} "
            f"{_num(r['auc']):>6} {_pct(r['detection_rate']):>7} "
            f"{_pct(r['false_alarm_rate']):>7} {r['alarms']:>6} "
            f"{_secs(r['first_alarm_s']):>9} {_secs(r['lasting_alarm_s']):>9}"
        )
    click.echo("")
    for name, s in doc["summary"].items():
        click.echo(
            f"{name:<12} false alarms {_pct(s['false_alarm_rate'])} ({s['alarms']} alarms), "
            f"detection min {_pct(s['min_detection_rate'])} mean "
            f"{_pct(s['mean_detection_rate'])}, AUC min {_num(s['min_auc'])}"
        )
    speed = doc["speed_error"]
    if speed is not None and speed["median_abs_rpm"] is not None:
        click.echo(
            f"speed estimate vs metadata: median {speed['median_abs_rpm']:.1f} rpm "
            f"({speed['median_abs_pct']:.2f}%), p95 {speed['p95_abs_rpm']:.1f} rpm "
            f"({speed['p95_abs_pct']:.2f}%) over {speed['n_windows']} windows"
        )

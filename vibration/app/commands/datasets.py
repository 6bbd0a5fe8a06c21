"""``tinypdm datasets``: inspect and check recordings.

``info`` summarises a dataset (table, or ``--json`` from
:func:`vibration.data.dataset.dataset_info`);
``verify`` checks every complete recording against its SHA-256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vibration.errors import DatasetError

__all__ = ["datasets", "print_table"]


def print_table(summary: dict[str, Any], *, title: str) -> None:
    """Print the rows of a dataset summary as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column, justify in (
        ("name", "left"),
        ("label", "left"),
        ("samples", "right"),
        ("rate Hz", "right"),
        ("axes", "right"),
        ("seconds", "right"),
        ("crc err", "right"),
        ("dropped", "right"),
        ("gaps", "right"),
        ("state", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in summary["recordings"]:
        table.add_row(
            r["name"],
            r["label"] if r["label"] is not None else "-",
            str(r["samples"]),
            f"{r['sample_rate']:g}",
            str(r["axes"]),
            f"{r['seconds']:.2f}",
            str(r["crc_errors"]),
            str(r["dropped_frames"]),
            str(r["gaps"]),
            "complete" if r["complete"] else "PARTIAL",
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or captured: never squeeze names into "…"
    console.print(table)
    labels = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(summary["labels"].items()))
    console.print(
        f"{summary['n_recordings']} recordings, {summary['total_samples']} samples, "
        f"{summary['total_seconds']:.1f} s" + (f" ({labels})" if labels else "")
    )


@click.group(name="datasets")
def datasets() -> None:
    """Inspect datasets (directories of recordings)."""


@datasets.command(name="info")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(directory: Path, as_json: bool) -> None:
    """Summarise DIRECTORY (a dataset or one recording)."""
    from vibration.data.dataset import dataset_info

    summary = dataset_info(directory)
    if as_json:
        click.echo(json.dumps(summary, indent=2, allow_nan=False))
    else:
        print_table(summary, title=str(directory))


@datasets.command(name="verify")
@click.argument("directories", nargs=-1, required=True, type=click.Path(path_type=Path))
def verify(directories: tuple[Path, ...]) -> None:
    """Check complete recordings against their SHA-256."""
    from vibration.data.dataset import iter_recordings

    bad, partial, good = [], [], 0
    for rec in iter_recordings(directories):
        if not rec.complete:
            partial.append(rec.name)
            continue
        try:
            rec.verify()
            good += 1
        except DatasetError as exc:
            bad.append(str(exc))
    for line in bad:
        click.echo(f"FAILED {line}", err=True)
    if partial:
        click.echo(f"partial (not checked): {', '.join(partial)}", err=True)
    click.echo(f"{good} recordings ok, {len(bad)} failed, {len(partial)} partial")
    if bad:
        raise DatasetError(f"{len(bad)} recordings fail their checksum")

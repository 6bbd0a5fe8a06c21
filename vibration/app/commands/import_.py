"""``tinypdm import``: turn .mat / CSV / WAV / NPY files and snapshot series (a directory of
FEMTO snapshot CSVs, a FEMTO .npz) into recordings of a dataset.

:func:`vibration.data.importers.import_files` does the work (tests call it); this command parses
arguments, shows a progress bar over the files on stderr and prints what was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["import_"]


@click.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Dataset directory to write into (created if missing).",
)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Sample rate of the recordings, Hz: resample to it, or the rate of files that "
    "carry none (NPY, CSV without time column). CWRU default: 12000.",
)
@click.option("--label", default=None, help="Label for every recording (default: manifest).")
@click.option("--variable", default=None, help=".mat variable, e.g. X097_FE_time or FE.")
@click.option(
    "--manifest",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="CWRU manifest.csv (default: the one beside each file).",
)
@click.option("--axis", type=int, default=None, help="Keep only this column/channel (0-based).")
@click.option("--units", default=None, help="Physical unit (default g; WAV: FS).")
@click.option(
    "--rpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Shaft speed during the recordings (stored as extra.rpm).",
)
@click.option(
    "--load", type=float, default=None, help="Machine load during the recordings (extra.load)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_(
    files: tuple[Path, ...],
    out_dir: Path,
    rate: float | None,
    label: str | None,
    variable: str | None,
    manifest: Path | None,
    axis: int | None,
    units: str | None,
    rpm: float | None,
    load: float | None,
    as_json: bool,
) -> None:
    """Import FILE... as recordings into --out (all or nothing).

    A directory FILE is a snapshot series (FEMTO acc_*.csv files): one recording whose
    snapshots are segments timed by their clocks; so is a FEMTO .npz.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vibration.data.dataset import summarize
    from vibration.data.importers import import_files

    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=len(files))
        recordings = import_files(
            files,
            out_dir,
            rate=rate,
            label=label,
            variable=variable,
            manifest=manifest,
            axis=axis,
            units=units,
            rpm=rpm,
            load=load,
            progress=lambda path: bar.update(task, advance=1, description=path.name),
        )
    summary = {"dataset": str(out_dir), **summarize(recordings)}
    if as_json:
        click.echo(json.dumps(summary, indent=2, allow_nan=False))
        return
    from vibration.app.commands.datasets import print_table

    print_table(summary, title=f"imported into {out_dir}")

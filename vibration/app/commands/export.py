"""``tinypdm export`` and ``tinypdm verify``.

The commands parse arguments, show progress on stderr and print the result; the work is
:func:`firmware_export.exporter.bundle.export_bundle` and
:func:`firmware_export.exporter.bundle.verify_bundle`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from firmware_export.errors import ParityError
from firmware_export.exporter.codegen import TARGETS
from vibration.app.commands.iso_options import iso_options

__all__ = ["export", "verify"]


def _status() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _table(rungs: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="parity ladder")
    for col in ("rung", "check", "result", "figures"):
        table.add_column(col)
    for r in rungs:
        figures = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in r.items()
            if k not in ("rung", "name", "passed")
        )
        table.add_row(str(r["rung"]), r["name"], "passed" if r["passed"] else "FAILED", figures)
    return table


@click.command(name="export")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(), help="Bundle directory to write.")
@click.option(
    "--target",
    type=click.Choice(TARGETS),
    default="cortex-m4",
    show_default=True,
    help="MCU the bundle is for.",
)
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(exists=True),
    help="Dataset or recording for the parity ladder (repeatable).",
)
@click.option("--scale", type=float, help="Default units per LSB of the samples (else 0.001).")
@click.option("--version", "version", help="Model version, <= 15 ASCII chars.")
@click.option("--per-tensor", is_flag=True, help="One weight scale per layer, not per channel.")
@click.option("--no-measure", is_flag=True, help="Skip the Cortex-M4 build and QEMU run.")
@iso_options("the on-device velocity zone")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def export(
    model_dir: str,
    out: str,
    target: str,
    data: tuple[str, ...],
    scale: float | None,
    version: str | None,
    per_tensor: bool,
    no_measure: bool,
    iso_group: str | None,
    foundation: str,
    as_json: bool,
) -> None:
    """Build the int8 firmware bundle of MODEL_DIR into --out (checked, or nothing written)."""
    from firmware_export.exporter.bundle import ExportOptions, export_bundle

    try:
        options = ExportOptions(
            target=target,
            sample_scale=scale,
            version=version,
            per_channel=not per_tensor,
            measure=not no_measure,
            iso_group=None if iso_group is None else int(iso_group),
            foundation=foundation,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    console = _status()
    with console.status("exporting") as status:
        manifest = export_bundle(
            model_dir,
            out,
            data=data,
            options=options,
            progress=lambda msg: status.update(f"export: {msg}"),
        )
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    console.print(_table(manifest["parity"]))
    sizes = manifest["sizes"]
    size = (
        f"{sizes['flash_bytes']} B flash, {sizes['ram_bytes']} B RAM"
        if sizes.get("flash_bytes") is not None and sizes.get("ram_bytes") is not None
        else f"sizes not measured: {sizes.get('reason')}"
    )
    click.echo(
        f"bundle {out}: model {manifest['model']['version']} "
        f"({manifest['model']['sha256'][:12]}), {manifest['target']}, {size}"
    )


@click.command(name="verify")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.argument("datasets", nargs=-1, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the rungs as JSON.")
def verify(bundle: str, datasets: tuple[str, ...], as_json: bool) -> None:
    """Run the parity ladder on BUNDLE (plus DATASETS); exit 1 when a rung fails."""
    from firmware_export.exporter.bundle import verify_bundle

    console = _status()
    with console.status("verifying") as status:
        rungs = verify_bundle(
            bundle, datasets, progress=lambda msg: status.update(f"verify: {msg}")
        )
    rows = [r.to_dict() for r in rungs]
    if as_json:
        click.echo(
            json.dumps(
                {"bundle": bundle, "passed": all(r.passed for r in rungs), "parity": rows}, indent=2
            )
        )
    else:
        console.print(_table(rows))
    failed = [r for r in rungs if not r.passed]
    if failed:
        hint = (
            " (export again with --data covering these windows, so that the int8 ranges do)"
            if failed[0].rung == 2 and datasets
            else ""
        )
        raise ParityError(
            f"parity rung {failed[0].rung} ({failed[0].name}) failed on {bundle}{hint}"
        )
    if not as_json:
        click.echo(f"bundle {bundle}: all {len(rungs)} rungs passed")

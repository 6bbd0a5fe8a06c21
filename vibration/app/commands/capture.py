"""``tinypdm capture``: record a sensor's stream into a dataset.

:func:`vibration.acquisition.capture.capture` does the work (tests call it); this command parses
arguments, opens the port (:func:`vibration.acquisition.serial_link.open_port`), shows progress on
stderr, turns Ctrl-C / SIGTERM into a clean early end (the recording is finished), and
prints the summary.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click

__all__ = ["capture"]


@click.command()
@click.option(
    "--port",
    "url",
    required=True,
    help="Device or pty path, or a pyserial URL (loop://, socket://host:port).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Seconds of samples: records S x rate samples per axis (rate from the HELLO, the "
    "device clock, or the text stream's estimate), samples already queued on the port "
    "included; waits at most 1.1 S + 5 wall seconds for them; ends earlier if the link "
    "closes.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Dataset directory to write into (created if missing).",
)
@click.option("--label", default=None, help="Condition label (normal, inner, outer, ball, ...).")
@click.option(
    "--baud",
    type=click.IntRange(min=1),
    default=921600,
    show_default=True,
    help="Line speed of a real serial port (ptys, loop:// and sockets ignore it).",
)
@click.option("--name", default=None, help="Recording name (default: <sensor id>-<UTC time>).")
@click.option(
    "--sensor-id", default="", help="Sensor id when the stream has no HELLO (text streams)."
)
@click.option(
    "--mode",
    type=click.Choice(["auto", "binary", "ascii"]),
    default="auto",
    show_default=True,
    help="Stream type; auto detects it from the first bytes.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Units per LSB when the stream does not say (integer text streams).",
)
@click.option("--units", default="counts", show_default=True, help="Unit that goes with --scale.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sample rate to use if it cannot be learned from the stream (1 Hz .. 1 MHz).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the recording summary as JSON.")
def capture(
    url: str,
    seconds: float,
    out_dir: Path,
    label: str | None,
    baud: int,
    name: str | None,
    sensor_id: str,
    mode: str,
    scale: float,
    units: str,
    rate: float | None,
    as_json: bool,
) -> None:
    """Record --seconds of a sensor's stream from --port into a recording of --out.

    \b
    Binary frames or text lines (auto-detected). Records S x rate samples (S =
    --seconds), cutting the last frame; lost frames become gaps of exactly the missing
    samples. The recording is made durable every 0.5 s (a killed capture leaves a
    readable <name>.part) and finished atomically. Ctrl-C ends early, keeping it.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vibration.acquisition.capture import CaptureConfig, CaptureProgress
    from vibration.acquisition.capture import capture as run_capture
    from vibration.acquisition.serial_link import open_port
    from vibration.app.commands.simulate import stop_on_signals
    from vibration.data.dataset.validation import SAMPLE_RATE_RANGE

    try:
        config = CaptureConfig(
            out=out_dir,
            name=name,
            label=label,
            sensor_id=sensor_id,
            scale=scale,
            units=units,
            rate=rate,
            mode=None if mode == "auto" else mode,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    config.check_free()  # fail before touching the port
    console = Console(stderr=True)
    port = open_port(url, baudrate=baud)
    stop = threading.Event()
    try:
        with (
            stop_on_signals(stop),
            Progress(
                TextColumn("capturing"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("/ {task.total:.0f} s"),
                TextColumn("{task.description}"),
                console=console,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task("", total=seconds)

            def show(p: CaptureProgress) -> None:
                bar.update(
                    task,
                    completed=min(p.elapsed_s, seconds),
                    description=(
                        f"{p.mode or '?'} {p.rate_sps:,.0f} samples/s, {p.frames} frames, "
                        f"{p.crc_errors} CRC errors, {p.dropped_frames} dropped"
                    ),
                )

            result = run_capture(
                port, seconds, config, source=url, stop_event=stop, on_progress=show
            )
    finally:
        port.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, allow_nan=False))
        return
    console.print(
        f"{result.path}: {result.samples} samples x {result.axes} axes at "
        f"{result.sample_rate:g} Hz ({result.mode}), {result.crc_errors} CRC errors, "
        f"{result.dropped_frames} dropped frames, {result.gaps} gaps; ended: {result.end_reason}",
        highlight=False,
    )
    bad_hellos = result.counters.get("bad_hellos", 0)
    if bad_hellos:
        console.print(
            f"warning: {bad_hellos} HELLO frame(s) with a sample rate outside "
            f"{SAMPLE_RATE_RANGE} (or a bad scale) ignored",
            highlight=False,
        )

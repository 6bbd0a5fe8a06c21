"""``tinypdm simulate``: a virtual sensor on a pseudo-terminal.

:func:`vibration.acquisition.virtual_sensor.run_on_pty` does the work (tests call it); this command
parses arguments, turns Ctrl-C / SIGTERM into a clean stop (symlink removed), shows a status
line on stderr and prints the summary.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vibration.acquisition.virtual_sensor import SampleSource

__all__ = ["simulate", "stop_on_signals"]


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT / SIGTERM inside the block (main thread only; else no-op)."""
    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    except ValueError:  # not the main thread: the caller stops us through the event
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@click.command()
@click.option(
    "--link",
    "link_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Symlink to create to the pty's slave; open it like a serial port.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sample rate, Hz (default 12000). With --replay: resample to it.",
)
@click.option("--axes", type=click.IntRange(1, 8), default=None, help="Axes (default 1).")
@click.option(
    "--rpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Shaft speed (default 1797).",
)
@click.option(
    "--fault",
    type=click.Choice(["none", "inner", "outer", "ball"]),
    default=None,
    help="Bearing defect (default none).",
)
@click.option(
    "--severity",
    type=click.FloatRange(0, 1),
    default=None,
    help="Defect severity 0..1 (default 0.5 with a fault, else 0).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stream this many seconds, then exit (default: until Ctrl-C / SIGTERM).",
)
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Stream a recording directory or a .mat/CSV/WAV/NPY file instead of synthesising.",
)
@click.option("--loop", is_flag=True, help="With --replay: start again at the end.")
@click.option("--sensor-id", default="vsensor-1", show_default=True, help="HELLO device id.")
@click.option(
    "--samples-per-frame",
    type=click.IntRange(1, 1018),
    default=256,
    show_default=True,
    help="Samples per axis in one SAMPLES frame (ASCII: lines per write).",
)
@click.option(
    "--corrupt",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of SAMPLES frames sent with flipped bits (each fails the CRC).",
)
@click.option(
    "--drop",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of SAMPLES frames lost whole on the line.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seeds the signal and the impairments.",
)
@click.option(
    "--ascii",
    "ascii_lines",
    is_flag=True,
    help="Print one text line per sample, like an Arduino sketch (no HELLO).",
)
@click.option(
    "--wait-reader",
    is_flag=True,
    help="Boot (first HELLO, clock at 0) only once a reader has opened the link.",
)
@click.option(
    "--firmware",
    "bundle",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Score on board with this exported bundle: SCORE frames follow the samples.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "qemu", "host"]),
    default="auto",
    show_default=True,
    help="With --firmware: the Cortex-M4 firmware in QEMU, or the bundle's C on the host "
    "(auto: QEMU when installed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON at the end.")
def simulate(
    link_path: Path,
    rate: float | None,
    axes: int | None,
    rpm: float | None,
    fault: str | None,
    severity: float | None,
    seconds: float | None,
    replay: Path | None,
    loop: bool,
    sensor_id: str,
    samples_per_frame: int,
    corrupt: float,
    drop: float,
    seed: int,
    ascii_lines: bool,
    wait_reader: bool,
    bundle: Path | None,
    engine: str,
    as_json: bool,
) -> None:
    """Run a virtual sensor: HELLO and SAMPLES frames on a pty, paced in real time.

    \b
    Impairments apply to SAMPLES frames: --corrupt F flips bits in a fraction F
    (the receiver counts one CRC error each), --drop F loses a fraction F whole.
    A receiver's seq-gap count ("dropped frames") covers both.

    \b
    With --firmware BUNDLE the sensor also scores every window on board, with the
    bundle's int8 pipeline: the real Cortex-M4 firmware run in QEMU (--engine qemu) or
    the same C compiled for this machine (--engine host), and sends SCORE frames.
    """
    from rich.console import Console

    from vibration.acquisition.virtual_sensor import (
        RunOptions,
        VirtualSensor,
        VirtualSensorConfig,
        run_on_pty,
    )

    console = Console(stderr=True)
    try:
        source, what = _source(replay, rate, axes, rpm, fault, severity, seed, loop)
        config = VirtualSensorConfig(
            sensor_id=sensor_id,
            samples_per_frame=samples_per_frame,
            encoding="ascii" if ascii_lines else "binary",
            corrupt=corrupt,
            drop=drop,
            seed=seed,
        )
        sensor = VirtualSensor(config, source)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if bundle is not None and ascii_lines:
        raise click.UsageError("--firmware speaks the binary protocol: drop --ascii")

    def started(link: Any) -> None:
        console.print(
            f"[bold]{sensor_id}[/]: {link.path} -> {link.slave_name}, "
            f"{source.sample_rate:g} Hz x {source.axes} axes, {what}"
            + ("; waiting for a reader" if wait_reader else "")
            + ("" if seconds else "; Ctrl-C to stop"),
            highlight=False,
        )

    stop = threading.Event()
    options = RunOptions(
        seconds=seconds,
        stop_event=stop,
        wait_reader=0.2 if wait_reader else None,
        on_start=started,
    )
    with stop_on_signals(stop):
        if bundle is None:
            report = run_on_pty(link_path, sensor, options)
        else:
            from firmware_export.onboard import run_onboard_sensor

            report = run_onboard_sensor(
                bundle,
                link_path,
                source,
                engine=engine,
                config=config,
                options=options,
            )
    summary = report.as_dict()
    if as_json:
        click.echo(json.dumps(summary, indent=2, allow_nan=False))
        return
    console.print(
        f"sent {report.frames_sent} frames, {report.samples_sent} samples "
        f"({report.frames_corrupted} corrupted, {report.frames_dropped} dropped, "
        f"{report.frames_overflow} overflowed, {report.frames_unheard} unheard) "
        f"in {report.wall_seconds:.1f} s",
        highlight=False,
    )


def _source(
    replay: Path | None,
    rate: float | None,
    axes: int | None,
    rpm: float | None,
    fault: str | None,
    severity: float | None,
    seed: int,
    loop: bool,
) -> tuple[SampleSource, str]:
    """The sample source the options ask for, and a few words describing it."""
    from vibration.acquisition.virtual_sensor import SimulatedSource, load_replay
    from vibration.data.simulator import SimulatorConfig

    if replay is not None:
        given = {"--axes": axes, "--rpm": rpm, "--fault": fault, "--severity": severity}
        clash = [name for name, value in given.items() if value is not None]
        if clash:
            raise click.UsageError(f"--replay streams a recording: drop {', '.join(clash)}")
        source, _ = load_replay(replay, rate=rate, loop=loop)
        return source, f"replay of {replay}"
    if loop:
        raise click.UsageError("--loop applies to --replay only")
    fault = fault or "none"
    if severity is None:
        severity = 0.0 if fault == "none" else 0.5
    sim = SimulatorConfig(
        sample_rate=rate or 12000.0,
        axes=axes or 1,
        rpm=rpm or 1797.0,
        fault=fault,  # type: ignore[arg-type]
        severity=severity,
        seed=seed,
    )
    return SimulatedSource(sim), f"fault {fault}, severity {severity:g}, {sim.rpm:g} rpm"

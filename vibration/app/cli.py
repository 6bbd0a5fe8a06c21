"""The ``tinypdm`` command line.

The CLI only parses arguments, shows progress and calls library functions. Each
subcommand lives in its own module and is imported only when it runs, so that
``tinypdm --help`` stays fast (no TensorFlow, no Streamlit at start-up).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from vibration.app.extras import missing_extra
from vibration.errors import TinyPdmError

# name -> ("module:attribute", one-line help). The module defines a click command.
_COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("vibration.app.commands.simulate:simulate", "Run a virtual sensor on a pty."),
    "capture": (
        "vibration.app.commands.capture:capture",
        "Record a sensor's stream into a dataset.",
    ),
    "import": ("vibration.app.commands.import_:import_", "Import .mat/CSV/WAV/NPY files."),
    "datasets": ("vibration.app.commands.datasets:datasets", "Inspect datasets."),
    "train": ("vibration.app.commands.train:train", "Train the autoencoder on normal data."),
    "evaluate": (
        "vibration.app.commands.evaluate:evaluate",
        "Score recordings, compare baselines.",
    ),
    "export": ("vibration.app.commands.export:export", "Build the int8 firmware bundle."),
    "verify": ("vibration.app.commands.export:verify", "Run the parity ladder on a bundle."),
    "monitor": ("vibration.app.commands.monitor:monitor", "Gateway: sensors to the score store."),
    "dashboard": ("vibration.app.commands.dashboard:dashboard", "Serve the Streamlit dashboard."),
    "demo": ("vibration.app.commands.demo:demo", "The whole loop end to end."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        target, _ = _COMMANDS[cmd_name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return _not_yet(cmd_name)
            raise
        command = getattr(module, attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, helptext) for name, (_, helptext) in _COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_yet(name: str) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def missing(args: Any) -> None:
        raise click.ClickException(f"'{name}' is not available in this build yet")

    return missing


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tinypdm")
def cli() -> None:
    """tinypdm: TinyML predictive maintenance for rotating machines.

    \b
    Technician:      tinypdm simulate / capture / import, then flash the bundle.
    Analyst:         tinypdm train / evaluate / export / verify.
    Plant engineer:  tinypdm monitor / dashboard.
    Everything:      tinypdm demo
    """


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: errors become one line on stderr and exit code 1."""
    try:
        cli.main(args=argv, prog_name="tinypdm", standalone_mode=False)
    except click.exceptions.Abort:
        print("tinypdm: aborted", file=sys.stderr)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except TinyPdmError as exc:
        print(f"tinypdm: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tinypdm: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        extra = missing_extra(exc)
        if extra is None:
            raise
        print(
            f"tinypdm: error: this command needs the '{extra}' extra ({exc.name} is not "
            f"installed): pip install 'tinypdm[{extra}]'",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:
        # Output piped into `head`: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

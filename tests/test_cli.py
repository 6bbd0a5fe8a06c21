from __future__ import annotations

import subprocess
import sys

from vibration.app.cli import _COMMANDS, main


def test_cli_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in _COMMANDS:
        assert name in out


def test_cli_help_does_not_import_heavy_modules():
    code = (
        "import sys; from vibration.app.cli import main; main(['--help']);"
        "heavy = [m for m in ('tensorflow', 'streamlit', 'keras', 'sklearn') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_cli_unknown_command_exits_non_zero(capsys):
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err

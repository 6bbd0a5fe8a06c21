"""Installs sized to the job: the base install runs capture and monitor, and a command
whose extra is missing names the extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO
from vibration.app.extras import EXTRAS


@pytest.mark.parametrize(
    ("argv", "blocked", "extra"),
    [
        (["train", "{tmp}", "--out", "{tmp}/m"], "sklearn", "train"),
        (["dashboard", "--store", "sqlite:///{tmp}/s.db"], "streamlit", "dashboard"),
    ],
    ids=["train-without-sklearn", "dashboard-without-streamlit"],
)
def test_cli_missing_extra_names_the_extra(
    argv: list[str], blocked: str, extra: str, tmp_path: Path
) -> None:
    # A fresh interpreter in which the package cannot be imported: a None entry in
    # sys.modules makes `import NAME` raise ModuleNotFoundError(name=NAME) and find_spec
    # report it missing, exactly what an absent package does.
    child = (
        "import importlib.util, sys\n"
        f"sys.modules[{blocked!r}] = None\n"
        "find_spec = importlib.util.find_spec\n"
        f"importlib.util.find_spec = lambda n, *a: None if n == {blocked!r} else find_spec(n, *a)\n"
        "from vibration.app.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, *(a.format(tmp=tmp_path) for a in argv)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert f"pip install 'tinypdm[{extra}]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_extras_map_names_packages_of_the_declared_extras() -> None:
    text = (REPO / "pyproject.toml").read_text("utf-8")
    for extra in set(EXTRAS.values()):
        assert f"\n{extra} = [" in text


@pytest.mark.slow
def test_base_install_has_no_tensorflow_or_streamlit(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [*pip, "-c", str(REPO / "constraints.txt"), str(REPO)], check=True, env=env, timeout=900
    )
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.lower()
    for heavy in ("tensorflow", "streamlit", "scikit-learn", "keras", "ai-edge-litert"):
        assert f"\n{heavy}==" not in f"\n{listed}"
    tinypdm = str(venv / "bin" / "tinypdm")
    for command in ("capture", "monitor", "import", "simulate"):
        done = subprocess.run([tinypdm, command, "--help"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [tinypdm, "train", str(tmp_path), "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "pip install 'tinypdm[train]'" in done.stderr
    assert "Traceback" not in done.stderr

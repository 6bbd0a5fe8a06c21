"""Ctrl-C during `tinypdm demo` leaves nothing broken: finished stages stay usable, the
stage in progress ends cleanly, and no child process (QEMU, Streamlit) is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vibration.data.dataset import list_recordings
from vibration.telemetry.stores import open_store

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _demo_until(out: Path, ready: Path, timeout: float = 300.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vibration.app.cli", "demo", "--quick", "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"demo ended or hung before {ready.name} appeared: {err[-2000:]}")
        time.sleep(0.1)
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the process group
    return proc


def _qemu_pids() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "qemu-system-arm":
                    pids.add(int(entry.name))
    return pids


def _assert_nothing_left(proc: subprocess.Popen[str], qemu_before: set[int]) -> str:
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # no sensor or Streamlit left running
        os.killpg(proc.pid, 0)
    assert _qemu_pids() <= qemu_before  # QEMU runs in its own group: stopped by tinypdm
    assert proc.returncode == 130, err[-2000:]
    return err


def test_demo_ctrl_c_during_capture_finishes_the_recordings(tmp_path):
    out = tmp_path / "demo"
    qemu_before = _qemu_pids()
    proc = _demo_until(out, out / "links" / "healthy-2")
    try:
        _assert_nothing_left(proc, qemu_before)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    recordings = list_recordings(out / "dataset")
    assert [r.meta.complete for r in recordings] == [True, True]
    assert all(r.samples().shape[0] > 0 for r in recordings)
    assert not (out / "model").exists()  # the next stage never started
    assert not list((out / "dataset").glob("*.part"))


def test_demo_ctrl_c_during_the_fleet_stops_qemu_and_keeps_the_scores(tmp_path):
    out = tmp_path / "demo"
    qemu_before = _qemu_pids()
    proc = _demo_until(out, out / "links" / "pump-1")
    try:
        err = _assert_nothing_left(proc, qemu_before)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert "interrupted" in err
    assert (out / "bundle" / "manifest.json").exists()
    store = open_store(f"sqlite:///{out / 'scores.db'}")
    try:
        assert store.count_scores() >= 0  # readable after the stop
    finally:
        store.close()

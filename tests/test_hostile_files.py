"""Hostile files through the public CLI: random and crafted bytes given to `tinypdm import`,
`datasets info`, `evaluate` and `verify` end in one clear error line (or a valid import),
never a traceback, and a refused import leaves nothing behind."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vibration.app.cli import main

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

SUFFIXES = (".csv", ".txt", ".npy", ".wav", ".mat")


def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


#: Bytes that look like the start of a real file of each format, then random tails.
_PREFIXES = {
    ".csv": st.sampled_from([b"time,x,y\n", b"0.0,1,2\n0.001,", b"x\n1e309\n", b""]),
    ".txt": st.sampled_from([b"1 2 3\n4 5\n", b"nan\n", b"", b"\xff\xfe"]),
    ".npy": st.sampled_from(
        [_npy_header((10**9,), "<f8"), _npy_header((3, 2), "|O"), _npy_header((4,), "<c16"), b""]
    ),
    ".wav": st.sampled_from([b"RIFF\xff\xff\xff\xffWAVEfmt ", b"RIFF\x00\x00\x00\x00WAVE", b""]),
    ".mat": st.sampled_from([b"MATLAB 5.0 MAT-file" + b" " * 97 + b"\x00\x01IM", b""]),
}


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(SUFFIXES))
    body = draw(_PREFIXES[suffix]) + draw(st.binary(max_size=400))
    return suffix, body


def _one_clear_error(rc: int, err: str) -> None:
    assert "Traceback" not in err
    if rc != 0:
        assert rc in (1, 2), err
        assert err.strip(), "a refusal must say why"


@pytest.mark.slow
@SETTINGS
@given(hostile_files())
def test_hostile_import_is_refused_clearly_and_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], case
) -> None:
    suffix, body = case
    root = tmp_path_factory.mktemp("hostile")
    src = root / f"sample{suffix}"
    src.write_bytes(body)
    out = root / "ds"
    rc = main(["import", str(src), "--out", str(out), "--rate", "1000"])
    err = capsys.readouterr().err
    _one_clear_error(rc, err)
    if rc != 0:
        assert len(err.strip().splitlines()) == 1, err
        assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
@SETTINGS
@given(st.binary(max_size=600), st.sampled_from(["meta.json", "model.json", "manifest.json"]))
def test_hostile_documents_are_one_error_line(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], body, name
) -> None:
    root = tmp_path_factory.mktemp("doc")
    (root / name).write_bytes(body)
    command = {
        "meta.json": ["datasets", "info", str(root)],
        "model.json": ["evaluate", str(root), str(root)],
        "manifest.json": ["verify", str(root)],
    }[name]
    rc = main(command)
    err = capsys.readouterr().err
    assert rc == 1
    _one_clear_error(rc, err)
    assert len(err.strip().splitlines()) == 1, err


def test_hostile_import_of_a_valid_file_still_works(tmp_path: Path, capsys) -> None:
    # The fuzzing above must not pass by refusing everything.
    src = tmp_path / "ok.npy"
    np.save(src, np.sin(np.arange(4000) / 7.0))
    assert main(["import", str(src), "--out", str(tmp_path / "ds"), "--rate", "1000"]) == 0
    capsys.readouterr()

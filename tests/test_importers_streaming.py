"""``tinypdm import`` streams CSV and NPY files: peak memory grows by a few blocks whatever
the file size, and the blocks join exactly (time-column checks across block edges)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.bench_import import write_csv, write_npy
from vibration.app.cli import main
from vibration.data.dataset import list_recordings, quantize
from vibration.data.importers import _BLOCK_ROWS, read_signal

REPO = Path(__file__).resolve().parents[1]
MB = 1 << 20
GROWTH_LIMIT_MB = 64  # a few blocks of 65536 rows; the whole file was held before

_CHILD = """
import json, sys
from vibration.app.cli import main
import scipy.signal
def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
before = status_mb("VmRSS")
rc = main(sys.argv[1:])
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across
# fork and exec, so a child of a large pytest process would report the parent's size.
peak = status_mb("VmHWM")
print(json.dumps({"rc": rc, "growth_mb": peak - before}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "size_mb"), [("csv", 48), ("npy", 160)])
def test_import_memory_stays_bounded_whatever_the_file_size(tmp_path, kind, size_mb):
    src = tmp_path / f"big.{kind}"
    rows = (write_csv if kind == "csv" else write_npy)(src, size_mb * MB)
    out = tmp_path / "ds"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "import", str(src), "--rate", "1000", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert result["growth_mb"] < GROWTH_LIMIT_MB, result
    (rec,) = list_recordings(out)
    assert rec.meta.samples == rows and rec.meta.axes == 3


def test_import_stream_equals_the_whole_file_quantised(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(_BLOCK_ROWS + 5000, 2))
    x[_BLOCK_ROWS + 17, 1] = 9.0  # the peak sits in the second block
    src = tmp_path / "x.npy"
    np.save(src, x)
    csv = tmp_path / "x.csv"
    csv.write_text("a;b\n" + "".join(f"{a!r};{b!r}\n" for a, b in x.tolist()))
    for f in (src, csv):
        out = tmp_path / f"ds_{f.suffix[1:]}"
        assert main(["import", str(f), "--rate", "2000", "--out", str(out)]) == 0
        (rec,) = list_recordings(out)
        q, scale = quantize(read_signal(f, rate=2000.0).samples)
        assert rec.meta.scale == scale
        assert np.array_equal(rec.samples(), q)


def test_import_csv_time_column_is_checked_across_block_edges(tmp_path, capsys):
    n = _BLOCK_ROWS + 1000
    t = np.arange(n) / 1000.0
    t[_BLOCK_ROWS:] += 0.0005  # one late sample exactly at the edge of the first block
    src = tmp_path / "t.csv"
    src.write_text("time,a\n" + "".join(f"{v:.7f},{i % 5}\n" for i, v in enumerate(t)))
    assert main(["import", str(src), "--out", str(tmp_path / "ds")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not uniformly sampled" in err[0]
    t[_BLOCK_ROWS:] -= 0.0005
    src.write_text("time,a\n" + "".join(f"{v:.7f},{i % 5}\n" for i, v in enumerate(t)))
    assert main(["import", str(src), "--out", str(tmp_path / "ok")]) == 0
    (rec,) = list_recordings(tmp_path / "ok")
    assert rec.meta.sample_rate == pytest.approx(1000.0) and rec.meta.samples == n

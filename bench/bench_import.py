"""Peak memory of ``tinypdm import`` against file size: CSV and NPY are streamed.

Each file is generated (three axes of seeded noise), then imported by ``import_files`` in a
fresh interpreter that reports its peak RSS (``getrusage``) and its RSS just before the
import (the interpreter with numpy and scipy loaded). The growth, peak minus baseline, must
stay near a few blocks of ``_BLOCK_ROWS`` rows whatever the file size.

    python -m bench.bench_import [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench._table import Row, print_rows

TOPIC = "import"
MB = 1 << 20
#: Goal for the growth of peak RSS during one import (a few blocks), MiB.
GROWTH_GOAL_MB = 64.0
_AXES = 3

_CHILD = """
import json, sys
from pathlib import Path
from vibration.data.importers import import_files
import scipy.signal  # loaded by resampling imports anyway: part of the baseline
def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
before = status_mb("VmRSS")
src, out, rate = sys.argv[1], sys.argv[2], sys.argv[3]
import_files([src], out, rate=float(rate) if rate != "-" else None)
peak = status_mb("VmHWM")  # ru_maxrss would carry the parent's peak across fork + exec
print(json.dumps({"baseline_mb": before, "peak_mb": peak}))
"""


def write_csv(path: Path, size_bytes: int, seed: int = 0) -> int:
    """A CSV of about ``size_bytes`` (header ``a,b,c``, no time column); its row count."""
    rng = np.random.default_rng(seed)
    block = rng.normal(scale=0.5, size=(20_000, _AXES))
    text = "\n".join(",".join(f"{v:.6f}" for v in row) for row in block) + "\n"
    data = text.encode()
    rows = 0
    with open(path, "wb") as fh:
        fh.write(b"a,b,c\n")
        while fh.tell() < size_bytes:
            fh.write(data)
            rows += block.shape[0]
    return rows


def write_npy(path: Path, size_bytes: int, seed: int = 0) -> int:
    """A float64 ``.npy`` of about ``size_bytes``, shape (n, 3), written in blocks."""
    rng = np.random.default_rng(seed)
    n = max(size_bytes // (8 * _AXES), 4096)
    header = {"descr": "<f8", "fortran_order": False, "shape": (n, _AXES)}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        left = n
        while left:
            k = min(left, 1 << 16)
            fh.write(rng.normal(scale=0.5, size=(k, _AXES)).astype("<f8").tobytes())
            left -= k
    return n


def measure(src: Path, out: Path, rate: float | None) -> dict[str, float]:
    """Peak and baseline RSS (MiB) of importing ``src`` in a fresh interpreter."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(src), str(out), "-" if rate is None else str(rate)],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["file_mb"] = src.stat().st_size / MB
    result["growth_mb"] = result["peak_mb"] - result["baseline_mb"]
    return result


def run(quick: bool = False) -> list[Row]:
    sizes = {
        "csv": (8, 64) if quick else (16, 128, 512),
        "npy": (32, 128) if quick else (32, 256, 1024),
    }
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tinypdm-bench-import-") as tmp:
        for kind, mbs in sizes.items():
            for mb in mbs:
                src = Path(tmp) / f"sig_{mb}.{kind}"
                (write_csv if kind == "csv" else write_npy)(src, mb * MB)
                r = measure(src, Path(tmp) / f"ds_{kind}_{mb}", rate=1000.0)
                src.unlink()
                label = f"{kind} {r['file_mb']:.0f} MiB"
                rows.append(Row(TOPIC, f"{label}: peak RSS", r["peak_mb"], "MiB"))
                rows.append(
                    Row(TOPIC, f"{label}: growth over baseline {r['baseline_mb']:.0f} MiB",
                        r["growth_mb"], "MiB", f"<= {GROWTH_GOAL_MB:g}",
                        r["growth_mb"] <= GROWTH_GOAL_MB)
                )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_import")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print_rows(run(quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every benchmark and print one table.

    python -m bench            # everything (several minutes)
    python -m bench --quick    # smaller sizes, for a smoke run
    python -m bench --only decoder,cwru

Each ``bench/bench_<topic>.py`` exposes ``run(quick: bool = False) -> list[Row]``. A
benchmark whose tool is missing (influxd, qemu, ...) reports one row saying so instead of
stopping the others.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback

from bench._table import Row, print_rows

_ORDER = [
    "decoder",
    "capture",
    "cwru",
    "operating_point",
    "firmware",
    "influx",
    "gateway",
    "dashboard",
]


def _topics() -> list[str]:
    import bench

    found = [
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(bench.__path__)
        if m.name.startswith("bench_")
    ]
    return sorted(found, key=lambda t: (_ORDER.index(t) if t in _ORDER else len(_ORDER), t))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument("--only", default="", help="comma-separated topics, e.g. decoder,cwru")
    args = parser.parse_args(argv)
    topics = _topics()
    if args.only:
        wanted = [t.strip() for t in args.only.split(",") if t.strip()]
        unknown = sorted(set(wanted) - set(topics))
        if unknown:
            parser.error(f"unknown topics {unknown}; known: {topics}")
        topics = [t for t in topics if t in wanted]
    rows: list[Row] = []
    failed = False
    for topic in topics:
        start = time.perf_counter()
        print(f"bench: {topic} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.bench_{topic}")
            rows.extend(module.run(quick=args.quick))
        except Exception as exc:  # one broken benchmark must not hide the others
            failed = True
            traceback.print_exc()
            rows.append(Row(topic, "error", f"{type(exc).__name__}: {exc}"[:80]))
        print(f"bench: {topic} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print_rows(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

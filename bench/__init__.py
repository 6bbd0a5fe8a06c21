"""Benchmarks: each ``bench_<topic>.py`` has ``run(quick=False) -> list[Row]``."""

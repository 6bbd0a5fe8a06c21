"""Detection when the machine's operating point changes (UESTC) and early warning on real
wear (FEMTO run-to-failure), through the library functions the CLI uses: ``import_files``
(``tinypdm import``) -> ``train_model`` (``tinypdm train``) -> ``evaluate_model``
(``tinypdm evaluate``). Issue 12's protocols:

(a) UESTC, train on healthy 800 + 1400 rpm (the first 60 % of each speed's healthy data in
    time order: ``N_<rpm>_1..3`` are three consecutive parts); the remaining 40 % at all four
    speeds: share of windows flagged and alarms; every fault file at every speed: detection.
(b) UESTC, train on one speed (each of the four, same 60 % split); healthy data of the other
    speeds: alarms and unknown-operating-point rate; faults at the trained speed: detection.
(c) FEMTO, each bearing (horizontal axis) trained on its first 10 % of life: alarms and share
    flagged between 10 % and 40 % of life, and the lead time of the lasting alarm before the
    end of life.
(d) The same figures for the PCA / IsolationForest / GMM baselines (refitted by evaluate).

    python -m bench.bench_operating_point [--quick]

``--quick``: two speeds in (b), two bearings in (c), 20 training epochs.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench._table import Row, print_rows

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
TOPIC = "op-point"
SPEEDS = (800, 1000, 1200, 1400)
TRAIN_SPEEDS = (800, 1400)
FAULTS = ("B", "I", "O")
BEARINGS = ("1_1", "1_2", "2_1", "2_2", "3_1", "3_2")
QUICK_BEARINGS = ("1_2", "3_1")
TRAIN_SHARE = 0.6  # UESTC: first 60 % of each speed's healthy data
LIFE_TRAIN = 0.1  # FEMTO: first 10 % of life
LIFE_WATCH = (0.1, 0.4)  # FEMTO: where false alarms are counted
QUICK_EPOCHS = 20


def _write_slice(rec: Any, dest: Path, name: str, a: int, b: int, label: str | None) -> None:
    """Samples ``[a, b)`` of a recording (same int16 codes and scale), keeping its gaps and
    segment times inside the slice."""
    from vibration.data.dataset import write_recording

    meta = rec.meta
    segments = rec.segments()
    times = rec.segment_times()
    kept = [(s, t) for (s, _), t in zip(segments, times, strict=True) if a <= s < b]
    extra = dict(meta.extra)
    if "segment_start_s" in extra:
        first = kept[0][1] if kept else 0.0
        extra["segment_start_s"] = [round(t - first, 6) for s, t in kept if s >= a]
    write_recording(
        dest,
        name,
        np.ascontiguousarray(rec.samples()[a:b]),
        sample_rate=meta.sample_rate,
        scale=meta.scale,
        gaps=[s - a for s, _ in kept if s > a],
        label=label,
        units=meta.units,
        source=meta.source,
        extra=extra,
    )


def _uestc_split(uestc: Path, work: Path, speeds: Sequence[int]) -> dict[str, Any]:
    """Import every UESTC file, then cut each speed's healthy parts at 60 % (time order)."""
    from vibration.data.dataset import list_recordings
    from vibration.data.importers import import_files

    files = sorted(uestc.glob("*.mat"))
    import_files(files, work / "imported")
    recs = {r.name: r for r in list_recordings(work / "imported")}
    train: dict[int, Path] = {}
    test: dict[int, Path] = {}
    allhealthy: dict[int, Path] = {}
    for rpm in speeds:
        parts = [recs[f"N_{rpm}_{k}"] for k in (1, 2, 3)]
        total = sum(p.meta.samples for p in parts)
        cut = int(TRAIN_SHARE * total)
        train[rpm], test[rpm] = work / f"train-{rpm}", work / f"test-{rpm}"
        allhealthy[rpm] = work / f"healthy-{rpm}"
        offset = 0
        for p in parts:
            n = p.meta.samples
            _write_slice(p, allhealthy[rpm], p.name, 0, n, "normal")
            lo, hi = max(0, cut - offset), min(n, cut - offset)
            if hi > 0:
                _write_slice(p, train[rpm], f"{p.name}-train", 0, hi, "normal")
            if lo < n:
                _write_slice(p, test[rpm], f"{p.name}-test", lo, n, "normal")
            offset += n
    faults = {rpm: [recs[f"{c}_{rpm}_1"].path for c in FAULTS] for rpm in speeds}
    return {"train": train, "test": test, "healthy": allhealthy, "faults": faults}


def _by(ev: Any, detector: str, keep: Any) -> tuple[float, int, int]:
    """(share of windows over the threshold, alarms, windows) over the kept recordings."""
    from vibration.learning.evaluation import WindowInfo

    over = alarms = n = 0
    for r in ev.recordings:
        if not keep(r):
            continue
        # The operating envelope is the model's; the baselines have none.
        unknown = (r.info or WindowInfo()).unknown(r.windows.n_windows)
        if detector != "autoencoder":
            unknown = np.zeros_like(unknown)
        over += int(np.sum((r.scores[detector] > ev.thresholds[detector]) & ~unknown))
        alarms += int(r.figures[detector]["alarms"])
        n += r.windows.n_windows
    return (over / n if n else float("nan")), alarms, n


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.0f}"


def _unknown_rate(ev: Any, keep: Any) -> float:
    rates = [
        (r.unknown_operating_point_rate, r.windows.n_windows) for r in ev.recordings if keep(r)
    ]
    n = sum(w for _, w in rates)
    return sum(rate * w for rate, w in rates) / n if n else float("nan")


def _rpm(r: Any) -> int:
    return round(float(r.windows.extra.get("rpm", 0)))


def _protocol_a(
    split: dict[str, Any], work: Path, epochs: int | None, speeds: Sequence[int]
) -> list[Row]:
    from vibration.learning.evaluation import evaluate_model
    from vibration.learning.model_dir import load_model_dir
    from vibration.learning.training import train_model

    trained = [s for s in TRAIN_SPEEDS if s in speeds]
    train_model([split["train"][s] for s in trained], work / "model-a", epochs=epochs, seed=0)
    model = load_model_dir(work / "model-a", keras=False)
    paths = [split["test"][s] for s in speeds] + [p for s in speeds for p in split["faults"][s]]
    ev = evaluate_model(model, paths)
    tag = "+".join(str(s) for s in trained)
    rows = []
    for name in ev.detectors:
        for rpm in speeds:
            seen = "seen" if rpm in trained else "unseen"
            share, alarms, n = _by(ev, name, lambda r, rpm=rpm: r.is_normal and _rpm(r) == rpm)
            rows.append(
                Row(TOPIC, f"(a) {name} train {tag}: healthy {rpm} rpm ({seen}, {n} held-out "
                    "windows) flagged / alarms", f"{100 * share:.1f} % / {alarms}")
            )  # fmt: skip
            faulty = [r for r in ev.recordings if not r.is_normal and _rpm(r) == rpm]
            text = ", ".join(
                f"{r.windows.label} {_pct(r.figures[name]['detection_rate'])}"
                + (
                    f" ({100 * r.unknown_operating_point_rate:.0f} % unknown)"
                    if name == "autoencoder" and r.unknown_operating_point_rate
                    else ""
                )
                for r in faulty
            )
            rows.append(
                Row(
                    TOPIC,
                    f"(a) {name} train {tag}: faults {rpm} rpm detection of judged windows "
                    "(unknown operating point: estimator warm-up)",
                    text,
                    "%",
                )
            )
    return rows


def _protocol_b(
    split: dict[str, Any],
    work: Path,
    epochs: int | None,
    speeds: Sequence[int],
    trained: Sequence[int],
) -> list[Row]:
    from vibration.learning.evaluation import evaluate_model
    from vibration.learning.model_dir import load_model_dir
    from vibration.learning.training import train_model

    rows = []
    for rpm in trained:
        out = work / f"model-b-{rpm}"
        train_model([split["train"][rpm]], out, epochs=epochs, seed=0)
        model = load_model_dir(out, keras=False)
        others = [s for s in speeds if s != rpm]
        ev = evaluate_model(model, [split["healthy"][s] for s in others] + split["faults"][rpm])
        for name in ev.detectors:
            share, alarms, n = _by(ev, name, lambda r: r.is_normal)
            unknown = _unknown_rate(ev, lambda r: r.is_normal)
            faults = [
                r.figures[name]["detection_rate"]
                for r in ev.recordings
                if not r.is_normal and r.figures[name]["detection_rate"] is not None
            ]
            rows.append(
                Row(TOPIC, f"(b) {name} train {rpm}: healthy at {'/'.join(map(str, others))} "
                    f"({n} windows) alarms / flagged / unknown op. point",
                    f"{alarms} / {100 * share:.1f} % / {100 * unknown:.1f} %")
            )  # fmt: skip
            rows.append(
                Row(TOPIC, f"(b) {name} train {rpm}: faults at {rpm} rpm, min detection of "
                    "judged windows", 100 * min(faults) if faults else "n/a", "%")
            )  # fmt: skip
    return rows


def _protocol_c(femto: Path, work: Path, epochs: int | None, bearings: Sequence[str]) -> list[Row]:
    from vibration.data.importers import import_files
    from vibration.learning.evaluation import evaluate_model
    from vibration.learning.model_dir import load_model_dir
    from vibration.learning.training import train_model

    rows = []
    for bearing in bearings:
        src = femto / f"Bearing{bearing}.npz"
        if not src.exists():
            rows.append(Row(TOPIC, f"(c) Bearing{bearing}", f"missing at {src}"))
            continue
        (rec,) = import_files([src], work / f"femto-{bearing}", axis=0)  # horizontal
        segments = rec.segments()
        k = max(1, round(LIFE_TRAIN * len(segments)))
        _write_slice(rec, work / f"femto-train-{bearing}", f"Bearing{bearing}-first10", 0,
                     segments[k - 1][1], "normal")  # fmt: skip
        out = work / f"model-c-{bearing}"
        train_model([work / f"femto-train-{bearing}"], out, epochs=epochs, seed=0)
        ev = evaluate_model(load_model_dir(out, keras=False), [rec.path])
        (r,) = ev.recordings
        life = r.duration_s
        lo, hi = LIFE_WATCH[0] * life, LIFE_WATCH[1] * life
        watch = (r.times >= lo) & (r.times < hi)
        for name in ev.detectors:
            fig = r.figures[name]
            over = (r.scores[name] > ev.thresholds[name]) & watch
            onsets = [t for t in fig["alarm_onsets"] if lo <= t < hi]
            lasting = fig["lasting_alarm_s"]
            lead = "none" if lasting is None else f"{(life - lasting) / 60:.1f} min"
            rows.append(
                Row(TOPIC, f"(c) {name} Bearing{bearing} ({life / 3600:.2f} h, {len(segments)} "
                    "snapshots): alarms / flagged in 10-40 % of life; lasting-alarm lead",
                    f"{len(onsets)} / {100 * over.sum() / max(1, watch.sum()):.1f} %; {lead}")
            )  # fmt: skip
    return rows


SIM_RPM = 1797.0  # the simulator's default speed (CWRU-like)
SIM_FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2)


def _protocol_e(work: Path, epochs: int | None, quick: bool) -> list[Row]:
    """(e) Simulator, speed varied +-20 %: train on healthy data at 0.8x and 1.2x the
    nominal speed; test healthy and faults of severity 0.3 at 0.8 .. 1.2x."""
    from vibration.data.simulator import SimulatorConfig, simulate_recording
    from vibration.learning.evaluation import evaluate_model
    from vibration.learning.model_dir import load_model_dir
    from vibration.learning.training import train_model

    seconds = 10.0 if quick else 30.0
    for i, factor in enumerate((0.8, 1.2)):
        cfg = SimulatorConfig(rpm=SIM_RPM * factor, seed=10 + i)
        simulate_recording(work / "sim-train", f"healthy-{factor}", cfg, seconds)
    out = work / "model-e"
    train_model([work / "sim-train"], out, epochs=epochs, seed=0)
    model = load_model_dir(out, keras=False)
    test = work / "sim-test"
    for j, factor in enumerate(SIM_FACTORS):
        rpm = SIM_RPM * factor
        simulate_recording(
            test, f"healthy-{factor}", SimulatorConfig(rpm=rpm, seed=20 + j), seconds / 2
        )
        for fault in ("inner", "outer", "ball"):
            cfg = SimulatorConfig(rpm=rpm, fault=fault, severity=0.3, seed=30 + j)
            simulate_recording(test, f"{fault}-{factor}", cfg, 5.0, label=fault)
    ev = evaluate_model(model, [test])
    rows = []
    for name in ev.detectors:
        for factor in SIM_FACTORS:
            picked = {
                r.windows.name.split("-")[0]: r
                for r in ev.recordings
                if r.windows.name.endswith(f"-{factor}")
            }
            healthy = picked.pop("healthy")
            fig = healthy.figures[name]
            det = ", ".join(
                f"{k} {_pct(r.figures[name]['detection_rate'])}" for k, r in picked.items()
            )
            rows.append(
                Row(TOPIC, f"(e) {name} simulator {factor:.1f}x speed: healthy flagged / alarms; "
                    "faults at severity 0.3 detection",
                    f"{_pct(fig['false_alarm_rate'])} % / {fig['alarms']}; {det}")
            )  # fmt: skip
    return rows


def run(
    quick: bool = False,
    *,
    data_dir: Path = DATA_DIR,
    epochs: int | None = None,
    speeds: Sequence[int] = SPEEDS,
    bearings: Sequence[str] | None = None,
) -> list[Row]:
    """Rows of protocols (a)-(e); ``data_dir`` holds ``uestc/`` and ``femto/``."""
    if epochs is None and quick:
        epochs = QUICK_EPOCHS
    if bearings is None:
        bearings = QUICK_BEARINGS if quick else BEARINGS
    trained_b = [s for s in (TRAIN_SPEEDS if quick else speeds) if s in speeds]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tinypdm-bench-op-") as tmp:
        work = Path(tmp)
        uestc = data_dir / "uestc"
        if not (uestc / f"N_{speeds[0]}_1.mat").exists():
            rows.append(Row(TOPIC, "UESTC data", f"missing at {uestc}"))
        else:
            split = _uestc_split(uestc, work / "uestc", speeds)
            rows += _protocol_a(split, work, epochs, speeds)
            rows += _protocol_b(split, work, epochs, speeds, trained_b)
        rows += _protocol_c(data_dir / "femto", work, epochs, bearings)
        rows += _protocol_e(work, epochs, quick)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_rows(run(quick=parser.parse_args().quick))

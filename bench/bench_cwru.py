"""CWRU and simulator numbers of the autoencoder and the baselines.

CWRU (``../shared/data/cwru``): the normal file resampled 48 kHz -> 12 kHz; train on its
first 60 %, hold out the rest; all 36 fault files as positives. Reported: false alarms on
the held-out normal windows at the shipped threshold and under the alarm policy, detection
rate per fault file, AUC, the same for every baseline, and the training wall time of
``tinypdm train`` in a fresh subprocess (TensorFlow import included).

Simulator: train on 30 s of simulated healthy bearing, then detection rate against fault
severity for each fault type, and the severity where detection passes 90 %.

    python -m bench.bench_cwru [--quick]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench._table import Row, print_rows

CWRU_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cwru"
TOPIC = "cwru"
SEVERITIES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0)
QUICK_SEVERITIES = (0.1, 0.2, 0.3, 0.5)


def _train_subprocess(dataset: Path, out: Path) -> float:
    """Wall time of ``tinypdm train`` in a fresh interpreter, seconds."""
    began = time.perf_counter()
    subprocess.run(
        # The rig's speed range from its motor's nameplate (4-pole, 60 Hz: below the 1800 rpm
        # synchronous speed, above half of it), as a user would give it: the generic
        # 300-3600 rpm search lets the tachless estimator lock onto strong defect tones.
        [
            sys.executable,
            "-m",
            "vibration.app.cli",
            "train",
            str(dataset),
            "--out",
            str(out),
            "--rpm-range",
            "900:1860",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began


def _cwru(work: Path, quick: bool) -> list[Row]:
    from vibration.data.dataset import quantize, write_recording
    from vibration.data.importers import import_files, read_signal
    from vibration.learning.evaluation import AUTOENCODER, evaluate_model
    from vibration.learning.model_dir import load_model_dir

    if not (CWRU_DIR / "manifest.csv").exists():
        return [Row(TOPIC, "CWRU data", f"missing at {CWRU_DIR}")]
    normal = read_signal(CWRU_DIR / "normal_0_97.mat", rate=12000.0).samples[:, 0]
    cut = int(0.6 * normal.size)
    for name, part in (("normal-train", normal[:cut]), ("normal-test", normal[cut:])):
        q, scale = quantize(part)
        write_recording(work / name, name, q, sample_rate=12000.0, scale=scale, label="normal")
    with open(CWRU_DIR / "manifest.csv", newline="") as fh:
        faults = [r["file"] for r in csv.DictReader(fh) if r["condition"] != "Normal"]
    if quick:
        faults = [f for f in faults if "_0_" in f]  # 0 hp only
    import_files([CWRU_DIR / f for f in faults], work / "faults")

    seconds = _train_subprocess(work / "normal-train", work / "model")
    model = load_model_dir(work / "model", keras=False)
    ev = evaluate_model(model, [work / "normal-test", work / "faults"])
    n_params = int(model.detector.n_parameters_)
    with np.load(work / "model" / "weights.npz", allow_pickle=False) as weights:
        # int8 kernels, int32 biases (TFLite's int8 FULLY_CONNECTED)
        int8_bytes = sum(weights[k].size * (1 if k[0] == "k" else 4) for k in weights.files)
    rows = [
        Row(TOPIC, "train wall time (subprocess, TF import incl.)", seconds, "s", "<= 60",
            seconds <= 60),
        Row(TOPIC, "autoencoder parameters", n_params, "", "< 4000", n_params < 4000),
        Row(TOPIC, "int8 weights + int32 biases", int8_bytes, "B", "< 16384",
            int8_bytes < 16384),
        Row(TOPIC, "training windows / held-out (threshold)",
            f"{model.summary['n_windows_train']} / {model.summary['n_windows_held_out']}"),
        Row(TOPIC, "threshold / held-out median score",
            model.threshold / model.summary["held_out_score_median"], "x"),
    ]  # fmt: skip
    summary = ev.summary()
    for name in ev.detectors:
        s = summary[name]
        fault_rates = [r.figures[name]["detection_rate"] for r in ev.recordings if not r.is_normal]
        passing = sum(rate >= 0.99 for rate in fault_rates)
        measured = [
            Row(TOPIC, f"{name}: false alarms, held-out normal ({s['normal_windows']} windows)",
                100 * s["false_alarm_rate"], "%", "<= 1", s["false_alarm_rate"] <= 0.01),
            Row(TOPIC, f"{name}: alarms on held-out normal (k-of-n)", s["alarms"], "", "0",
                s["alarms"] == 0),
            Row(TOPIC, f"{name}: min detection rate over {len(fault_rates)} fault files",
                100 * s["min_detection_rate"], "%", ">= 99", s["min_detection_rate"] >= 0.99),
            Row(TOPIC, f"{name}: fault files detected >= 99 %", f"{passing}/{len(fault_rates)}"),
            Row(TOPIC, f"{name}: min AUC", s["min_auc"], ""),
        ]  # fmt: skip
        if name != AUTOENCODER:  # the goals are the shipped detector's; baselines compare
            measured = [replace(row, goal="", met=None) for row in measured]
        rows += measured
    faults_ae = [r.scores[AUTOENCODER] for r in ev.recordings if not r.is_normal]
    gap = min(float(np.quantile(s, 0.01)) for s in faults_ae) / model.threshold
    rows.append(Row(TOPIC, "min over fault files of 1st-percentile score / threshold", gap, "x"))
    for r in ev.recordings:
        if r.is_normal:
            continue
        rate = r.figures[AUTOENCODER]["detection_rate"]
        rows.append(
            Row(TOPIC, f"detection {r.windows.name}", 100 * rate, "%", ">= 99", rate >= 0.99)
        )
    return rows


def _simulator(work: Path, quick: bool) -> list[Row]:
    from vibration.data.simulator import SimulatorConfig, simulate_recording
    from vibration.learning.evaluation import AUTOENCODER, evaluate_model
    from vibration.learning.model_dir import load_model_dir

    simulate_recording(work / "sim-train", "healthy", SimulatorConfig(seed=1), 30.0)
    _train_subprocess(work / "sim-train", work / "sim-model")
    model = load_model_dir(work / "sim-model", keras=False)
    test = work / "sim-test"
    simulate_recording(test, "healthy", SimulatorConfig(seed=2), 20.0 if quick else 60.0)
    severities = QUICK_SEVERITIES if quick else SEVERITIES
    for fault in ("inner", "outer", "ball"):
        for sev in severities:
            cfg = SimulatorConfig(fault=fault, severity=sev, seed=3)
            simulate_recording(test, f"{fault}-{sev:.2f}", cfg, 5.0)
    ev = evaluate_model(model, [test], baselines=False)
    rates = {r.windows.name: r.figures[AUTOENCODER] for r in ev.recordings}
    healthy = rates.pop("healthy")
    rows = [
        Row("simulator", "false alarms, unseen healthy", 100 * healthy["false_alarm_rate"], "%",
            "<= 1", healthy["false_alarm_rate"] <= 0.01),
        Row("simulator", "alarms, unseen healthy", healthy["alarms"], "", "0",
            healthy["alarms"] == 0),
    ]  # fmt: skip
    for fault in ("inner", "outer", "ball"):
        curve = [(sev, rates[f"{fault}-{sev:.2f}"]["detection_rate"]) for sev in severities]
        rows += [
            Row("simulator", f"{fault} detection at severity {sev:g}", 100 * rate, "%")
            for sev, rate in curve
        ]
        passing = [sev for sev, rate in curve if rate >= 0.9]
        rows.append(
            Row("simulator", f"{fault}: severity where detection passes 90 %",
                f"{passing[0]:g}" if passing else f"> {severities[-1]:g}")
        )  # fmt: skip
    return rows


def run(quick: bool = False) -> list[Row]:
    """CWRU and simulator rows (quick: 0 hp fault files, a coarser severity grid)."""
    with tempfile.TemporaryDirectory(prefix="tinypdm-bench-cwru-") as tmp:
        work = Path(tmp)
        return _cwru(work / "cwru", quick) + _simulator(work / "sim", quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_rows(run(quick=parser.parse_args().quick))

"""Evaluation report: PNG plots (matplotlib, Agg) and a markdown summary.

::

    REPORT_DIR/
      report.md        tables of the figures per recording and per detector
      timeline.png     autoencoder score of every window, recordings side by side, threshold
      histogram.png    score distribution per label, threshold
      roc.png          ROC of every detector: reference normal windows vs all other windows

:func:`write_scores_csv` writes one row per window (``tinypdm evaluate --scores``).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from vibration.learning.evaluation import AUTOENCODER, Evaluation, roc_auc, roc_curve

__all__ = ["SCORE_COLUMNS", "write_report", "write_scores_csv"]

SCORE_COLUMNS = (
    "recording",
    "t_s",
    "score",
    "threshold",
    "over",
    "alarm",
    "state",
    "speed_rpm",
    "health_index",
    "velocity_rms_mm_s",
    "iso_zone",
    "segment",
    "speed_rpm_meta",
)
"""Columns of :func:`write_scores_csv`, in order (the first eight are a contract)."""


def _cell(value: Any) -> str:
    """A CSV cell: empty for None / NaN, ``repr`` precision for floats."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return "" if not math.isfinite(float(value)) else repr(float(value))
    return str(value)


def write_scores_csv(evaluation: Evaluation, path: str | os.PathLike[str]) -> Path:
    """One row per window of every recording, the autoencoder's view (:data:`SCORE_COLUMNS`).

    ``t_s``: seconds from the recording's start to the window's last sample; ``over`` and
    ``alarm``: 0/1; ``state``: ``unknown`` (unknown operating point), ``alarm``, ``over`` or
    ``ok``; ``speed_rpm``: the estimated speed (empty without an estimator);
    ``health_index``: score / threshold; ``velocity_rms_mm_s``, ``iso_zone``: empty until
    a scorer provides them; ``segment``: the window's segment (snapshot) index;
    ``speed_rpm_meta``: the recording's metadata speed.

    Returns
    -------
    Path
        The file written (replaced if it existed).
    """
    out = Path(path)
    threshold = evaluation.thresholds[AUTOENCODER]
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SCORE_COLUMNS)
        for r in evaluation.recordings:
            n = r.windows.n_windows
            scores = r.scores[AUTOENCODER]
            unknown = r.info.unknown(n)
            alarm = r.alarm.get(AUTOENCODER, np.zeros(n, dtype=np.bool_))
            over = (scores > threshold) & ~unknown
            segment = r.windows.segment
            meta = r.speed_rpm_meta
            for i in range(n):
                state = (
                    "unknown"
                    if unknown[i]
                    else "alarm"
                    if alarm[i]
                    else "over"
                    if over[i]
                    else "ok"
                )
                writer.writerow(
                    [
                        r.windows.name,
                        _cell(float(r.times[i])),
                        _cell(float(scores[i])),
                        _cell(threshold),
                        int(over[i]),
                        int(alarm[i]),
                        state,
                        _cell(None if r.info.speed_rpm is None else float(r.info.speed_rpm[i])),
                        _cell(float(scores[i]) / threshold if threshold > 0 else None),
                        _cell(
                            None
                            if r.info.velocity_rms_mm_s is None
                            else float(r.info.velocity_rms_mm_s[i])
                        ),
                        _cell(None if r.info.iso_zone is None else r.info.iso_zone[i]),
                        _cell(None if segment is None else int(segment[i])),
                        _cell(meta),
                    ]
                )
    os.replace(tmp, out)
    return out


_FLOOR = 1e-6  # scores are drawn on a log axis


def write_report(evaluation: Evaluation, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``report.md`` and the plots of an evaluation.

    Parameters
    ----------
    evaluation : Evaluation
    out_dir : path
        Created if missing; files of the same names are replaced.

    Returns
    -------
    Path
        The ``report.md`` written.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    plots = {
        "timeline.png": _timeline,
        "histogram.png": _histogram,
        "roc.png": _roc,
    }
    written = []
    for name, draw in plots.items():
        fig = draw(evaluation)
        if fig is None:
            continue
        fig.savefig(root / name, dpi=110)
        written.append(name)
    report = root / "report.md"
    report.write_text(_markdown(evaluation, written), "utf-8")
    return report


def _figure(width: float, height: float) -> Any:
    """A Figure on the Agg canvas (no pyplot, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _timeline(ev: Evaluation) -> Any:
    import matplotlib

    fig = _figure(11, 4)
    ax = fig.subplots()
    start = 0
    labels = sorted({str(r.windows.label) for r in ev.recordings})
    colours = {lab: matplotlib.colormaps["tab10"](i % 10) for i, lab in enumerate(labels)}
    seen: set[str] = set()
    for r in ev.recordings:
        s = np.maximum(r.scores[AUTOENCODER], _FLOOR)
        x = np.arange(start, start + s.size)
        label = str(r.windows.label)
        ax.plot(x, s, lw=0.7, color=colours[label], label=None if label in seen else label)
        seen.add(label)
        start += s.size
        ax.axvline(start - 0.5, color="0.85", lw=0.5)
    ax.axhline(ev.thresholds[AUTOENCODER], color="crimson", ls="--", lw=1, label="threshold")
    ax.set_yscale("log")
    ax.set_xlabel("window (recordings one after the other)")
    ax.set_ylabel("anomaly score")
    ax.set_title("Autoencoder score per window")
    ax.legend(loc="upper left", fontsize=8, ncols=min(6, len(labels) + 1))
    return fig


def _histogram(ev: Evaluation) -> Any:
    by_label: dict[str, list[np.ndarray]] = {}
    for r in ev.recordings:
        by_label.setdefault(str(r.windows.label), []).append(r.scores[AUTOENCODER])
    scores = {k: np.maximum(np.concatenate(v), _FLOOR) for k, v in by_label.items()}
    scores = {k: v for k, v in scores.items() if v.size}
    if not scores:
        return None
    everything = np.concatenate([*scores.values(), [ev.thresholds[AUTOENCODER]]])
    bins = np.geomspace(everything.min(), everything.max() * 1.01, 60)
    fig = _figure(8, 4)
    ax = fig.subplots()
    for label, s in sorted(scores.items()):
        share = np.full(s.size, 1.0 / s.size)
        ax.hist(s, bins=bins, weights=share, histtype="step", lw=1.2, label=f"{label} ({s.size})")
    ax.axvline(ev.thresholds[AUTOENCODER], color="crimson", ls="--", lw=1, label="threshold")
    ax.set_xscale("log")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("share of the label's windows")
    ax.set_title("Autoencoder score distribution per label")
    ax.legend(fontsize=8)
    return fig


def _roc(ev: Evaluation) -> Any:
    others = [r for r in ev.recordings if not r.is_normal and r.windows.n_windows]
    if not others:
        return None
    fig = _figure(5.5, 5)
    ax = fig.subplots()
    for name in ev.detectors:
        neg = ev.reference_scores[name]
        pos = np.concatenate([r.scores[name] for r in others])
        fpr, tpr = roc_curve(neg, pos)
        ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUC {roc_auc(neg, pos):.3f})")
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.7, ls=":")
    ax.set_xlabel("false-positive rate (reference normal windows)")
    ax.set_ylabel("true-positive rate (other windows)")
    ax.set_title(f"ROC, reference: {ev.reference_source}")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "–"
    if percent:
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _secs(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"


def _markdown(ev: Evaluation, plots: list[str]) -> str:
    doc = ev.to_dict()
    lines = [
        "# tinypdm evaluation",
        "",
        f"Model: `{doc['model']}`  ",
        f"Threshold: {doc['threshold']:.4g}; alarm policy: {ev.alarm_policy.k} of the last "
        f"{ev.alarm_policy.n} windows over the threshold.  ",
        f"AUC reference: {doc['reference']['source']} ({doc['reference']['n_windows']} windows).",
        "",
        "## Recordings (autoencoder)",
        "",
        "| recording | label | windows | AUC | detection | false alarms | alarms | alarms/h |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["recordings"]:
        lines.append(
            f"| {r['name']} | {r['label']} | {r['n_windows']} | {_fmt(r['auc'])} | "
            f"{_fmt(r['detection_rate'], True)} | {_fmt(r['false_alarm_rate'], True)} | "
            f"{r['alarms']} | {_fmt(r['alarms_per_hour'])} |"
        )
    lines += [
        "",
        "## Detectors",
        "",
        "| detector | threshold | normal windows | false alarms | alarms | min detection "
        "| mean detection | min AUC | mean AUC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in doc["summary"].items():
        lines.append(
            f"| {name} | {s['threshold']:.4g} | {s['normal_windows']} | "
            f"{_fmt(s['false_alarm_rate'], True)} | {s['alarms']} | "
            f"{_fmt(s['min_detection_rate'], True)} | {_fmt(s['mean_detection_rate'], True)} | "
            f"{_fmt(s['min_auc'])} | {_fmt(s['mean_auc'])} |"
        )
    lines += [
        "",
        "## Alarms over time (autoencoder)",
        "",
        "Seconds from the recording's start; lasting alarm: the onset of the alarm still "
        "active at the end (lead time = duration - lasting alarm). Chattering: runs of "
        "onsets that are each the third within 60 s.",
        "",
        "| recording | duration | alarms | alarms/h | first alarm | lasting alarm | lead time "
        "| chattering | unknown op. point | speed error median / p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["recordings"]:
        lasting = r["lasting_alarm_s"]
        lead = None if lasting is None else r["duration_s"] - lasting
        err = r["speed_error"]
        speed = (
            "–"
            if err is None or err["median_abs_rpm"] is None
            else f"{err['median_abs_rpm']:.1f} / {err['p95_abs_rpm']:.1f} rpm"
        )
        lines.append(
            f"| {r['name']} | {_secs(r['duration_s'])} | {r['alarms']} | "
            f"{_fmt(r['alarms_per_hour'])} | {_secs(r['first_alarm_s'])} | "
            f"{_secs(lasting)} | {_secs(lead)} | {r['chattering_episodes']} | "
            f"{_fmt(r['unknown_operating_point_rate'], True)} | {speed} |"
        )
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{name[:-4]}]({name})" for name in plots]
    return "\n".join(lines) + "\n"

"""The row type every benchmark returns, and the table they print."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure.

    ``goal`` is the target as text (``">= 20"``), empty when there is none; ``met`` is
    None when there is no goal to compare with.
    """

    topic: str
    metric: str
    value: float | str
    unit: str = ""
    goal: str = ""
    met: bool | None = None


def format_table(rows: list[Row]) -> str:
    header = ("topic", "metric", "value", "unit", "goal", "met")
    cells = [header]
    for r in rows:
        value = f"{r.value:.4g}" if isinstance(r.value, float) else str(r.value)
        met = "" if r.met is None else ("yes" if r.met else "NO")
        cells.append((r.topic, r.metric, value, r.unit, r.goal, met))
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for n, c in enumerate(cells):
        lines.append("| " + " | ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def print_rows(rows: list[Row]) -> None:
    print(format_table(rows))

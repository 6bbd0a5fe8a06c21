"""What a person reads instead of a raw score: the health index, the ISO zone, the state of
an unknown operating point and the names of the features that drove a score.

Pure functions (no Streamlit, no store), tested with plain values.

* health index = ``score / threshold``: 1.0 is the alarm level, whatever the model; drawn on
  a logarithmic axis (healthy machines sit around 0.1-0.5, faults go to 10-100);
* ISO 10816/20816 zones of the velocity RMS (mm/s): A new machine, B unrestricted operation,
  C restricted operation, D damage occurs;
* feature names: the model's feature vector is ``n_bands`` log band energies, then the log
  mean square, the kurtosis and the crest factor (``FeatureConfig.feature_names``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "HEALTH_FLOOR",
    "ISO_ZONE_COLORS",
    "UNKNOWN_OP_ADVICE",
    "UNKNOWN_OP_LABEL",
    "feature_labels",
    "format_health",
    "health_index",
    "iso_zone_label",
    "name_features",
]

#: Smallest health index drawn on the logarithmic axis (0 and below are clipped to it).
HEALTH_FLOOR = 1e-3
UNKNOWN_OP_LABEL = "unknown operating point"
UNKNOWN_OP_ADVICE = (
    "record healthy data at this operating point and retrain (`tinypdm train --from`)"
)
_ZONES = ("", "A", "B", "C", "D")
_ZONE_TEXT = {
    "A": "A (new machine)",
    "B": "B (unrestricted operation)",
    "C": "C (restricted operation)",
    "D": "D (damage occurs)",
}
#: Colour of each ISO zone letter (green to red).
ISO_ZONE_COLORS = {"A": "#2ca02c", "B": "#98df8a", "C": "#ff7f0e", "D": "#d62728"}


def health_index(score: float | None, threshold: float | None) -> float | None:
    """``score / threshold`` (1.0 = alarm level); None when either is missing, not finite
    or the threshold is not positive."""
    if score is None or threshold is None:
        return None
    if not (math.isfinite(score) and math.isfinite(threshold)) or threshold <= 0:
        return None
    return score / threshold


def format_health(value: float | None) -> str:
    """A health index for people: 2 significant digits, "—" when unknown."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def iso_zone_label(zone: int | None, *, long: bool = False) -> str:
    """``1..4`` -> ``"A".."D"`` (with its meaning when ``long``); "" for none/unknown."""
    if zone is None or not 1 <= zone <= 4:
        return ""
    letter = _ZONES[zone]
    return _ZONE_TEXT[letter] if long else letter


def _khz(hz: float) -> str:
    return f"{hz / 1000:.2f}"


def _band_edges_hz(config: Mapping[str, Any]) -> list[float]:
    """Band edges in Hz as ``vibration.learning.features.band_bin_edges`` places them (the
    dashboard may not import the learning layer; the same arithmetic, checked by a test)."""
    fs = float(config.get("sample_rate", 12000.0))
    n = int(config.get("window", 1024))
    n_bands = int(config.get("n_bands", 16))
    f_low = float(config.get("f_low_hz", 0.0))
    f_high = float(config.get("f_high_frac", 0.8)) * fs / 2.0
    if not (fs > 0 and n > 1 and 1 <= n_bands <= 255 and 0 <= f_low < f_high):
        raise ValueError("not a feature configuration")
    j = np.arange(n_bands + 1, dtype=np.float64)
    hz = f_low + j * (f_high - f_low) / n_bands
    edges = np.maximum(1, np.round(hz * n / fs)).astype(np.int64)  # np.round: half to even
    for i in range(1, edges.size):
        edges[i] = max(edges[i], edges[i - 1] + 1)
    return [float(e) * fs / n for e in edges]


def feature_labels(feature_config: Mapping[str, Any] | None) -> list[str] | None:
    """Readable names of the model's features from its ``feature_config`` (model.json or
    manifest.json): ``"band 2.25-2.81 kHz"`` (or ``"band 120-240 Hz"`` below 1 kHz) for the
    bands, then ``"log mean square"``, ``"kurtosis"``, ``"crest"``. None when the config is
    missing or invalid."""
    if not feature_config or not isinstance(feature_config, Mapping):
        return None
    try:
        edges = _band_edges_hz(feature_config)
    except (TypeError, ValueError):
        return None
    bands = []
    for lo, hi in itertools.pairwise(edges):
        if hi >= 1000:
            bands.append(f"band {_khz(lo)}-{_khz(hi)} kHz")
        else:
            bands.append(f"band {lo:.0f}-{hi:.0f} Hz")
    return [*bands, "log mean square", "kurtosis", "crest"]


def name_features(indices: Sequence[int], labels: Sequence[str] | None) -> list[str]:
    """Names of feature ``indices`` ("feature #i" when the model's names are not known)."""
    return [
        labels[i] if labels is not None and 0 <= i < len(labels) else f"feature #{i}"
        for i in indices
    ]

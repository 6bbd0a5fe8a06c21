"""The sensor page's "Alarm evidence" panel: the raw window(s) that raised an alarm, their
amplitude spectrum and envelope spectrum, with the bearing defect frequencies marked.

Chart builders take plain records (no store access); :func:`show_evidence` draws the
panel with Streamlit (imported inside, like :mod:`dashboard.ui`). Device strings (units,
model tags) are shown with ``st.text`` or as chart titles, never as Markdown.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vibration.telemetry.stores import ALARM_KINDS

from .registry import Registry, RegistryEntry
from .spectra import (
    DEFECT_NAMES,
    BearingInfo,
    Spectrum,
    amplitude_spectrum,
    bearing_info,
    defect_frequencies,
    envelope_spectrum,
)

if TYPE_CHECKING:
    import altair as alt

    from vibration.telemetry.stores import Event, Evidence

    from .config import DashboardConfig

__all__ = [
    "DEFECT_COLORS",
    "EvidenceView",
    "evidence_view",
    "model_entry",
    "show_evidence",
    "spectrum_chart",
    "waveform_chart",
]

_NS = 1_000_000_000
_MAX_POINTS = 8192

DEFECT_COLORS: dict[str, str] = {
    "ftf": "#8c564b",
    "bsf": "#9467bd",
    "bpfo": "#d62728",
    "bpfi": "#ff7f0e",
}


def model_entry(registry: Registry, model_tag: str, model_hash: str = "") -> RegistryEntry | None:
    """The registry entry of an evidence record's model tag (``<12 hex>`` or
    ``<12 hex>@host``), else of the sensor's reported model hash."""
    tag = model_tag.split("@", 1)[0].strip().lower()
    if len(tag) >= 12 and all(c in "0123456789abcdef" for c in tag):
        hits = [e for e in registry if any(h.startswith(tag) for h in e.tflite_sha256)]
        hits.sort(key=lambda e: (e.kind != "bundle", -e.mtime))
        if hits:
            return hits[0]
    return registry.by_hash(model_hash) if model_hash else None


class EvidenceView:
    """What the panel draws for one record and one axis (all computed, no Streamlit)."""

    def __init__(self, record: Evidence, axis: int = 0, bearing: BearingInfo | None = None) -> None:
        if not 0 <= axis < record.axes:
            raise ValueError(f"axis must be in [0, {record.axes}), got {axis!r}")
        self.record = record
        self.axis = axis
        self.signal = record.physical(axis)
        self.spectrum: Spectrum = amplitude_spectrum(self.signal, record.sample_rate)
        self.envelope: Spectrum = envelope_spectrum(self.signal, record.sample_rate)
        self.bearing = bearing
        speed = record.speed_rpm
        self.speed_source = "measured"
        if not (math.isfinite(speed) and speed > 0):
            speed = bearing.speed_rpm if bearing is not None and bearing.speed_rpm else math.nan
            self.speed_source = "nominal (model)" if math.isfinite(speed) else "unknown"
        self.speed_rpm = speed
        self.defects: dict[str, float] | None = None
        if bearing is not None and math.isfinite(speed):
            self.defects = defect_frequencies(bearing.geometry, speed)

    @property
    def why_no_lines(self) -> str:
        """Why no defect frequency is marked ("" when they are)."""
        if self.defects is not None:
            return ""
        if self.bearing is None:
            return "no geometry: the model has no bearing section (model.json / manifest.json)"
        return "no speed: neither the evidence nor the model's bearing section gives one"


def evidence_view(
    record: Evidence, axis: int = 0, info: dict[str, Any] | None = None
) -> EvidenceView:
    """An :class:`EvidenceView` with the bearing of a model's JSON ``info`` (may be None)."""
    return EvidenceView(record, axis, bearing_info(info))


def waveform_chart(record: Evidence, axis: int = 0, *, height: int = 220) -> alt.LayerChart:
    """The raw window(s) in physical units against ms before the alarm window's end; the
    window boundaries as grey rules."""
    import altair as alt
    import pandas as pd

    y = record.physical(axis)
    n = y.shape[0]
    t_ms = (np.arange(n) - (n - 1)) * 1000.0 / record.sample_rate
    step = max(1, -(-n // _MAX_POINTS))
    frame = pd.DataFrame({"t_ms": t_ms[::step], "value": y[::step]})
    units = record.units or "counts"
    layers: list[Any] = [
        alt.Chart(frame)
        .mark_line(color="#1f77b4", strokeWidth=1)
        .encode(
            x=alt.X("t_ms:Q", title="ms before the end of the alarm window"),
            y=alt.Y("value:Q", title=units),
        )
    ]
    if record.window and n > record.window:
        edges = (
            t_ms[-1]
            - np.arange(1, n // record.window) * record.window * 1000.0 / record.sample_rate
        )
        rules = pd.DataFrame({"t_ms": edges})
        layers.append(
            alt.Chart(rules).mark_rule(color="#999999", strokeDash=[4, 3]).encode(x="t_ms:Q")
        )
    return alt.LayerChart(layer=layers, height=height)


def spectrum_chart(
    spectrum: Spectrum,
    units: str,
    defects: dict[str, float] | None,
    *,
    max_hz: float | None = None,
    harmonics: int = 1,
    height: int = 220,
) -> alt.LayerChart:
    """An amplitude spectrum with the defect frequencies as coloured vertical rules
    (BPFO and BPFI with ``harmonics`` multiples), labelled."""
    import altair as alt
    import pandas as pd

    sel = np.ones_like(spectrum.freq_hz, dtype=bool)
    if max_hz is not None:
        sel = spectrum.freq_hz <= max_hz
    freq, amp = spectrum.freq_hz[sel], spectrum.amplitude[sel]
    step = max(1, -(-freq.shape[0] // _MAX_POINTS))
    frame = pd.DataFrame({"freq_hz": freq[::step], "amplitude": amp[::step]})
    layers: list[Any] = [
        alt.Chart(frame)
        .mark_line(color="#333333", strokeWidth=1)
        .encode(
            x=alt.X("freq_hz:Q", title="Hz"),
            y=alt.Y("amplitude:Q", title=units or "counts"),
            tooltip=["freq_hz:Q", "amplitude:Q"],
        )
    ]
    if defects:
        top = float(freq[-1]) if freq.size else 0.0
        rows = [
            {
                "freq_hz": k * f,
                "line": f"{k}×{DEFECT_NAMES[name]}" if k > 1 else DEFECT_NAMES[name],
                "kind": DEFECT_NAMES[name],
            }
            for name, f in defects.items()
            for k in range(1, (harmonics if name in ("bpfo", "bpfi") else 1) + 1)
            if 0 < k * f <= top
        ]
        if rows:
            lines = pd.DataFrame(rows)
            colors = alt.Scale(
                domain=[DEFECT_NAMES[k] for k in DEFECT_COLORS], range=list(DEFECT_COLORS.values())
            )
            layers.append(
                alt.Chart(lines)
                .mark_rule(strokeDash=[5, 3], strokeWidth=1.5)
                .encode(
                    x="freq_hz:Q",
                    color=alt.Color("kind:N", scale=colors, title="defect"),
                    tooltip=["line:N", alt.Tooltip("freq_hz:Q", format=".1f")],
                )
            )
    return alt.LayerChart(layer=layers, height=height)


def _label(time_ns: int, tz: dt.tzinfo, has_raw: bool) -> str:
    when = dt.datetime.fromtimestamp(time_ns / _NS, tz).strftime("%Y-%m-%d %H:%M:%S")
    return f"{when} · {'raw window' if has_raw else 'no raw window'}"


def show_evidence(
    cfg: DashboardConfig,
    sensor: str,
    events: Sequence[Event],
    start_ns: int,
    end_ns: int,
    tz: dt.tzinfo,
    model_hash: str = "",
) -> None:
    """The "Alarm evidence" panel of the sensor page for the alarms in the range."""
    import streamlit as st

    from dashboard import data

    with data.guard():
        records = data.evidence(cfg.store_url, sensor, start_ns, end_ns)
    by_time = {r.time_ns: r for r in records}
    onsets = sorted(
        {e.time_ns for e in events if e.kind in ALARM_KINDS} | set(by_time), reverse=True
    )
    if not onsets:
        st.caption("No alarm of this sensor in this range.")
        return
    first = next((i for i, t in enumerate(onsets) if t in by_time), 0)
    if st.session_state.get("evidence_alarm") not in onsets:
        st.session_state.evidence_alarm = onsets[first]
    onset = st.selectbox(
        "Alarm",
        onsets,
        format_func=lambda t: _label(int(t), tz, t in by_time),
        key="evidence_alarm",
    )
    record = by_time.get(onset)
    if record is None:
        st.caption(
            "No raw window was captured for this alarm: the sensor did not stream SAMPLES "
            "around its onset (or the alarm predates evidence capture)."
        )
        return
    axis = 0
    if record.axes > 1:
        axis = int(st.selectbox("Axis", list(range(record.axes)), key="evidence_axis"))
    entry = model_entry(data.registry(cfg), record.model, model_hash)
    view = evidence_view(record, axis, dict(entry.info) if entry is not None else None)
    n_windows = record.n // record.window if record.window else 1
    speed = (
        f"{view.speed_rpm:.0f} rpm ({view.speed_source})"
        if math.isfinite(view.speed_rpm)
        else "speed unknown"
    )
    duration_ms = record.n / record.sample_rate * 1000
    st.caption(
        f"{record.n} samples at {record.sample_rate:g} Hz ({duration_ms:.0f} ms, "
        f"{n_windows} window{'s' if n_windows != 1 else ''}), scored by the "
        f"{'gateway (shadow)' if record.source == 'host' else 'device'} · {speed}"
    )
    st.text(f"model: {record.model or 'unknown'}   units: {record.units or 'counts'}")
    st.markdown("**Waveform**")
    st.altair_chart(waveform_chart(record, axis), key="evidence_waveform")
    left, right = st.columns(2)
    with left:
        st.markdown("**Amplitude spectrum**")
        st.altair_chart(
            spectrum_chart(view.spectrum, record.units, view.defects, harmonics=1),
            key="evidence_spectrum",
        )
    with right:
        st.markdown("**Envelope spectrum**")
        top = max(view.defects.values()) if view.defects else 100.0
        max_hz = min(record.sample_rate / 2, max(500.0, 3.5 * top))
        st.altair_chart(
            spectrum_chart(view.envelope, record.units, view.defects, max_hz=max_hz, harmonics=3),
            key="evidence_envelope",
        )
        band = view.envelope.band_hz or (0.0, 0.0)
        st.caption(f"band-pass {band[0]:.0f}-{band[1]:.0f} Hz (the band of highest energy)")
    if view.defects is not None:
        st.caption(
            " · ".join(f"{DEFECT_NAMES[k]} {f:.1f} Hz" for k, f in view.defects.items())
            + f" at {view.speed_rpm:.0f} rpm"
        )
    else:
        st.caption(view.why_no_lines)

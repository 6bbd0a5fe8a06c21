"""The sensor page shows an alarm's evidence: waveform, spectrum and envelope spectrum with
the bearing defect frequencies (AppTest against a seeded SQLite store)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dashboard.sample_fleet import outer_race_fault
from tests.support import BEARING, app, chart_layers
from vibration.telemetry.stores import Event, Evidence, Store

FS = 12_000.0
RPM = 1797.0
BPFO = 3.5848 * RPM / 60  # SKF 6205 (the default BearingGeometry)


def add_evidence(
    store: Store,
    sensor: str,
    models: Path | None,
    bundle_hash: str,
    *,
    units: str = "g",
    speed_rpm: float = RPM,
) -> Evidence:
    """Evidence for ``sensor``'s alarm event (seeded by sample_fleet), and a ``bearing``
    section in the v2 bundle's manifest when ``models`` is given."""
    alarm = next(e for e in store.events(0, 2**62, sensor) if e.kind == "alarm_raised")
    record = Evidence(
        alarm.time_ns,
        sensor,
        alarm.asset,
        FS,
        1 / 4096,
        units,
        outer_race_fault(seed=2),
        window=2048,
        speed_rpm=speed_rpm,
        model=bundle_hash[:12],
    )
    store.write_evidence([record])
    if models is not None:
        manifest = models / "bundles" / "v2" / "manifest.json"
        info = json.loads(manifest.read_text())
        info["bearing"] = BEARING
        manifest.write_text(json.dumps(info))
        os.utime(manifest, (1_000_001, 1_000_001))
    return record


def _hash(models: Path) -> str:
    import hashlib

    return hashlib.sha256(
        (models / "bundles" / "v2" / "model_int8.tflite").read_bytes()
    ).hexdigest()


def _models() -> Path:
    return Path(os.environ["TINYPDM_DASHBOARD_MODELS"])


def test_sensor_page_shows_alarm_evidence_with_defect_frequencies(fleet: Store) -> None:
    models = _models()
    record = add_evidence(fleet, "pump-1", models, _hash(models))
    at = app("sensor", sensor="pump-1")
    assert not at.exception
    assert at.selectbox(key="evidence_alarm").value == record.time_ns
    # health timeline, speed, velocity, RMS, kurtosis; then waveform, spectrum, envelope
    assert len(at.get("vega_lite_chart")) == 8
    captions = " ".join(c.value for c in at.caption)
    assert "4096 samples at 12000 Hz" in captions and "2 windows" in captions
    assert f"BPFO {BPFO:.1f} Hz" in captions and "1797 rpm" in captions
    envelope = chart_layers(at.get("vega_lite_chart")[7])
    assert [mark for mark, _ in envelope] == ["line", "rule"]
    spectrum, lines = envelope[0][1], envelope[1][1]
    assert "BPFO" in set(lines["line"]) and "2×BPFO" in set(lines["line"])
    band = spectrum[(spectrum.freq_hz > 20) & (spectrum.freq_hz < 400)]
    peak = float(band.freq_hz[band.amplitude.idxmax()])
    assert abs(peak - BPFO) <= FS / 4096  # the envelope shows the outer-race defect
    waveform = chart_layers(at.get("vega_lite_chart")[5])
    assert [mark for mark, _ in waveform] == ["line", "rule"]  # window boundary
    assert len(waveform[0][1]) == 4096


def test_sensor_page_evidence_without_geometry_says_so(fleet: Store) -> None:
    add_evidence(fleet, "pump-1", None, "ab" * 32, units="**g**<b>", speed_rpm=float("nan"))
    at = app("sensor", sensor="pump-1")
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "no geometry" in captions and "speed unknown" in captions
    # the device's units string is shown verbatim, never as Markdown
    assert any("units: **g**<b>" in t.value for t in at.text)
    assert len(at.get("vega_lite_chart")) == 8


def test_sensor_page_alarm_without_evidence_says_no_raw_window(fleet: Store) -> None:
    alarm = next(e for e in fleet.events(0, 2**62, "pump-1") if e.kind == "alarm_raised")
    add_evidence(fleet, "pump-1", None, "ab" * 32)
    fleet.write_events(
        [Event(alarm.time_ns + 10**9, "alarm_raised", "pump-1", "pump", "again", "gw")]
    )
    at = app("sensor", sensor="pump-1")
    box = at.selectbox(key="evidence_alarm")
    assert box.value == alarm.time_ns  # the newest alarm with a raw window is preselected
    box.set_value(alarm.time_ns + 10**9).run()
    assert not at.exception
    assert "No raw window was captured for this alarm" in " ".join(c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 5  # the sensor's own charts, no evidence

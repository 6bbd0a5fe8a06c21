"""A seeded, synthetic fleet written through the store API (tests, benchmarks, demos).

Each sensor follows a scenario that ends at ``now_ns``:

``ok``        scores around 30 % of the threshold, heard until now
``warning``   like ok, the last 10 minutes climb to ~90 % of the threshold (no alarm)
``alarm``     the last ``alarm_s`` seconds over the threshold with the alarm flag set
              (an ``alarm_raised`` event at the onset, as the gateway writes it)
``offline``   like ok, but silent for the last two hours
``unknown``   like ok, but the last 10 minutes at another speed: unknown operating point
              (protocol v2 ``state`` 3, no alarm)

Sensors with ``protocol=2`` (the default) carry the version-2 fields: ``state``, shaft
speed (1480 rpm; 2950 rpm at the unknown operating point), velocity RMS in mm/s with its
ISO zone (class I limits 0.71 / 1.8 / 4.5 mm/s) and the two top contributing features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vibration.telemetry.stores import (
    ALARM_KINDS,
    Event,
    Evidence,
    ScorePoint,
    SensorStatus,
    Store,
)

__all__ = ["DEFAULT_FLEET", "SensorSpec", "outer_race_fault", "sample_evidence", "seed_fleet"]

_NS = 1_000_000_000
SCENARIOS = ("ok", "warning", "alarm", "offline", "unknown")
_ONSET = "alarm policy met"
_ISO_LIMITS = np.array([0.71, 1.8, 4.5])  # mm/s, zone A|B|C|D boundaries (class I)


@dataclass(frozen=True)
class SensorSpec:
    """One synthetic sensor."""

    sensor: str
    asset: str
    scenario: str = "ok"
    threshold: float = 1.0
    firmware: str = "1.0.0"
    model_hash: str = "ab" * 32
    model: str = "ae-v1"
    protocol: int = 2

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold!r}")


DEFAULT_FLEET: tuple[SensorSpec, ...] = (
    SensorSpec("fan-1", "fan", "ok"),
    SensorSpec("pump-1", "pump", "alarm", threshold=0.5),
    SensorSpec("pump-2", "pump", "warning", firmware="0.9.2", model_hash="cd" * 32),
    SensorSpec("motor-1", "motor", "offline"),
)


def _scores(
    spec: SensorSpec, t_ns: np.ndarray, now_ns: int, alarm_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = t_ns.size
    score = spec.threshold * np.abs(0.3 + 0.03 * rng.standard_normal(n))
    alarm = np.zeros(n, dtype=bool)
    age_s = (now_ns - t_ns) / _NS
    if spec.scenario == "warning":
        ramp = np.clip(1.0 - age_s / 600.0, 0.0, 1.0)
        score = score + spec.threshold * 0.6 * ramp
        score[-1] = 0.9 * spec.threshold
    elif spec.scenario == "alarm":
        over = age_s <= alarm_s
        score[over] = spec.threshold * (1.6 + 0.1 * rng.standard_normal(int(over.sum())))
        alarm = over.copy()
    return score, alarm


def seed_fleet(
    store: Store,
    *,
    now_ns: int,
    specs: Sequence[SensorSpec] = DEFAULT_FLEET,
    hours: float = 1.0,
    interval_s: float = 1.0,
    alarm_s: float = 1200.0,
    seed: int = 0,
    batch: int = 10_000,
) -> int:
    """Write ``hours`` of scores (one per ``interval_s``), statuses and events per sensor.

    Returns the number of score points written. Deterministic for a given ``seed`` and
    ``now_ns``.
    """
    if not hours > 0 or not interval_s > 0:
        raise ValueError(f"hours and interval_s must be > 0, got {hours!r}, {interval_s!r}")
    rng = np.random.default_rng(seed)
    step = int(interval_s * _NS)
    n = max(1, int(hours * 3600 / interval_s))
    written = 0
    for spec in specs:
        end = now_ns - (7200 * _NS if spec.scenario == "offline" else step // 2)
        t_ns = end - step * np.arange(n - 1, -1, -1, dtype=np.int64)
        t_ns = t_ns[t_ns > 0]
        score, alarm = _scores(spec, t_ns, now_ns, alarm_s, rng)
        rms = 0.5 + 0.05 * rng.standard_normal(t_ns.size) + score / spec.threshold * 0.2
        kurt = 3.0 + 0.2 * rng.standard_normal(t_ns.size) + alarm * 2.0
        v2 = _v2_fields(spec, t_ns, now_ns, score, alarm)
        for lo in range(0, t_ns.size, batch):
            hi = min(t_ns.size, lo + batch)
            store.write_scores(
                [
                    ScorePoint(
                        time_ns=int(t_ns[i]),
                        sensor=spec.sensor,
                        asset=spec.asset,
                        model=spec.model,
                        score=float(score[i]),
                        threshold=spec.threshold,
                        alarm=bool(alarm[i]),
                        rms=float(rms[i]),
                        kurtosis=float(kurt[i]),
                        seq=i,
                        **(v2[i] if v2 else {}),  # type: ignore[arg-type]
                    )
                    for i in range(lo, hi)
                ]
            )
        written += int(t_ns.size)
        store.write_status(
            [
                SensorStatus(
                    time_ns=int(t_ns[-1]),
                    sensor=spec.sensor,
                    asset=spec.asset,
                    firmware=spec.firmware,
                    model_hash=spec.model_hash,
                    sample_rate=12000.0,
                    crc_errors=0,
                    dropped_frames=0,
                )
            ]
        )
        if spec.scenario == "alarm" and alarm.any():
            onset = int(t_ns[np.argmax(alarm)])
            store.write_events(
                [Event(onset, "alarm_raised", spec.sensor, spec.asset, _ONSET, "gateway")]
            )
    return written


def _v2_fields(
    spec: SensorSpec, t_ns: np.ndarray, now_ns: int, score: np.ndarray, alarm: np.ndarray
) -> list[dict[str, object]]:
    """Per point: the protocol-v2 keywords of ScorePoint ([] for a version-1 sensor)."""
    if spec.protocol < 2:
        return []
    health = score / spec.threshold
    unknown = np.zeros(t_ns.size, dtype=bool)
    if spec.scenario == "unknown":
        unknown = (now_ns - t_ns) / _NS <= 600.0
    state = np.where(alarm, 2, np.where(health > 1.0, 1, 0))
    state[unknown] = 3
    speed = np.where(unknown, 2950.0, 1480.0)
    velocity = 0.4 + 1.6 * health
    zone = 1 + np.searchsorted(_ISO_LIMITS, velocity, side="right")
    top = (9, 17) if spec.scenario == "alarm" else (3, 16)
    return [
        {
            "state": int(state[i]),
            "speed_rpm": float(speed[i]),
            "velocity_rms_mm_s": round(float(velocity[i]), 3),
            "iso_zone": int(zone[i]),
            "top_features": top,
        }
        for i in range(t_ns.size)
    ]


#: The sample evidence's bearing: an SKF 6205 (the default ``BearingGeometry``) at 1797 rpm.
SAMPLE_RPM = 1797.0
_SAMPLE_FS = 12_000.0
_SAMPLE_BPFO = 3.5848 * SAMPLE_RPM / 60


def outer_race_fault(seed: int, n: int = 4096, fs: float = _SAMPLE_FS) -> np.ndarray:
    """int16 counts (1/4096 g) of an outer-race defect: a 3.2 kHz resonance struck at BPFO
    (107.4 Hz at 1797 rpm), the shaft tone and a little noise; shape ``(n, 1)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    x = 0.3 * np.sin(2 * np.pi * SAMPLE_RPM / 60 * t)
    m = min(120, n)
    ring = np.exp(-t[:m] * 1500.0) * np.sin(2 * np.pi * 3200.0 * t[:m])
    for t0 in np.arange(0.0, t[-1], 1.0 / _SAMPLE_BPFO):
        i = round(float(t0) * fs)
        k = min(m, n - i)
        x[i : i + k] += 2.0 * ring[:k]
    x += rng.normal(0.0, 0.02, n)
    return np.round(x * 4096).astype(np.int16).reshape(-1, 1)


def sample_evidence(
    store: Store,
    sensor: str,
    *,
    model: str = "",
    windows: int = 2,
    window: int = 2048,
    seed: int = 0,
) -> Evidence | None:
    """Write synthetic evidence (:func:`outer_race_fault`) for the latest alarm onset
    (``alarm_raised``, or a legacy ``alarm``) of ``sensor`` (as :func:`seed_fleet` writes
    it); None when it has no alarm event."""
    alarms = [e for e in store.events(0, 2**63 - 1, sensor) if e.kind in ALARM_KINDS]
    if not alarms:
        return None
    alarm = alarms[-1]
    record = Evidence(
        alarm.time_ns,
        sensor,
        alarm.asset,
        _SAMPLE_FS,
        1 / 4096,
        "g",
        outer_race_fault(seed, windows * window),
        window=window,
        speed_rpm=SAMPLE_RPM,
        model=model,
    )
    store.write_evidence([record])
    return record

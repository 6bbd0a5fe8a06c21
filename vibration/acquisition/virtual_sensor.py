"""Virtual sensors (kept importable here): the code lives in
:mod:`vibration.acquisition.sensors`, one module per job (sources, wire, pump, pty)."""

from __future__ import annotations

from vibration.acquisition.sensors import (
    ArraySource,
    DevelopingFaultSource,
    RunOptions,
    SampleSource,
    Scorer,
    SensorPump,
    SensorReport,
    SimulatedSource,
    VirtualSensor,
    VirtualSensorConfig,
    WireChunk,
    load_replay,
    run_on_pty,
)

__all__ = [
    "ArraySource",
    "DevelopingFaultSource",
    "RunOptions",
    "SampleSource",
    "Scorer",
    "SensorPump",
    "SensorReport",
    "SimulatedSource",
    "VirtualSensor",
    "VirtualSensorConfig",
    "WireChunk",
    "load_replay",
    "run_on_pty",
]

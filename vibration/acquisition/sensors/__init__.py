"""Virtual sensors: a device's byte stream, made in software and paced in real time.

A :class:`VirtualSensor` turns a :class:`SampleSource` (the bearing simulator, or a replayed
recording) into the bytes a tinypdm device would send: a HELLO at boot and every
``hello_interval_s`` of device time, SAMPLES frames of ``samples_per_frame`` samples, each
stamped with the device time of its first sample. Or, with ``encoding="ascii"``, the lines
a ten-line Arduino sketch prints (no HELLO, no clock).

One module per job:

* :mod:`.sources`: where the samples come from (simulator, developing fault, replay);
* :mod:`.wire`: the bytes on the line (frames, ASCII lines, seeded impairments), pure and
  clock-free (:meth:`VirtualSensor.chunks`);
* :mod:`.pump`: real-time delivery to a :class:`~vibration.acquisition.serial_link.PtyLink`
  that never blocks (:class:`SensorPump`), and its books (:class:`SensorReport`);
* :mod:`.pty`: publish a pty and run a sensor on it (:func:`run_on_pty`).
"""

from __future__ import annotations

from vibration.acquisition.sensors.pty import run_on_pty
from vibration.acquisition.sensors.pump import RunOptions, SensorPump, SensorReport
from vibration.acquisition.sensors.sources import (
    ArraySource,
    DevelopingFaultSource,
    SampleSource,
    SimulatedSource,
    load_replay,
)
from vibration.acquisition.sensors.wire import (
    Scorer,
    VirtualSensor,
    VirtualSensorConfig,
    WireChunk,
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

"""Where a virtual sensor's samples come from: the simulator, a developing fault, a replay.

A :class:`SampleSource` has a ``sample_rate``, ``axes``, ``scale`` and ``units`` and hands out
int16 blocks (:meth:`SampleSource.read`). Nothing here knows about frames or ptys.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vibration.data.resample import resample
from vibration.data.simulator import BearingSimulator, SimulatorConfig
from vibration.errors import DatasetError
from vibration.validation import is_finite_real, is_int

__all__ = [
    "ArraySource",
    "DevelopingFaultSource",
    "SampleSource",
    "SimulatedSource",
    "load_replay",
]


def _fraction(name: str, value: float) -> None:
    ok = is_finite_real(value)
    if not (ok and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


class SampleSource(Protocol):
    """Where a virtual sensor's samples come from.

    Attributes ``sample_rate`` (Hz), ``axes``, ``scale`` (units per LSB) and ``units``
    describe the stream; :meth:`read` returns the next samples.
    """

    sample_rate: float
    axes: int
    scale: float
    units: str

    def read(self, n: int) -> np.ndarray:
        """Up to ``n`` next samples, int16 of shape (m, axes); m == 0 only at the end."""
        ...


class SimulatedSource:
    """Endless samples from the :class:`~vibration.data.simulator.BearingSimulator`.

    Generates ahead in blocks of ``block`` samples (cheaper than many small calls; the
    simulator's output does not depend on how it is sliced).

    Parameters
    ----------
    config : SimulatorConfig
    block : int
        Samples per axis generated at once.
    """

    def __init__(self, config: SimulatorConfig, block: int = 8192) -> None:
        if not is_int(block) or block < 1:
            raise ValueError(f"block must be a positive integer, got {block!r}")
        self.config = config
        self.sample_rate = float(config.sample_rate)
        self.axes = config.axes
        self.scale = float(config.scale)
        self.units = config.units
        self._sim = BearingSimulator(config)
        self._block = block
        self._buf = np.empty((0, config.axes), dtype=np.int16)
        self._pos = 0

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples, int16 of shape (n, axes)."""
        if self._pos + n > len(self._buf):
            rest = self._buf[self._pos :]
            fresh = self._sim.generate_int16(max(self._block, n - len(rest)))
            self._buf = np.concatenate([rest, fresh]) if len(rest) else fresh
            self._pos = 0
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out


class DevelopingFaultSource(SimulatedSource):
    """A bearing that is healthy at first and then develops the configured fault.

    Severity is 0 for ``onset_s`` device seconds, then rises linearly to ``final_severity``
    over ``ramp_s`` seconds and stays there (the simulator's :meth:`set_severity`, applied
    at each generated block). ``config.fault`` names the defect; ``config.severity`` is
    ignored.

    Parameters
    ----------
    config : SimulatorConfig
    onset_s, ramp_s : float
        When the defect appears, and how long it takes to reach ``final_severity``.
    final_severity : float
        0..1.
    block : int
        Samples per axis generated at once (the severity steps at this granularity).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        onset_s: float,
        ramp_s: float,
        final_severity: float = 0.8,
        block: int = 1024,
    ) -> None:
        if config.fault == "none":
            raise ValueError("a developing fault needs config.fault other than 'none'")
        if not (math.isfinite(onset_s) and onset_s >= 0):
            raise ValueError(f"onset_s must be >= 0, got {onset_s!r}")
        if not (math.isfinite(ramp_s) and ramp_s > 0):
            raise ValueError(f"ramp_s must be > 0, got {ramp_s!r}")
        _fraction("final_severity", final_severity)
        super().__init__(config, block=block)
        self.onset_s = float(onset_s)
        self.ramp_s = float(ramp_s)
        self.final_severity = float(final_severity)
        self._sim.set_severity(self.severity_at(0.0))

    def severity_at(self, t_s: float) -> float:
        """The fault severity at device time ``t_s`` seconds."""
        progress = min(1.0, max(0.0, (t_s - self.onset_s) / self.ramp_s))
        return self.final_severity * progress

    def read(self, n: int) -> np.ndarray:
        self._sim.set_severity(self.severity_at(self._sim.samples_generated / self.sample_rate))
        return super().read(n)


class ArraySource:
    """Samples from an int16 array (a replayed recording), once or looped.

    Parameters
    ----------
    samples : ndarray of int16, shape (n, axes)
    sample_rate, scale : float
    units : str
    loop : bool
        Start again at the end instead of stopping.
    """

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate: float,
        scale: float,
        units: str = "g",
        *,
        loop: bool = False,
    ) -> None:
        arr = np.asarray(samples)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.dtype != np.int16 or arr.ndim != 2 or arr.shape[0] == 0:
            raise ValueError(
                f"samples must be non-empty int16 of shape (n, axes), got {arr.dtype} {arr.shape}"
            )
        if not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")
        self.samples = arr
        self.sample_rate = float(sample_rate)
        self.axes = int(arr.shape[1])
        self.scale = float(scale)
        self.units = units
        self.loop = loop
        self._pos = 0

    def read(self, n: int) -> np.ndarray:
        """Up to ``n`` next samples; fewer at the end (then none), unless looping."""
        if not self.loop:
            out = self.samples[self._pos : self._pos + n]
            self._pos += len(out)
            return out
        total = len(self.samples)
        index = (self._pos + np.arange(n)) % total
        self._pos = (self._pos + n) % total
        return self.samples[index]


def load_replay(
    path: str | Path, *, rate: float | None = None, loop: bool = False
) -> tuple[ArraySource, dict[str, Any]]:
    """A source that replays a recording directory or a file the importers read.

    Parameters
    ----------
    path : path
        A recording directory (``meta.json`` + ``samples.i16``), or a CWRU ``.mat``, CSV,
        WAV or NPY file (:func:`vibration.data.importers.read_signal`).
    rate : float, optional
        Resample to this rate (Hz); default: the recording's own rate. The source's
        ``sample_rate`` is the rate the resampler really made
        (:func:`vibration.data.resample.resample`), which may differ from ``rate`` by
        more than 1e-6 when no fraction with terms <= 1000 is closer.
    loop : bool
        Replay endlessly.

    Returns
    -------
    source : ArraySource
    info : dict
        ``source`` (the path), ``label`` and ``units`` as the recording or file tells.

    Raises
    ------
    DatasetError
        Unreadable recording or file.
    """
    from vibration.data.dataset import open_recording, quantize

    p = Path(path)
    if p.is_dir():
        rec = open_recording(p)
        meta = rec.meta
        if rate is None or math.isclose(rate, meta.sample_rate, rel_tol=1e-9):
            q = np.array(rec.samples())
            scale, src_rate = meta.scale, meta.sample_rate
        else:
            x, src_rate = resample(np.asarray(rec.physical()), meta.sample_rate, rate)
            q, scale = quantize(x)
        units, label = meta.units, meta.label
    else:
        from vibration.data.importers import read_signal

        sig = read_signal(p, rate=rate)
        q, scale = quantize(np.asarray(sig.samples))
        src_rate, units, label = float(sig.sample_rate), sig.units, sig.label
    if q.ndim == 1:
        q = q[:, None]
    if q.shape[0] == 0:
        raise DatasetError(f"nothing to replay in {str(p)!r}: no samples")
    source = ArraySource(q, src_rate, scale, units, loop=loop)
    return source, {"source": str(p), "label": label, "units": units}

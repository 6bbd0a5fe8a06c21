"""Evidence of an alarm: the raw window(s) that raised it (measurement ``evidence``).

An :class:`Evidence` record belongs to the alarm event it explains: it has the event's
``time_ns``, ``sensor`` and ``asset`` (the identity of an ``alarm`` :class:`Event
<vibration.telemetry.stores.base.Event>`), so ``store.evidence(sensor, t, t + 1)`` finds the
evidence of the alarm raised at ``t``. The samples are the raw int16 counts of the device
(physical value = count * ``scale``, in ``units``), shape ``(n, axes)``, of the last
``n // window`` windows before the onset (the last ``window`` samples are the window that
raised it).

On the wire to the stores the samples are little-endian int16 bytes, base64-encoded where
text is needed (InfluxDB string fields, the spool's JSON): :func:`encode_samples` /
:func:`decode_samples`.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vibration.telemetry.stores.base import _check_time, check_name

__all__ = ["MAX_EVIDENCE_SAMPLES", "Evidence", "decode_samples", "encode_samples"]

#: Samples (all axes together) one record may hold: 1 MiB of int16.
MAX_EVIDENCE_SAMPLES = 1 << 19
_MAX_UNITS = 16


def encode_samples(samples: np.ndarray) -> str:
    """int16 array -> base64 of its little-endian bytes (row-major, axes interleaved)."""
    return base64.b64encode(np.ascontiguousarray(samples, dtype="<i2").tobytes()).decode("ascii")


def decode_samples(text: str, axes: int) -> np.ndarray:
    """Inverse of :func:`encode_samples`: an int16 array of shape ``(n, axes)``.

    Raises
    ------
    ValueError
        Not base64, or not a whole number of int16 rows.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"evidence samples are not base64: {exc}") from None
    if axes < 1 or len(raw) % (2 * axes):
        raise ValueError(f"evidence samples: {len(raw)} bytes are not rows of {axes} int16")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16).reshape(-1, axes)


def _as_samples(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] < 1 or arr.shape[0] < 1:
        raise ValueError(f"samples must have shape (n, axes) with n, axes >= 1, got {arr.shape}")
    if arr.dtype != np.int16:
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"samples must be integers (int16 counts), got {arr.dtype}")
        if arr.min() < -32768 or arr.max() > 32767:
            raise ValueError("samples must fit in int16")
    if arr.size > MAX_EVIDENCE_SAMPLES:
        raise ValueError(f"at most {MAX_EVIDENCE_SAMPLES} samples per record, got {arr.size}")
    out = np.array(arr, dtype=np.int16, order="C")
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Evidence:
    """The raw window(s) behind one alarm onset.

    Attributes
    ----------
    time_ns : int
        The alarm's onset: the ``time_ns`` of its ``alarm`` event (wall time, ns).
    sensor, asset : str
        As in the alarm event.
    sample_rate : float
        Samples per second per axis (> 0).
    scale : float
        Physical units per count.
    units : str
        Physical units of ``count * scale`` (e.g. ``"g"``), at most 16 printable characters.
    samples : ndarray of int16, shape (n, axes)
        The raw counts, oldest first; the last ``window`` rows raised the alarm.
    window : int
        Samples per window (0: unknown, the whole record is one window).
    speed_rpm : float
        Shaft speed at the onset; NaN when unknown.
    model : str
        The ``model`` tag of the score that raised the alarm.
    source : str
        ``"device"`` (a SAMPLES burst, or the stream the device scored) or ``"host"``
        (the gateway's shadow scorer).
    """

    time_ns: int
    sensor: str
    asset: str
    sample_rate: float
    scale: float
    units: str
    samples: np.ndarray = field(repr=False)
    window: int = 0
    speed_rpm: float = math.nan
    model: str = ""
    source: str = "device"

    def __post_init__(self) -> None:
        _check_time(self.time_ns)
        check_name(self.sensor, "sensor")
        check_name(self.asset, "asset")
        if not (isinstance(self.sample_rate, int | float) and math.isfinite(self.sample_rate)):
            raise ValueError(f"sample_rate must be a finite number, got {self.sample_rate!r}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {self.sample_rate!r}")
        if not (isinstance(self.scale, int | float) and math.isfinite(self.scale)):
            raise ValueError(f"scale must be a finite number, got {self.scale!r}")
        if (
            not isinstance(self.units, str)
            or len(self.units) > _MAX_UNITS
            or not self.units.isprintable()
        ):
            raise ValueError(
                f"units must be <= {_MAX_UNITS} printable characters, got {self.units!r}"
            )
        object.__setattr__(self, "samples", _as_samples(self.samples))
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 0:
            raise ValueError(f"window must be a non-negative int, got {self.window!r}")
        speed = float(self.speed_rpm)
        if not (math.isnan(speed) or (math.isfinite(speed) and speed >= 0)):
            raise ValueError(f"speed_rpm must be >= 0 or NaN, got {self.speed_rpm!r}")
        object.__setattr__(self, "speed_rpm", speed)
        object.__setattr__(self, "sample_rate", float(self.sample_rate))
        object.__setattr__(self, "scale", float(self.scale))
        if not isinstance(self.model, str) or len(self.model) > 128:
            raise ValueError(f"model must be a str of <= 128 characters, got {self.model!r}")
        if self.source not in ("device", "host"):
            raise ValueError(f"source must be 'device' or 'host', got {self.source!r}")

    @property
    def n(self) -> int:
        """Samples per axis."""
        return int(self.samples.shape[0])

    @property
    def axes(self) -> int:
        return int(self.samples.shape[1])

    def physical(self, axis: int = 0) -> np.ndarray:
        """One axis in physical units (float64, shape ``(n,)``)."""
        return self.samples[:, axis].astype(np.float64) * self.scale

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Evidence):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.time_ns, self.sensor, self.asset))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (samples base64; NaN speed as None)."""
        return {
            "time_ns": int(self.time_ns),
            "sensor": self.sensor,
            "asset": self.asset,
            "sample_rate": self.sample_rate,
            "scale": self.scale,
            "units": self.units,
            "axes": self.axes,
            "samples": encode_samples(self.samples),
            "window": self.window,
            "speed_rpm": None if math.isnan(self.speed_rpm) else self.speed_rpm,
            "model": self.model,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Evidence:
        speed = doc.get("speed_rpm")
        return cls(
            time_ns=int(doc["time_ns"]),
            sensor=doc["sensor"],
            asset=doc["asset"],
            sample_rate=float(doc["sample_rate"]),
            scale=float(doc["scale"]),
            units=doc["units"],
            samples=decode_samples(doc["samples"], int(doc["axes"])),
            window=int(doc.get("window", 0)),
            speed_rpm=math.nan if speed is None else float(speed),
            model=doc.get("model", ""),
            source=doc.get("source", "device"),
        )

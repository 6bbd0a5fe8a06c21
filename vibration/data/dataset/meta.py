"""What ``meta.json`` holds about one recording: :class:`RecordingMeta`."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vibration.data.dataset.validation import (
    _check_axes,
    _check_counters,
    _check_json_dict,
    _check_rate,
    _check_scale,
    _check_str,
    validate_name,
)
from vibration.errors import DatasetError
from vibration.validation import is_int

__all__ = ["FORMAT", "FORMAT_VERSION", "RecordingMeta"]

FORMAT = "tinypdm-recording"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecordingMeta:
    """Everything ``meta.json`` holds about one recording.

    Attributes
    ----------
    name : str
        Recording name (the directory name without ``.part``).
    sample_rate : float
        Samples per second per axis, Hz.
    axes : int
        Number of interleaved axes, 1..8.
    scale : float
        Physical units per LSB: ``physical = scale * int16``.
    units : str
        Physical unit, e.g. ``"g"``.
    label : str or None
        Condition label (``"normal"``, ``"inner"``, ``"outer"``, ``"ball"``, ...), None if unknown.
    sensor_id : str
        Which sensor or device produced the data ("" if unknown).
    source : str
        Where the data came from (a serial URL, ``"simulator"``, an imported file path).
    start_time : str
        ISO-8601 UTC time of the first sample (``...Z``).
    samples : int
        Samples per axis.
    complete : bool
        False while the recording is being written (a ``.part`` directory).
    counters : dict of str to int
        Link counters: ``frames``, ``crc_errors``, ``resyncs``, ``dropped_frames``, ...
    gaps : tuple of int
        Sample indices where a discontinuity starts (data before it was followed by a loss).
    hello : dict or None
        The device's HELLO (``device_id``, ``firmware_version``, ``model_sha256`` hex, ...).
    extra : dict
        Free JSON data (``rpm``, ``load_hp``, ``fault_diameter_mil``, ...).
    sha256 : str or None
        SHA-256 hex of ``samples.i16``; set when complete.
    """

    name: str
    sample_rate: float
    axes: int
    scale: float
    units: str = "g"
    label: str | None = None
    sensor_id: str = ""
    source: str = ""
    start_time: str = ""
    samples: int = 0
    complete: bool = False
    counters: dict[str, int] = field(default_factory=dict, hash=False)
    gaps: tuple[int, ...] = ()
    hello: dict[str, Any] | None = field(default=None, hash=False)
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    sha256: str | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    dtype: str = "int16"
    byte_order: str = "little"

    def __post_init__(self) -> None:
        validate_name(self.name)
        object.__setattr__(self, "sample_rate", _check_rate(self.sample_rate))
        object.__setattr__(self, "axes", _check_axes(self.axes))
        object.__setattr__(self, "scale", _check_scale(self.scale))
        _check_str("units", self.units)
        _check_str("label", self.label, optional=True)
        _check_str("sensor_id", self.sensor_id)
        _check_str("source", self.source)
        if not is_int(self.samples) or self.samples < 0:
            raise DatasetError(f"samples must be an integer >= 0, got {self.samples!r}")
        object.__setattr__(self, "counters", _check_counters(self.counters))
        gaps = tuple(self.gaps)
        if any(not is_int(g) or g < 0 for g in gaps):
            raise DatasetError(f"gaps must be sample indices >= 0, got {list(gaps)!r}")
        object.__setattr__(self, "gaps", tuple(sorted(set(gaps))))
        object.__setattr__(self, "hello", _check_json_dict("hello", self.hello, optional=True))
        object.__setattr__(self, "extra", _check_json_dict("extra", self.extra))
        if self.format != FORMAT:
            raise DatasetError(f"not a tinypdm recording: format {self.format!r}")
        if self.format_version != FORMAT_VERSION:
            raise DatasetError(
                f"unsupported format_version {self.format_version!r} (this tinypdm reads "
                f"{FORMAT_VERSION})"
            )
        if self.dtype != "int16" or self.byte_order != "little":
            raise DatasetError(
                f"unsupported sample encoding {self.dtype!r}/{self.byte_order!r} "
                "(expected int16/little)"
            )

    @property
    def seconds(self) -> float:
        """Duration in seconds (``samples / sample_rate``)."""
        return self.samples / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        """The ``meta.json`` object (JSON types only, stable key order)."""
        return {
            "format": self.format,
            "format_version": self.format_version,
            "name": self.name,
            "sensor_id": self.sensor_id,
            "sample_rate": self.sample_rate,
            "axes": self.axes,
            "dtype": self.dtype,
            "byte_order": self.byte_order,
            "scale": self.scale,
            "units": self.units,
            "label": self.label,
            "start_time": self.start_time,
            "source": self.source,
            "samples": self.samples,
            "complete": self.complete,
            "counters": dict(self.counters),
            "gaps": list(self.gaps),
            "hello": None if self.hello is None else dict(self.hello),
            "extra": dict(self.extra),
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordingMeta:
        """Build from a ``meta.json`` object; unknown keys are ignored (forward compatible).

        Raises
        ------
        DatasetError
            A required field is missing or a field is invalid.
        """
        if not isinstance(data, Mapping):
            raise DatasetError(f"meta must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise DatasetError(f"not a tinypdm recording: format {data.get('format')!r}")
        missing = [k for k in ("name", "sample_rate", "axes", "scale") if k not in data]
        if missing:
            raise DatasetError(f"meta.json lacks {', '.join(missing)}")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if "gaps" in kwargs:
            if not isinstance(kwargs["gaps"], list):
                raise DatasetError(f"gaps must be a list, got {kwargs['gaps']!r}")
            kwargs["gaps"] = tuple(kwargs["gaps"])
        if kwargs.get("counters") is None:
            kwargs["counters"] = {}
        if not isinstance(kwargs["counters"], Mapping):
            raise DatasetError(f"counters must be an object, got {kwargs['counters']!r}")
        if kwargs.get("extra") is None:
            kwargs["extra"] = {}
        if not isinstance(kwargs.get("complete", False), bool):
            raise DatasetError(f"complete must be true or false, got {kwargs['complete']!r}")
        sha = kwargs.get("sha256")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise DatasetError(f"sha256 must be 64 hex digits, got {sha!r}")
        return cls(**kwargs)

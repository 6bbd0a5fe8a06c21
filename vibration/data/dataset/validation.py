"""Checks of recording names and metadata fields; each failure is a :class:`DatasetError`
with one clear message."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from vibration.data.dataset.files import PART_SUFFIX
from vibration.errors import DatasetError

__all__ = [
    "MAX_AXES",
    "MAX_SAMPLE_RATE_HZ",
    "MIN_SAMPLE_RATE_HZ",
    "SAMPLE_RATE_RANGE",
    "implausible_rate",
    "validate_name",
]

MAX_AXES = 8

#: The sample rates a vibration sensor plausibly has, Hz (inclusive): the one definition of
#: the accepted range. ``tinypdm capture`` refuses others (``--rate``, a HELLO's rate, a
#: rate measured from the device clock); importers and training can check against it.
MIN_SAMPLE_RATE_HZ = 1.0
MAX_SAMPLE_RATE_HZ = 1e6
#: The range in words, for messages.
SAMPLE_RATE_RANGE = "1 Hz .. 1 MHz"


def implausible_rate(rate: float, what: str = "sample rate") -> str | None:
    """Why ``rate`` (Hz) is not a plausible sample rate, or None when it is.

    Plausible: finite and within ``MIN_SAMPLE_RATE_HZ .. MAX_SAMPLE_RATE_HZ``. The reason
    reads ``"<what> 2.56e+08 Hz is outside the accepted range 1 Hz .. 1 MHz"``.
    """
    ok = isinstance(rate, int | float | np.number) and not isinstance(rate, bool)
    if ok and math.isfinite(rate) and MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
        return None
    shown = f"{_hz(float(rate))}" if ok else repr(rate)
    return f"{what} {shown} is outside the accepted range {SAMPLE_RATE_RANGE}"


def _hz(rate: float) -> str:
    if not math.isfinite(rate):
        return f"{rate} Hz"
    for factor, unit in ((1e9, "GHz"), (1e6, "MHz"), (1e3, "kHz")):
        if abs(rate) >= factor:
            return f"{rate / factor:g} {unit}"
    return f"{rate:g} Hz"


_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME = 200


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe recording name, else raise :class:`DatasetError`.

    Safe: 1-200 characters from ``[A-Za-z0-9._-]``, no leading dot, not ending in ``.part``.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise DatasetError(f"bad recording name {name!r}: use letters, digits, '.', '_', '-'")
    if name.startswith("."):
        raise DatasetError(f"bad recording name {name!r}: must not start with '.'")
    if name.endswith(PART_SUFFIX):
        raise DatasetError(f"bad recording name {name!r}: the suffix '.part' is reserved")
    if len(name) > _MAX_NAME:
        raise DatasetError(f"bad recording name {name!r}: longer than {_MAX_NAME} characters")
    return name


def _check_rate(sample_rate: Any) -> float:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float | np.number):
        raise DatasetError(f"sample_rate must be a number, got {sample_rate!r}")
    rate = float(sample_rate)
    if not math.isfinite(rate) or rate <= 0:
        raise DatasetError(f"sample_rate must be finite and > 0, got {sample_rate!r}")
    return rate


def _check_axes(axes: Any) -> int:
    if isinstance(axes, bool) or not isinstance(axes, int | np.integer):
        raise DatasetError(f"axes must be an integer, got {axes!r}")
    if not 1 <= int(axes) <= MAX_AXES:
        raise DatasetError(f"axes must be in 1..{MAX_AXES}, got {axes!r}")
    return int(axes)


def _check_scale(scale: Any) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float | np.number):
        raise DatasetError(f"scale must be a number, got {scale!r}")
    value = float(scale)
    if not math.isfinite(value) or value <= 0:
        raise DatasetError(f"scale must be finite and > 0, got {scale!r}")
    return value


def _check_str(what: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise DatasetError(f"{what} must be a string, got {value!r}")
    return value


def _check_json_dict(what: str, value: Any, *, optional: bool = False) -> dict[str, Any] | None:
    if value is None:
        return None if optional else {}
    if not isinstance(value, Mapping):
        raise DatasetError(f"{what} must be a dict, got {value!r}")
    if not all(isinstance(k, str) for k in value):
        raise DatasetError(f"{what} keys must be strings, got {list(value)!r}")
    try:
        # Round trip: keeps only JSON types (numpy scalars converted), rejects NaN/Inf.
        out = json.loads(json.dumps(dict(value), allow_nan=False, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{what} must be JSON-serialisable without NaN/Inf: {exc}") from None
    return dict(out)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _check_counters(counters: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in counters.items():
        if not isinstance(key, str) or not key:
            raise DatasetError(f"counter names must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise DatasetError(f"counter {key!r} must be an integer >= 0, got {value!r}")
        out[key] = int(value)
    return out


def _utc_iso(when: datetime | str | None) -> str:
    if when is None:
        when = datetime.now(UTC)
    elif isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            raise DatasetError(f"start_time must be ISO-8601, got {when!r}") from None
    if not isinstance(when, datetime):
        raise DatasetError(f"start_time must be a datetime or ISO-8601 string, got {when!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")

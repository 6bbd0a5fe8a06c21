"""Encoding of alarm evidence samples (the record itself is
:class:`vibration.telemetry.stores.base.Evidence`, measurement ``evidence``).

An ``Evidence`` record belongs to the alarm event it explains: it has the event's
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

import numpy as np

__all__ = ["decode_samples", "encode_samples"]


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

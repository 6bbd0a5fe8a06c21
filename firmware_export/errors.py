"""Exceptions of :mod:`firmware_export`, under tinypdm's root :class:`TinyPdmError`::

TinyPdmError (vibration.errors)
 └── ExportError        firmware export, bundle reading and verification
      └── ParityError       a rung of the parity ladder failed
"""

from __future__ import annotations

from vibration.errors import TinyPdmError

__all__ = ["ExportError", "ParityError"]


class ExportError(TinyPdmError):
    """Firmware export, bundle reading or verification failed."""


class ParityError(ExportError):
    """A rung of the parity ladder failed."""

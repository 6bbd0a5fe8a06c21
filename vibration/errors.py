"""Exceptions of tinypdm.

Every error the project raises on purpose derives from :class:`TinyPdmError`, so the CLI
can turn it into one line on stderr and a non-zero exit::

    TinyPdmError
     ├── ProtocolError      bad frames or link settings (vibration.protocol)
     ├── DatasetError       unreadable, invalid or inconsistent recordings (vibration.data.dataset)
     ├── ModelError         model directories, features and training (vibration.learning)
     ├── StoreError         score stores: InfluxDB, SQLite, spool (vibration.telemetry.stores)
     │    └── StoreUnavailable   the store cannot be reached now; points go to the spool
     └── ExportError        firmware export and verification (firmware_export.errors)
          └── ParityError       a rung of the parity ladder failed

``ExportError`` and ``ParityError`` live with the package they belong to,
:mod:`firmware_export.errors`; the others here, at the bottom layer every package may
import. Bad arguments to a function raise ``ValueError`` as usual.
"""

from __future__ import annotations

__all__ = [
    "DatasetError",
    "ModelError",
    "ProtocolError",
    "StoreError",
    "StoreUnavailable",
    "TinyPdmError",
]


class TinyPdmError(Exception):
    """Root of every error tinypdm raises on purpose."""


class ProtocolError(TinyPdmError):
    """A frame or link setting that breaks the serial protocol."""


class DatasetError(TinyPdmError):
    """A recording or dataset that cannot be read, written or trusted."""


class ModelError(TinyPdmError):
    """A model directory, feature configuration or training problem."""


class StoreError(TinyPdmError):
    """A score store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now (network, server down); retry later."""

"""Exceptions of tinypdm.

Every error the project raises on purpose derives from :class:`TinyPdmError`, so the CLI
can turn it into one line on stderr and a non-zero exit::

    TinyPdmError
     ├── ProtocolError      bad frames or link settings (vibration.protocol)
     ├── DatasetError       unreadable, invalid or inconsistent recordings (vibration.dataset)
     ├── ModelError         model directories, features and training (vibration.model)
     ├── StoreError         score stores: InfluxDB, SQLite, spool (vibration.stores)
     │    └── StoreUnavailable   the store cannot be reached now; points go to the spool
     └── ExportError        firmware export and verification (firmware_export)
          └── ParityError       a rung of the parity ladder failed

Bad arguments to a function raise ``ValueError`` as usual.
"""

from __future__ import annotations

__all__ = [
    "DatasetError",
    "ExportError",
    "ModelError",
    "ParityError",
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


class ExportError(TinyPdmError):
    """Firmware export or verification failed."""


class ParityError(ExportError):
    """A rung of the parity ladder failed."""

"""Read a firmware bundle: the runtime half of :mod:`firmware_export`.

A gateway that scores in shadow mode, the dashboard's model registry and the on-board
sensors read bundles through this module; none of them imports the exporter
(quantisation, code generation, the parity ladder).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_export.errors import ExportError
from firmware_export.runtime.tflite_model import Int8Model, read_tflite
from vibration.fileio import read_json_document, sha256_file
from vibration.learning.features import FeatureConfig
from vibration.learning.speed import SpeedConfig
from vibration.learning.thresholds import AlarmPolicy

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "MANIFEST_NAME",
    "TFLITE_NAME",
    "Bundle",
    "load_bundle",
]

BUNDLE_FORMAT = "tinypdm-firmware-bundle"
BUNDLE_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_TFLITE = "model_int8.tflite"
MANIFEST_NAME = _MANIFEST
TFLITE_NAME = _TFLITE


@dataclass(frozen=True, eq=False)
class Bundle:
    """A bundle on disk, checked (:func:`load_bundle`).

    Attributes
    ----------
    path : Path
    manifest : dict
    model : Int8Model
        Parsed from ``model_int8.tflite``.
    """

    path: Path
    manifest: dict[str, Any] = field(repr=False)
    model: Int8Model = field(repr=False)

    @property
    def src_dir(self) -> Path:
        return self.path / "src"

    @property
    def tflite_path(self) -> Path:
        return self.path / _TFLITE

    def tflite_bytes(self) -> bytes:
        return self.tflite_path.read_bytes()

    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.manifest["feature_config"])

    @property
    def feature_mean(self) -> list[float]:
        return list(self.manifest["scaler"]["mean"])

    @property
    def feature_scale(self) -> list[float]:
        return list(self.manifest["scaler"]["scale"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def alarm_policy(self) -> AlarmPolicy:
        return AlarmPolicy(**self.manifest["alarm_policy"])

    @property
    def sample_scale(self) -> float:
        return float(self.manifest["sample_scale"])

    @property
    def speed_config(self) -> SpeedConfig:
        """The tachless speed estimator's constants the C was generated with (bundles
        without ``speed_estimator`` were made with the defaults)."""
        doc = self.manifest.get("speed_estimator")
        return SpeedConfig.from_dict(doc) if isinstance(doc, dict) else SpeedConfig()


_HEADER_CHECKS = (
    ("TINYPDM_WINDOW", "window", int),
    ("TINYPDM_HOP", "hop", int),
    ("TINYPDM_N_BANDS", "n_bands", int),
    ("TINYPDM_FEATURE_AXIS", "axis", int),
    ("TINYPDM_SAMPLE_RATE_HZ", "sample_rate", float),
)


def load_bundle(path: str | os.PathLike[str], *, check_files: bool = True) -> Bundle:
    """Open a bundle and check it is whole and self-consistent.

    Checks the manifest format, every file's SHA-256 (``check_files``), that the ``.tflite``
    is the one the manifest names and that the generated header was generated for the
    manifest's model and feature config.

    Raises
    ------
    ExportError
        Not a bundle, a modified or missing file, or a header for another model or config.
    """
    root = Path(path)
    manifest = read_json_document(
        root,
        _MANIFEST,
        fmt=BUNDLE_FORMAT,
        version=BUNDLE_FORMAT_VERSION,
        error=ExportError,
        kind="bundle",
        is_not="firmware bundle",
        document="bundle manifest",
    )
    try:
        files = dict(manifest["files"])
        config = FeatureConfig.from_dict(manifest["feature_config"])
        sha = str(manifest["model"]["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"inconsistent manifest in {str(root)!r}: {exc!r}") from None
    if check_files:
        for rel, digest in files.items():
            p = root / rel
            if not p.is_file():
                raise ExportError(f"bundle {str(root)!r} lacks {rel}")
            if sha256_file(p) != digest:
                raise ExportError(
                    f"bundle file {rel} was modified (SHA-256 differs from the manifest)"
                )
    blob = (root / _TFLITE).read_bytes() if (root / _TFLITE).is_file() else b""
    if hashlib.sha256(blob).hexdigest() != sha:
        raise ExportError(f"bundle {str(root)!r}: {_TFLITE} is not the model the manifest names")
    header_path = root / "src" / "tinypdm_model_config.h"
    if not header_path.is_file():
        raise ExportError(f"bundle {str(root)!r} lacks src/tinypdm_model_config.h")
    header = header_path.read_text("ascii", errors="replace")
    if f'#define TINYPDM_MODEL_SHA256_HEX "{sha}"' not in header:
        raise ExportError("src/tinypdm_model_config.h was generated for another model")
    for macro, key, kind in _HEADER_CHECKS:
        found = re.search(rf"^#define {macro} ([-+0-9.e]+)f?\b", header, re.M)
        expected = getattr(config, key)
        if found is None or not math.isclose(kind(found.group(1)), expected, rel_tol=1e-6):
            got = found.group(1) if found else "nothing"
            raise ExportError(
                f"bundle for another feature config: src/tinypdm_model_config.h has "
                f"{macro} {got}, the manifest says {key}={expected!r}"
            )
    return Bundle(path=root, manifest=manifest, model=read_tflite(blob, _TFLITE))

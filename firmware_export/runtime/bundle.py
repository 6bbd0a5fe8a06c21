"""Read a firmware bundle: the runtime half of :mod:`firmware_export`.

A gateway that scores in shadow mode, the dashboard's model registry and the on-board
sensors read bundles through this module; none of them imports the exporter
(quantisation, code generation, the parity ladder).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
        return AlarmPolicy.from_dict(self.manifest["alarm_policy"])

    @property
    def sample_scale(self) -> float:
        return float(self.manifest["sample_scale"])

    @property
    def units(self) -> str:
        return str(self.manifest.get("units", "g"))

    @property
    def iso_limits(self) -> tuple[float, float, float] | None:
        """Zone limits A/B, B/C, C/D in mm/s chosen at export, or None (no zone)."""
        iso = self.manifest.get("iso")
        if not iso or iso.get("group") is None:
            return None
        a, b, c = (float(v) for v in iso["limits_mm_s"])
        return a, b, c

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
        _check_file_list(root, files)
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
    _check_decision(root, manifest, header)
    return Bundle(path=root, manifest=manifest, model=read_tflite(blob, _TFLITE))


def _check_file_list(root: Path, files: dict[Any, Any]) -> None:
    """The manifest's ``files`` name every file of the bundle, each a path inside it."""
    real_root = root.resolve()
    for rel, digest in files.items():
        parts = rel.split("/") if isinstance(rel, str) else [""]
        if (
            not isinstance(rel, str)
            or rel.startswith("/")
            or "\\" in rel
            or any(part in ("", ".", "..") for part in parts)
            or not (root / rel).resolve().is_relative_to(real_root)
        ):
            raise ExportError(
                f"bundle manifest lists {rel!r}: not a relative path inside the bundle"
            )
        if not isinstance(digest, str):
            raise ExportError(f"bundle manifest: SHA-256 of {rel} must be a string")
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and p != root / _MANIFEST
    }
    unlisted = sorted(present - set(files))
    if unlisted:
        more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
        raise ExportError(
            f"bundle {str(root)!r} holds {unlisted[0]}{more}, which its manifest does not list "
            "(added or unlisted files are not checked: export again)"
        )


def _header_number(header: str, macro: str) -> str | None:
    found = re.search(rf"^#define {macro} ([-+0-9.e]+)f?\b", header, re.M)
    return found.group(1) if found else None


def _check_decision(root: Path, manifest: dict[str, Any], header: str) -> None:
    """Threshold and alarm policy agree in the header, the manifest and the reference model."""
    ref_path = root / "reference" / "model.json"
    try:
        threshold = float(manifest["threshold"])
        policy = AlarmPolicy(**manifest["alarm_policy"])
        reference = json.loads(ref_path.read_text("utf-8"))
        ref_threshold = float(reference["threshold"])
        ref_policy = AlarmPolicy(**reference["alarm_policy"])
    except OSError as exc:
        raise ExportError(
            f"bundle {str(root)!r}: cannot read reference/model.json: {exc}"
        ) from None
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ExportError(f"bundle {str(root)!r}: bad threshold or alarm policy: {exc}") from None
    if not (math.isfinite(threshold) and threshold > 0):
        raise ExportError(f"bundle {str(root)!r}: threshold must be > 0, got {threshold!r}")
    if float(np.float32(ref_threshold)) != threshold or ref_policy != policy:
        raise ExportError(
            f"bundle {str(root)!r}: the manifest's threshold {threshold!r} / alarm policy "
            f"{policy.k}-of-{policy.n} is not the model's ({ref_threshold!r}, "
            f"{ref_policy.k}-of-{ref_policy.n} in reference/model.json)"
        )
    for macro, expected in (
        ("TINYPDM_THRESHOLD", threshold),
        ("TINYPDM_ALARM_K", policy.k),
        ("TINYPDM_ALARM_N", policy.n),
    ):
        got = _header_number(header, macro)
        if got is None or float(np.float32(float(got))) != float(np.float32(expected)):
            raise ExportError(
                f"src/tinypdm_model_config.h has {macro} {got or 'nothing'}, the model "
                f"says {expected!r}"
            )

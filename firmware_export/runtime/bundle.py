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
from collections.abc import Mapping
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
    "Manifest",
    "load_bundle",
]

BUNDLE_FORMAT = "tinypdm-firmware-bundle"
BUNDLE_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_TFLITE = "model_int8.tflite"
MANIFEST_NAME = _MANIFEST
TFLITE_NAME = _TFLITE


#: Manifest keys :class:`Manifest` holds as typed fields (the rest stay in ``other``).
_TYPED_KEYS = (
    "feature_config",
    "scaler",
    "threshold",
    "alarm_policy",
    "sample_scale",
    "units",
    "files",
    "speed",
    "speed_estimator",
    "scoring",
    "iso",
)
_OPTIONAL_KEYS = ("units", "speed", "speed_estimator", "scoring", "iso")


def _optional_section(doc: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"must be an object or null, got {type(value).__name__}")
    return dict(value)


@dataclass(frozen=True)
class Manifest:
    """A bundle's ``manifest.json``, typed where code reads it.

    :meth:`from_dict` checks and converts the sections the runtime uses; every other key
    (format, model details, quantisation, TFLM, sizes, parity, ...) is kept as it is in
    ``other``, so :meth:`to_dict` gives the document back.

    Attributes
    ----------
    feature_config : FeatureConfig
    feature_mean, feature_scale : tuple of float
        The standardisation (``scaler``), float32 values.
    threshold : float
    alarm_policy : AlarmPolicy
    sample_scale : float
        Physical units per LSB of the int16 samples.
    units : str or None
        None: the manifest has no ``units`` (read as ``"g"``).
    model_sha256 : str
        SHA-256 of ``model_int8.tflite`` (``model.sha256``).
    files : dict of str to str
        SHA-256 of every bundle file but the manifest.
    speed : dict or None
        Speed conditioning (``envelope_rpm``, ``u0``, ``slope``, ``conditioned``); None for
        a speed-unaware model.
    speed_estimator : SpeedConfig or None
        The tachless estimator's constants; None: a bundle made before them (defaults).
    scoring : dict or None
        ``one_sided``, ``z_max``, ``score``; None: a bundle made before them (two-sided).
    iso : dict or None
        ISO 10816-3 zone settings (``group``, ``limits_mm_s``, ...).
    other : dict
        Every other key of the document.
    """

    feature_config: FeatureConfig
    feature_mean: tuple[float, ...]
    feature_scale: tuple[float, ...]
    threshold: float
    alarm_policy: AlarmPolicy
    sample_scale: float
    units: str | None
    model_sha256: str
    files: dict[str, str] = field(repr=False)
    speed: dict[str, Any] | None = None
    speed_estimator: SpeedConfig | None = None
    scoring: dict[str, Any] | None = None
    iso: dict[str, Any] | None = None
    other: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def iso_limits(self) -> tuple[float, float, float] | None:
        """Zone limits A/B, B/C, C/D in mm/s chosen at export, or None (no zone)."""
        if not self.iso or self.iso.get("group") is None:
            return None
        a, b, c = (float(v) for v in self.iso["limits_mm_s"])
        return a, b, c

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Manifest:
        """Check and type a manifest document.

        Raises
        ------
        ExportError
            A missing or malformed section (the message names it).
        """
        if not isinstance(doc, Mapping):
            raise ExportError(f"bundle manifest must be a JSON object, got {type(doc).__name__}")
        section = "feature_config"
        try:
            config = FeatureConfig.from_dict(doc["feature_config"])
            section = "scaler"
            mean = tuple(float(v) for v in doc["scaler"]["mean"])
            scale = tuple(float(v) for v in doc["scaler"]["scale"])
            if len(mean) != config.n_features or len(scale) != config.n_features:
                raise ValueError(
                    f"{config.n_features} features, got {len(mean)} means and {len(scale)} scales"
                )
            section = "threshold"
            threshold = float(doc["threshold"])
            if not (math.isfinite(threshold) and threshold > 0):
                raise ValueError(f"must be > 0, got {threshold!r}")
            section = "alarm_policy"
            policy = AlarmPolicy.from_dict(doc["alarm_policy"])
            section = "sample_scale"
            sample_scale = float(doc["sample_scale"])
            if not (math.isfinite(sample_scale) and sample_scale > 0):
                raise ValueError(f"must be > 0, got {sample_scale!r}")
            section = "units"
            units = doc.get("units")
            if units is not None and not isinstance(units, str):
                raise ValueError(f"must be a string, got {units!r}")
            section = "model.sha256"
            sha = doc["model"]["sha256"]
            if not isinstance(sha, str):
                raise ValueError(f"must be a string, got {sha!r}")
            section = "files"
            files = dict(doc["files"])
            for rel, digest in files.items():
                if not isinstance(rel, str) or not isinstance(digest, str):
                    raise ValueError(f"entries must be strings, got {rel!r}: {digest!r}")
            speed = _optional_section(doc, section := "speed")
            estimator_doc = _optional_section(doc, section := "speed_estimator")
            estimator = None if estimator_doc is None else SpeedConfig.from_dict(estimator_doc)
            scoring = _optional_section(doc, section := "scoring")
            iso = _optional_section(doc, section := "iso")
            if iso is not None and iso.get("group") is not None:
                section = "iso.limits_mm_s"
                if len([float(v) for v in iso["limits_mm_s"]]) != 3:
                    raise ValueError(f"3 limits, got {iso['limits_mm_s']!r}")
        except ExportError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ExportError(f"bundle manifest: bad {section}: {exc!r}") from None
        return cls(
            feature_config=config,
            feature_mean=mean,
            feature_scale=scale,
            threshold=threshold,
            alarm_policy=policy,
            sample_scale=sample_scale,
            units=units,
            model_sha256=sha,
            files=files,
            speed=speed,
            speed_estimator=estimator,
            scoring=scoring,
            iso=iso,
            # an optional section written as null stays null
            other={
                k: v
                for k, v in doc.items()
                if k not in _TYPED_KEYS or (k in _OPTIONAL_KEYS and v is None)
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest document (:meth:`from_dict` inverts it)."""
        doc = dict(self.other)
        doc["model"] = {**doc.get("model", {}), "sha256": self.model_sha256}
        doc["feature_config"] = self.feature_config.to_dict()
        doc["scaler"] = {"mean": list(self.feature_mean), "scale": list(self.feature_scale)}
        doc["threshold"] = self.threshold
        doc["alarm_policy"] = self.alarm_policy.to_dict()
        doc["sample_scale"] = self.sample_scale
        if self.units is not None:
            doc["units"] = self.units
        doc["files"] = dict(self.files)
        for key, value in (
            ("speed", self.speed),
            ("speed_estimator", self.speed_estimator and self.speed_estimator.to_dict()),
            ("scoring", self.scoring),
            ("iso", self.iso),
        ):
            if value is not None:
                doc[key] = value
        return doc


@dataclass(frozen=True, eq=False)
class Bundle:
    """A bundle on disk, checked (:func:`load_bundle`).

    Attributes
    ----------
    path : Path
    manifest : dict
        ``manifest.json`` as read.
    meta : Manifest
        The same, typed.
    model : Int8Model
        Parsed from ``model_int8.tflite``.
    """

    path: Path
    manifest: dict[str, Any] = field(repr=False)
    model: Int8Model = field(repr=False)
    #: The manifest, typed (:class:`Manifest`; the properties below read it).
    meta: Manifest = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", Manifest.from_dict(self.manifest))

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
        return self.meta.feature_config

    @property
    def feature_mean(self) -> list[float]:
        return list(self.meta.feature_mean)

    @property
    def feature_scale(self) -> list[float]:
        return list(self.meta.feature_scale)

    @property
    def threshold(self) -> float:
        return self.meta.threshold

    @property
    def alarm_policy(self) -> AlarmPolicy:
        return self.meta.alarm_policy

    @property
    def sample_scale(self) -> float:
        return self.meta.sample_scale

    @property
    def units(self) -> str:
        return self.meta.units if self.meta.units is not None else "g"

    @property
    def iso_limits(self) -> tuple[float, float, float] | None:
        """Zone limits A/B, B/C, C/D in mm/s chosen at export, or None (no zone)."""
        return self.meta.iso_limits

    @property
    def speed_config(self) -> SpeedConfig:
        """The tachless speed estimator's constants the C was generated with (bundles
        without ``speed_estimator`` were made with the defaults)."""
        estimator = self.meta.speed_estimator
        return estimator if estimator is not None else SpeedConfig()


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

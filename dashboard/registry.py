"""The model registry: the model directories and firmware bundles under one folder.

``tinypdm dashboard --models DIR`` points here. ``DIR`` (or any folder up to two levels
below it) is

* a **model directory** when it holds ``model.json`` (``tinypdm train``); its training
  report is the ``report.md`` and ``*.png`` in it or in its ``report/`` sub-folder
  (``tinypdm evaluate --report``);
* a **bundle** when it holds ``manifest.json`` (``tinypdm export``).

A sensor's HELLO carries the SHA-256 of the ``.tflite`` it runs, so the registry hashes
every ``*.tflite`` it finds (files are small) instead of trusting a manifest's format.

Which model a sensor *should* run: ``DIR/fleet.json`` may pin one per sensor or asset,
``{"expected": {"pump-3": "bundle-name-or-sha256", ...}}`` (sensor name first, then
asset); without a pin the expected model is the newest bundle in the registry.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vibration.fileio import sha256_file

__all__ = [
    "ModelCheck",
    "Registry",
    "RegistryEntry",
    "check_model",
    "scan_registry",
]

_ZERO_HASH = "0" * 64
_IMAGE_LINK = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)
_MAX_DEPTH = 2
_MAX_JSON_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class RegistryEntry:
    """One model directory or bundle.

    Attributes
    ----------
    name : str
        Path relative to the registry root (``"."`` for the root itself).
    kind : {"model", "bundle"}
    tflite_sha256 : tuple of str
        SHA-256 (hex) of every ``.tflite`` file in the folder.
    info : dict
        The parsed ``model.json`` or ``manifest.json`` (empty when unreadable).
    report_md : Path or None
        The evaluation report, when there is one.
    plots : tuple of Path
        PNG plots of the report.
    mtime : float
        Modification time of the JSON file (the registry's notion of "newest").
    error : str
        Why the JSON could not be read ("" when fine).
    """

    name: str
    path: Path
    kind: str
    tflite_sha256: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    report_md: Path | None = None
    plots: tuple[Path, ...] = ()
    mtime: float = 0.0
    error: str = ""

    def report_text(self, max_bytes: int = 256 * 1024, *, demote: int = 2) -> str:
        """The report's markdown without image links (the page shows the PNGs itself),
        headings moved ``demote`` levels down so they sit under the page's own."""
        if self.report_md is None:
            return ""
        try:
            with self.report_md.open("rb") as fh:
                text = fh.read(max_bytes).decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(cannot read {self.report_md.name}: {exc})"
        text = _IMAGE_LINK.sub("", text)
        # Whatever image syntax is left (reference style, nested brackets) stays text:
        # the browser must not fetch anything a report names.
        text = text.replace("![", "\\![")
        if demote:
            text = _HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + demote) + " ", text)
        return text

    def metrics(self) -> dict[str, float | int | str]:
        """Flat ``{"a.b": scalar}`` view of the scalars in the entry's JSON (for a table)."""
        out: dict[str, float | int | str] = {}
        _flatten(self.info, "", out, depth=0)
        return out


def _flatten(obj: Any, prefix: str, out: dict[str, float | int | str], depth: int) -> None:
    if depth > 4 or len(out) > 200:
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _flatten(v, f"{prefix}{k}.", out, depth + 1)
        return
    key = prefix[:-1]
    if isinstance(obj, bool):
        out[key] = str(obj).lower()
    elif isinstance(obj, int):
        out[key] = obj
    elif isinstance(obj, str):
        out[key] = obj[:200]
    elif isinstance(obj, float) and math.isfinite(obj):
        out[key] = obj


@dataclass(frozen=True)
class ModelCheck:
    """Verdict on the model a sensor reports.

    ``status`` is one of ``"ok"`` (the expected model), ``"outdated"`` (a registered model
    that is not the expected one), ``"unknown"`` (not in the registry), ``"no model"``
    (all-zero hash), ``"unchecked"`` (no registry given or the sensor sent no hash).
    """

    status: str
    entry: RegistryEntry | None = None
    expected: RegistryEntry | None = None

    @property
    def flagged(self) -> bool:
        return self.status in ("outdated", "unknown", "no model")


@dataclass(frozen=True)
class Registry:
    """All entries found under ``root`` plus the optional pins of ``fleet.json``."""

    root: Path | None
    entries: tuple[RegistryEntry, ...] = ()
    pins: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    error: str = ""

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def by_hash(self, sha256: str) -> RegistryEntry | None:
        """The entry whose ``.tflite`` has this SHA-256 (bundles before model dirs)."""
        h = sha256.lower()
        hits = [e for e in self.entries if h in e.tflite_sha256]
        hits.sort(key=lambda e: (e.kind != "bundle", -e.mtime))
        return hits[0] if hits else None

    def by_name(self, name: str) -> RegistryEntry | None:
        for e in self.entries:
            if name in (e.name, e.path.name):
                return e
        return None

    def problems(self) -> list[str]:
        """One line per entry that cannot be used (unreadable JSON ...): pages warn with them."""
        return [f"{e.name}: {e.error}" for e in self.entries if e.error]

    def newest_bundle(self) -> RegistryEntry | None:
        bundles = [e for e in self.entries if e.kind == "bundle" and e.tflite_sha256]
        return max(bundles, key=lambda e: (e.mtime, e.name)) if bundles else None

    def expected_for(self, sensor: str, asset: str = "") -> RegistryEntry | None:
        """The entry a sensor should run: its pin (sensor, then asset), else the newest bundle."""
        for key in (sensor, asset):
            pin = self.pins.get(key) if key else None
            if pin:
                return self.by_name(pin) or self.by_hash(pin)
        return self.newest_bundle()


def check_model(
    registry: Registry | None, model_hash: str, sensor: str, asset: str = ""
) -> ModelCheck:
    """Compare the model hash a sensor reports with the registry (see :class:`ModelCheck`)."""
    h = (model_hash or "").strip().lower()
    if registry is None or registry.root is None or not h:
        return ModelCheck("unchecked")
    if h == _ZERO_HASH:
        return ModelCheck("no model", expected=registry.expected_for(sensor, asset))
    entry = registry.by_hash(h)
    expected = registry.expected_for(sensor, asset)
    if entry is None:
        return ModelCheck("unknown", expected=expected)
    if expected is None or h in expected.tflite_sha256:
        return ModelCheck("ok", entry=entry, expected=expected)
    return ModelCheck("outdated", entry=entry, expected=expected)


def _read_json(path: Path) -> tuple[dict[str, Any], str]:
    try:
        if path.stat().st_size > _MAX_JSON_BYTES:
            return {}, f"{path.name} is larger than {_MAX_JSON_BYTES} bytes"
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError, int too long
        return {}, f"cannot read {path.name}: {exc}"
    except RecursionError:
        return {}, f"cannot read {path.name}: nested too deeply"
    if not isinstance(data, dict):
        return {}, f"{path.name} is not a JSON object"
    return data, ""


def _entry(root: Path, folder: Path) -> RegistryEntry | None:
    if (folder / "manifest.json").is_file():
        kind, meta = "bundle", folder / "manifest.json"
    elif (folder / "model.json").is_file():
        kind, meta = "model", folder / "model.json"
    else:
        return None
    info, error = _read_json(meta)
    tflites = sorted(p for p in folder.rglob("*.tflite") if p.is_file())
    hashes: list[str] = []
    for p in tflites:
        try:
            hashes.append(sha256_file(p))
        except OSError as exc:
            error = error or f"cannot read {p.name}: {exc}"
    report_dir = folder / "report" if (folder / "report" / "report.md").is_file() else folder
    report_md = report_dir / "report.md"
    plots = tuple(sorted(p for p in report_dir.glob("*.png") if p.is_file()))
    name = folder.relative_to(root).as_posix() or "."
    return RegistryEntry(
        name=name,
        path=folder,
        kind=kind,
        tflite_sha256=tuple(hashes),
        info=info,
        report_md=report_md if report_md.is_file() else None,
        plots=plots,
        mtime=meta.stat().st_mtime,
        error=error,
    )


def scan_registry(root: str | os.PathLike[str] | None) -> Registry:
    """Find the model directories and bundles under ``root`` (two levels deep at most).

    ``root=None`` gives an empty registry (no model checks). A missing or unreadable
    ``root`` gives an empty registry whose ``error`` says why: the dashboard shows it
    rather than failing.
    """
    if root is None:
        return Registry(root=None)
    base = Path(root)
    if not base.is_dir():
        return Registry(root=base, error=f"model registry {str(base)!r} is not a directory")
    entries: list[RegistryEntry] = []
    frontier = [base]
    for depth in range(_MAX_DEPTH + 1):
        nxt: list[Path] = []
        for folder in frontier:
            entry = _entry(base, folder)
            if entry is not None:
                entries.append(entry)
                continue  # do not descend into a model dir or bundle
            if depth < _MAX_DEPTH:
                try:
                    nxt.extend(sorted(p for p in folder.iterdir() if p.is_dir()))
                except OSError:
                    continue
        frontier = nxt
    pins: dict[str, str] = {}
    error = ""
    fleet = base / "fleet.json"
    if fleet.is_file():
        data, error = _read_json(fleet)
        expected = data.get("expected", {})
        if isinstance(expected, dict):
            pins = {str(k): str(v) for k, v in expected.items()}
        elif not error:
            error = "fleet.json: 'expected' must be an object of name -> model"
    return Registry(root=base, entries=tuple(entries), pins=pins, error=error)

"""Export a model directory as a firmware bundle; load and verify bundles.

A bundle (``tinypdm export MODEL_DIR --out BUNDLE``)::

    BUNDLE/
      manifest.json          format, model identity, config, quantisation, TFLM info, sizes,
                             instructions per window, parity ladder, SHA-256 of every file
      model_int8.tflite      the int8 model (the source of every generated C constant)
      README.md
      library.properties     Arduino library (the bundle directory is one)
      library.json           PlatformIO library
      src/                   C99: the tinypdm library, tinypdm.h, and the generated
                             tinypdm_model_config.h, model_data.h/.c, model_tflite.h/.c,
                             tinypdm_golden.h/.c
      examples/tinypdm_sensor/tinypdm_sensor.ino
      tflm/README.md         for TFLM users: ops for MicroMutableOpResolver, arena size
      test/golden_check.c    self-test on any target: golden windows -> expected outputs
      reference/             the model directory's files, model_float.tflite and the
                             features of the --data windows (verify)

The bundle is built in a temporary sibling directory and renamed into place only when
every parity rung passed: a failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from firmware_export.errors import ExportError, ParityError
from firmware_export.exporter.codegen import TARGETS, FirmwareSpec, GoldenVectors
from firmware_export.exporter.parity import ParityStream, RungResult
from firmware_export.exporter.ranges import DEFAULT_FACTORS, RangeChoice
from firmware_export.runtime.bundle import (
    _MANIFEST,
    _TFLITE,
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    Bundle,
    load_bundle,
)
from firmware_export.runtime.library import BIT_EXACT_FLAGS, REQUIRED_FLAGS, generated_banner
from firmware_export.runtime.scorer import Standardisation
from firmware_export.runtime.tflite_model import Int8Model, read_tflite
from vibration.acquisition.serial_link import DEFAULT_BAUD
from vibration.fileio import replace_dir, sha256_file
from vibration.learning.features import FeatureConfig
from vibration.learning.severity import FOUNDATIONS, ISO_10816_3_LIMITS, ISO_BAND_HZ
from vibration.learning.speed import SpeedConfig

if TYPE_CHECKING:
    from firmware_export.runtime.host_build import HostLibrary
    from vibration.learning.model_dir import TrainedModel

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "Bundle",
    "ExportOptions",
    "export_bundle",
    "load_bundle",
    "verify_bundle",
]

_FLOAT = "reference/model_float.tflite"
_PARITY_FEATURES = "reference/parity_features.npy"
_MODEL_FILES = ("model.json", "model.keras", "weights.npz", "calibration.npy", "features.npy")
# Copied when present: per-window speeds and hold-out flags of speed-aware models.
_OPTIONAL_MODEL_FILES = ("windows.npz",)
_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportOptions:
    """How ``tinypdm export`` builds a bundle.

    Parameters
    ----------
    target : {"cortex-m4", "cortex-m0plus", "host"}
        The MCU the bundle is for (written into the header; the Cortex-M4 build is the
        one measured for ``sizes`` and ``instructions_per_window``).
    sample_scale : float or None
        Default physical units per LSB of the int16 samples (``TINYPDM_SAMPLE_SCALE``);
        None: the datasets' common scale, else 0.001.
    units : str or None
        Physical units; None: the datasets', else ``"g"``.
    version : str or None
        Model version (<= 15 ASCII chars); None: ``YYYYMMDD.<sha256[:6]>``.
    per_channel : bool
        Per-channel weight scales.
    range_factors : tuple of float
        Activation range factors tried per tensor (:mod:`firmware_export.exporter.ranges`).
    measure : bool
        Build and run the Cortex-M4 image (arm-none-eabi-gcc, QEMU) for sizes and
        instructions; figures are null with a reason when the tools are missing.
    max_windows : int
        Windows per recording segment used by the parity ladder.
    iso_group : {1, 2} or None
        ISO 10816-3 machine group for the on-device velocity zone; None: no zone.
    foundation : {"rigid", "flexible"}
        Foundation of the machine (with ``iso_group``).
    """

    target: str = "cortex-m4"
    sample_scale: float | None = None
    units: str | None = None
    version: str | None = None
    per_channel: bool = True
    range_factors: tuple[float, ...] = DEFAULT_FACTORS
    measure: bool = True
    max_windows: int = 400
    iso_group: int | None = None
    foundation: str = "rigid"

    def __post_init__(self) -> None:
        if self.iso_group is not None and self.iso_group not in (1, 2):
            raise ValueError(f"iso_group must be 1 or 2, got {self.iso_group!r}")
        if self.foundation not in FOUNDATIONS:
            raise ValueError(f"foundation must be one of {FOUNDATIONS}, got {self.foundation!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.sample_scale is not None and not (
            math.isfinite(self.sample_scale) and self.sample_scale > 0
        ):
            raise ValueError(f"sample_scale must be > 0, got {self.sample_scale!r}")
        if self.max_windows < 1:
            raise ValueError(f"max_windows must be >= 1, got {self.max_windows!r}")
        if self.version is not None and not re.fullmatch(r"[A-Za-z0-9._+-]{1,15}", self.version):
            raise ValueError(
                f"version must be 1..15 characters of [A-Za-z0-9._+-], got {self.version!r}"
            )
        if self.units is not None and not re.fullmatch(r"[A-Za-z0-9/._^-]{1,7}", self.units):
            raise ValueError(f"units must be 1..7 plain ASCII characters, got {self.units!r}")


# ------------------------------------------------------------------------------ helpers


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _default_version(created_at: str, sha256: str) -> str:
    day = re.sub(r"[^0-9]", "", created_at)[:8] or "0"
    return f"{day}.{sha256[:6]}"


def _common(values: Sequence[Any], default: Any) -> Any:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else default


def _synthetic_stream(config: FeatureConfig, scale: float) -> Any:
    """A deterministic raw stream: noise, tones, impacts, silence (rung 4 without data)."""
    from firmware_export.exporter.parity import ParityStream
    from firmware_export.exporter.signals import synthetic_windows

    # Amplitudes in LSB chosen for physical values of order 0.01..1 units.
    amplitude = float(np.clip(0.3 / scale, 50.0, 8000.0))
    windows = synthetic_windows(config, 24, seed=11, amplitude=amplitude)
    return ParityStream("synthetic", windows.reshape(-1), scale, synthetic=True)


def _golden(host: Any, model_tflite: bytes, config: FeatureConfig, scale: float) -> GoldenVectors:
    from firmware_export.exporter.signals import synthetic_windows
    from firmware_export.runtime.interpreters import tflm_invoke

    amplitude = float(np.clip(0.3 / scale, 50.0, 8000.0))
    windows = synthetic_windows(config, 4, seed=5, amplitude=amplitude)
    feats, _ = host.features(windows.astype(np.float32) * np.float32(scale))
    trace = host.score_features(feats)
    q_out = tflm_invoke(model_tflite, trace.q_in)
    return GoldenVectors(windows=windows, q_in=trace.q_in, q_out=q_out, scores=trace.scores)


def _arduino_files(root: Path, spec: FirmwareSpec, version: str, banner: str) -> None:
    from vibration.learning.model_dir import tinypdm_version

    lib_version = re.sub(r"[^0-9.]", "", tinypdm_version()) or "0.0.0"
    (root / "src" / "tinypdm.h").write_text(
        f"{banner}\n/** @file tinypdm.h\n * @brief Everything a sketch needs. */\n"
        "#ifndef TINYPDM_H\n#define TINYPDM_H\n\n#include <string.h>\n\n"
        '#include "tinypdm_frame.h"\n#include "tinypdm_pipeline.h"\n\n#endif /* TINYPDM_H */\n',
        encoding="ascii",
    )
    (root / "library.properties").write_text(
        "name=tinypdm\n"
        f"version={lib_version}\n"
        "author=tinypdm export\n"
        "maintainer=tinypdm export\n"
        "sentence=On-device vibration anomaly scoring (int8 autoencoder) for rotating machines.\n"
        f"paragraph=Model {version} ({spec.model.sha256[:12]}), window {spec.feature_config.window}"
        f" at {spec.feature_config.sample_rate:g} Hz, target {spec.target}.\n"
        "category=Data Processing\n"
        "url=https://github.com/tinypdm/tinypdm\n"
        "architectures=*\n"
        "includes=tinypdm.h\n",
        encoding="ascii",
    )
    library_json = {
        "name": "tinypdm",
        "version": lib_version,
        "description": f"tinypdm model {version}: on-device vibration anomaly scoring (int8).",
        "keywords": ["tinyml", "predictive-maintenance", "vibration", "int8"],
        "frameworks": "*",
        "platforms": "*",
        "build": {"srcDir": "src", "includeDir": "src", "flags": list(BIT_EXACT_FLAGS)},
        "export": {"include": ["src", "examples", "library.properties", "library.json"]},
    }
    (root / "library.json").write_text(json.dumps(library_json, indent=2) + "\n", "ascii")
    example = root / "examples" / "tinypdm_sensor"
    example.mkdir(parents=True)
    sketch = (_TEMPLATES / "tinypdm_sensor.ino").read_text("ascii")
    (example / "tinypdm_sensor.ino").write_text(
        sketch.replace(
            "// @GENERATED@", generated_banner(_TFLITE, spec.model.sha256, comment="line")
        ).replace("@BAUD@", str(DEFAULT_BAUD)),
        encoding="ascii",
    )


def _tflm_readme(root: Path, spec: FirmwareSpec, arena: int) -> None:
    from firmware_export.exporter.tflm_info import resolver_snippet

    ops = spec.model.ops
    text = (
        "# Using the model with TensorFlow Lite Micro\n\n"
        f"`../{_TFLITE}` (also `../src/model_tflite.c`, symbol `tinypdm_model_tflite`) is a "
        "full-integer model: int8 input and output.\n\n"
        f"* ops: {', '.join(ops)} (a `MicroMutableOpResolver<{len(ops)}>`)\n"
        f"* tensor arena: {arena} bytes, measured with the tflite-micro interpreter on a 64-bit "
        "host (an upper bound for 32-bit MCUs)\n"
        f"* input: {spec.model.n_inputs} int8, scale {spec.model.input_scale:.9g}, zero point "
        f"{spec.model.input_zero_point}: standardised features"
        f"{' clipped to [0, z_max] (one-sided)' if spec.one_sided else ''} (docs/features.md)\n"
        f"* output: {spec.model.n_outputs} int8, scale {spec.model.output_scale:.9g}, zero point "
        f"{spec.model.output_zero_point}\n\n"
        "```cpp\n" + resolver_snippet(ops, arena) + "```\n\n"
        "The tinypdm C library in `../src` runs the same model without TFLM, bit-exactly "
        "(parity rung 3 in `../manifest.json`).\n"
    )
    (root / "tflm").mkdir()
    (root / "tflm" / "README.md").write_text(text, encoding="utf-8")


def _readme(root: Path, manifest: dict[str, Any]) -> None:
    m = manifest
    rungs = "\n".join(
        f"| {r['rung']} | {r['name']} | {'passed' if r['passed'] else 'FAILED'} |"
        for r in m["parity"]
    )
    sizes = m["sizes"]
    size_line = (
        f"{sizes['flash_bytes']} bytes of flash, {sizes['ram_bytes']} bytes of RAM "
        f"({sizes['target']})"
        if sizes.get("flash_bytes") is not None
        else f"not measured: {sizes.get('reason')}"
    )
    text = (
        f"# tinypdm firmware bundle: model {m['model']['version']}\n\n"
        f"Generated by `tinypdm export` from `{m['model']['source']}` on {m['created_at']}. "
        "Do not edit the generated files: export again.\n\n"
        f"* model: `{_TFLITE}`, SHA-256 `{m['model']['sha256']}`\n"
        f"* target: {m['target']}; window {m['feature_config']['window']} samples at "
        f"{m['feature_config']['sample_rate']:g} Hz, hop {m['feature_config']['hop']}\n"
        f"* size: {size_line}\n\n"
        "## Use\n\n"
        "* Arduino / PlatformIO: this directory is a library (`library.properties`, "
        "`library.json`); see `examples/tinypdm_sensor`.\n"
        "* Any C99 toolchain: compile `src/*.c`, include `tinypdm_pipeline.h` and "
        "`tinypdm_frame.h`.\n"
        "* TensorFlow Lite Micro: `tflm/README.md`.\n"
        "* Self-test on a target: `test/golden_check.c` (host: `cc -std=c99 -O2 -Isrc "
        "test/golden_check.c src/[a-z]*.c -lm && ./a.out`).\n"
        "* Check the bundle: `tinypdm verify BUNDLE [DATASET...]`.\n\n"
        "## Parity ladder\n\n| rung | check | result |\n|---|---|---|\n" + rungs + "\n"
    )
    (root / "README.md").write_text(text, encoding="utf-8")


def _measure(src_dir: Path, progress: Progress | None) -> _Figures:
    """Flash, RAM and instructions per window of the Cortex-M4 build.

    :func:`firmware_export.firmware.measure_pipeline` builds the ``pipeline`` image with
    arm-none-eabi-gcc and runs it under QEMU (``-icount shift=0``); without those tools
    the figures are null and ``reason`` says why.
    """
    try:
        from firmware_export import firmware
    except ImportError as exc:  # the firmware package is optional at run time
        return _Figures.unmeasured(f"firmware build module unavailable: {exc}")
    if not firmware.toolchain_available():
        return _Figures.unmeasured("arm-none-eabi-gcc not found (Debian gcc-arm-none-eabi)")
    if not firmware.qemu_available():
        return _Figures.unmeasured("qemu-system-arm not found (Debian qemu-system-arm)")
    _say(progress, "building the Cortex-M4 image and running it under QEMU")
    try:
        measured = firmware.measure_pipeline(src_dir)
    except (ExportError, OSError) as exc:
        return _Figures.unmeasured(f"Cortex-M4 measurement failed: {exc}")
    return _Figures(
        sizes={
            "target": "cortex-m4",
            "flash_bytes": int(measured.flash_bytes),
            "ram_bytes": int(measured.ram_bytes),
            "static_ram_bytes": int(measured.sizes.static_ram),
            "stack_bytes": int(measured.stack_bytes),
            "reason": None,
        },
        instructions_per_window=round(measured.instructions_per_window),
        instructions_per_stage={
            "features": int(measured.features_instructions),
            "score": int(measured.score_instructions),
        },
    )


def _check_out(out: Path) -> None:
    if not out.exists():
        return
    if out.is_dir() and ((out / _MANIFEST).is_file() or not any(out.iterdir())):
        return
    raise ExportError(f"{str(out)!r} exists and is not a firmware bundle; not replacing it")


# ------------------------------------------------------------------------------ export


def export_bundle(
    model_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    data: Sequence[str | os.PathLike[str]] = (),
    options: ExportOptions | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Quantise a model directory, generate its firmware bundle and check it.

    Parameters
    ----------
    model_dir : path
        A model directory (``tinypdm train``).
    out : path
        The bundle directory; a previous bundle there is replaced, anything else refused.
    data : sequence of path
        Datasets or recordings for the parity ladder (and the choice of int8 ranges); the
        model's own normal windows and a synthetic stream are always used.
    options : ExportOptions
    progress : callable, optional
        Called with a short message at each step.

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    ModelError
        Missing or damaged model directory; datasets at another sample rate.
    ExportError
        Unsupported model, no C compiler, ``out`` is not a bundle.
    ParityError
        A parity rung failed (nothing is written).
    """
    opts = options or ExportOptions()
    out_path = Path(out)
    _check_out(out_path)
    if shutil.which("gcc") is None:
        raise ExportError("gcc not found: the parity ladder compiles the C library for this host")
    inputs = _load_inputs(model_dir, data, opts, progress)
    quantised = _quantise(inputs, opts, progress)
    firmware = _firmware_spec(inputs, quantised, opts)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent))
    try:
        host = _generate_sources(tmp, inputs, quantised, firmware.spec, progress)
        rungs = _run_ladder(host, inputs, quantised, firmware.spec, progress)
        for build in (".build1", ".build2"):
            shutil.rmtree(tmp / build, ignore_errors=True)
        _write_files(tmp, inputs, quantised, firmware.spec)
        figures = _measure(tmp / "src", progress) if opts.measure else _Figures.skipped()
        manifest = _manifest(inputs, quantised, firmware, opts, figures, rungs)
        _write_bundle(tmp, manifest)
        replace_dir(tmp, out_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result: dict[str, Any] = _jsonable(manifest)
    return result


@dataclass(frozen=True, eq=False)
class _Inputs:
    """What the export reads: the model directory and the ``--data`` streams."""

    model_dir: Path
    data: tuple[str, ...]
    trained: TrainedModel
    std: Standardisation
    #: Float32 feature mean and scale (the firmware's constants).
    mean32: NDArray[np.float32]
    scale32: NDArray[np.float32]
    sample_scale: float
    units: str
    #: The ``--data`` streams and the synthetic stream (last).
    streams: list[ParityStream]
    normal: NDArray[np.float64]
    normal_rpm: NDArray[np.float64]
    #: Features of the ``--data`` windows, one array per non-synthetic stream.
    extra: list[NDArray[np.float64]]

    @property
    def config(self) -> FeatureConfig:
        return self.trained.feature_config


@dataclass(frozen=True, eq=False)
class _Quantised:
    """The int8 model chosen, its float twin and what TFLM needs to run it."""

    choice: RangeChoice
    int8_blob: bytes
    float_blob: bytes
    model: Int8Model
    arena: int


@dataclass(frozen=True, eq=False)
class _Firmware:
    """The generated C's constants and when the export made them."""

    spec: FirmwareSpec
    created_at: str

    @property
    def version(self) -> str:
        return self.spec.model_version


@dataclass(frozen=True)
class _Figures:
    """Cortex-M4 build figures (``sizes``, instructions); null with a reason if unmeasured."""

    sizes: dict[str, Any]
    instructions_per_window: int | None = None
    instructions_per_stage: dict[str, int] | None = None

    @classmethod
    def unmeasured(cls, reason: str) -> _Figures:
        sizes = dict.fromkeys(("flash_bytes", "ram_bytes", "static_ram_bytes", "stack_bytes"), None)
        return cls(sizes={"target": "cortex-m4", **sizes, "reason": reason})

    @classmethod
    def skipped(cls) -> _Figures:
        return cls(
            sizes={
                "target": "cortex-m4",
                "flash_bytes": None,
                "ram_bytes": None,
                "reason": "skipped (--no-measure)",
            }
        )


def _load_inputs(
    model_dir: str | os.PathLike[str],
    data: Sequence[str | os.PathLike[str]],
    opts: ExportOptions,
    progress: Progress | None,
) -> _Inputs:
    from firmware_export.exporter.parity import load_streams
    from vibration.learning.features import frame_windows, window_features
    from vibration.learning.model_dir import load_model_dir

    _say(progress, f"loading {model_dir}")
    trained = load_model_dir(model_dir)
    det = trained.detector
    config = trained.feature_config
    std = _standardisation(det)
    streams = load_streams(list(data), config, opts.max_windows) if data else []
    recs = _data_meta(data) if data else []
    sample_scale = opts.sample_scale or _common([r["scale"] for r in recs], 0.001)
    units = opts.units or _common([r["units"] for r in recs], "g")
    streams.append(_synthetic_stream(config, sample_scale))
    normal = trained.normal_features()
    extra = [
        window_features(frame_windows(s.physical(), config), config)
        for s in streams
        if not s.synthetic
    ]
    return _Inputs(
        model_dir=Path(model_dir),
        data=tuple(str(p) for p in data),
        trained=trained,
        std=std,
        mean32=np.asarray(det.mean_, np.float32),
        scale32=np.asarray(det.scale_, np.float32),
        sample_scale=sample_scale,
        units=units,
        streams=streams,
        normal=normal,
        normal_rpm=_normal_speeds(trained, len(normal)),
        extra=extra,
    )


def _quantise(inputs: _Inputs, opts: ExportOptions, progress: Progress | None) -> _Quantised:
    """Choose int8 activation ranges on the normal and ``--data`` windows."""
    from firmware_export.exporter.quantize import QuantConfig, convert_float
    from firmware_export.exporter.ranges import search_ranges
    from firmware_export.exporter.tflm_info import tflm_arena_bytes

    det = inputs.trained.detector
    std = inputs.std
    extra_rpm = [_stream_speeds(len(e), std) for e in inputs.extra]
    eval_features = np.concatenate([inputs.normal, *inputs.extra])
    eval_rpm = np.concatenate([inputs.normal_rpm, *extra_rpm])
    _say(progress, "quantising to int8 (choosing activation ranges)")
    choice = search_ranges(
        det.model_,
        inputs.trained.calibration(),
        eval_features,
        n_normal=len(inputs.normal),
        float_scores=_float_scores(det, eval_features, eval_rpm, std),
        mean=inputs.mean32.astype(np.float64),
        scale=inputs.scale32.astype(np.float64),
        threshold=float(np.float32(inputs.trained.threshold)),
        factors=opts.range_factors,
        config=QuantConfig(per_channel=opts.per_channel),
        standardisation=std,
        speed_rpm=eval_rpm,
    )
    int8_blob = choice.tflite
    return _Quantised(
        choice=choice,
        int8_blob=int8_blob,
        float_blob=convert_float(det.model_),
        model=read_tflite(int8_blob, _TFLITE),
        arena=tflm_arena_bytes(int8_blob),
    )


def _firmware_spec(inputs: _Inputs, q: _Quantised, opts: ExportOptions) -> _Firmware:
    """Everything the generated C holds (the model version defaults to today's date)."""
    trained = inputs.trained
    std = inputs.std
    policy = trained.alarm_policy
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        spec = FirmwareSpec(
            model=q.model,
            feature_config=inputs.config,
            feature_mean=tuple(inputs.mean32.tolist()),
            feature_scale=tuple(inputs.scale32.tolist()),
            threshold=float(trained.threshold),
            alarm_k=policy.k,
            alarm_n=policy.n,
            alarm_clear_ratio=policy.clear_ratio,
            alarm_clear_windows=policy.clear_windows,
            alarm_min_on_windows=policy.min_on_windows,
            alarm_latch=policy.latch,
            iso_group=opts.iso_group,
            foundation=opts.foundation,
            sample_scale=float(inputs.sample_scale),
            units=inputs.units,
            model_version=opts.version or _default_version(created, q.model.sha256),
            source_name=_TFLITE,
            target=opts.target,
            tflm_arena_bytes=q.arena,
            feature_slope=tuple(std.slopes.tolist()),
            speed_u0=std.u0,
            speed_envelope=std.envelope,
            one_sided=std.one_sided,
            z_max=std.z_max,
            speed=_speed_config(trained.detector),
        )
    except ValueError as exc:
        raise ExportError(f"cannot generate firmware: {exc}") from None
    return _Firmware(spec=spec, created_at=created)


def _generate_sources(
    tmp: Path, inputs: _Inputs, q: _Quantised, spec: FirmwareSpec, progress: Progress | None
) -> HostLibrary:
    """Write ``src/`` (golden vectors computed by a first host build) and build it here."""
    from firmware_export.exporter.sources import write_c_sources
    from firmware_export.runtime.host_build import HostLibrary, build_host_library

    _say(progress, "generating C and building it for this host")
    src = tmp / "src"
    write_c_sources(src, spec, tflite=q.int8_blob)
    first = HostLibrary(build_host_library(src, tmp / ".build1"))
    golden = _golden(first, q.int8_blob, inputs.config, inputs.sample_scale)
    write_c_sources(src, spec, tflite=q.int8_blob, golden=golden)
    return HostLibrary(build_host_library(src, tmp / ".build2"))


def _run_ladder(
    host: HostLibrary,
    inputs: _Inputs,
    q: _Quantised,
    spec: FirmwareSpec,
    progress: Progress | None,
) -> list[RungResult]:
    """Every parity rung, all passed (else :class:`ParityError` on the first failure)."""
    from firmware_export.exporter.parity import run_ladder

    _say(progress, "running the parity ladder")
    trained = inputs.trained
    rungs = run_ladder(
        host=host,
        keras_model=trained.detector.model_,
        detector=trained.detector,
        float_tflite=q.float_blob,
        int8_tflite=q.int8_blob,
        model=q.model,
        config=inputs.config,
        mean=inputs.mean32,
        scale=inputs.scale32,
        threshold=float(trained.threshold),
        policy=trained.alarm_policy,
        features=inputs.normal,
        streams=inputs.streams,
        standardisation=inputs.std,
        speeds=inputs.normal_rpm,
        speed=spec.speed,
    )
    failed = [r for r in rungs if not r.passed]
    if failed:
        raise ParityError(_parity_message(failed[0]))
    return rungs


def _write_files(tmp: Path, inputs: _Inputs, q: _Quantised, spec: FirmwareSpec) -> None:
    """The model files, the references, the Arduino/PlatformIO library, TFLM notes and the
    golden self-test (everything but the README and the manifest)."""
    (tmp / _TFLITE).write_bytes(q.int8_blob)
    ref = tmp / "reference"
    ref.mkdir()
    for name in _MODEL_FILES:
        shutil.copyfile(inputs.model_dir / name, ref / name)
    for name in _OPTIONAL_MODEL_FILES:
        if (inputs.model_dir / name).is_file():
            shutil.copyfile(inputs.model_dir / name, ref / name)
    (tmp / _FLOAT).write_bytes(q.float_blob)
    if inputs.extra:
        # The --data windows' features: verify without data re-runs rungs 1-3 on them.
        np.save(tmp / _PARITY_FEATURES, np.concatenate(inputs.extra), allow_pickle=False)
    banner = generated_banner(_TFLITE, q.model.sha256)
    _arduino_files(tmp, spec, spec.model_version, banner)
    _tflm_readme(tmp, spec, q.arena)
    (tmp / "test").mkdir()
    check = (_TEMPLATES / "golden_check.c").read_text("ascii")
    (tmp / "test" / "golden_check.c").write_text(
        check.replace("/* @GENERATED@ */", banner), encoding="ascii"
    )


def _manifest(
    inputs: _Inputs,
    q: _Quantised,
    firmware: _Firmware,
    opts: ExportOptions,
    figures: _Figures,
    rungs: Sequence[RungResult],
) -> dict[str, Any]:
    """``manifest.json`` without ``files`` (:func:`_write_bundle` adds them)."""
    from vibration.learning.model_dir import tinypdm_version

    model = q.model
    std = inputs.std
    trained = inputs.trained
    choice = q.choice
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "created_at": firmware.created_at,
        "tinypdm_version": tinypdm_version(),
        "target": opts.target,
        "model": {
            "version": firmware.version,
            "source": str(inputs.model_dir),
            "tflite": _TFLITE,
            "sha256": model.sha256,
            "bytes": model.size_bytes,
            "model_dir_sha256": sha256_file(inputs.model_dir / "model.json"),
            "layers": [
                {
                    "n_in": layer.n_in,
                    "n_out": layer.n_out,
                    "activation": layer.activation,
                    "per_channel": layer.per_channel,
                }
                for layer in model.layers
            ],
        },
        "feature_config": inputs.config.to_dict(),
        "scaler": {"mean": inputs.mean32.tolist(), "scale": inputs.scale32.tolist()},
        "speed": _speed_manifest(std),
        "speed_estimator": firmware.spec.speed.to_dict(),
        "scoring": {
            "one_sided": std.one_sided,
            "z_max": std.z_max,
            "score": (
                "mean(max(z+ - zhat, 0)^2) + mean(z+^2), z+ = clip(z, 0, z_max)"
                if std.one_sided
                else "mean((z - zhat)^2)"
            ),
        },
        "threshold": float(np.float32(trained.threshold)),
        "alarm_policy": trained.alarm_policy.to_dict(),
        "iso": {
            "standard": "ISO 10816-3 (zone boundaries as ISO 20816-3)",
            "group": opts.iso_group,
            "foundation": opts.foundation if opts.iso_group is not None else None,
            "limits_mm_s": (
                list(ISO_10816_3_LIMITS[(opts.iso_group, opts.foundation)])
                if opts.iso_group is not None
                else None
            ),
            "band_hz": list(ISO_BAND_HZ),
        },
        "sample_scale": float(np.float32(inputs.sample_scale)),
        "units": inputs.units,
        "quantization": {
            "per_channel": opts.per_channel,
            "activation_range_factors": list(choice.factors),
            "search": {
                "evaluated": choice.evaluated,
                "spearman_all": choice.spearman_all,
                "spearman_normal": choice.spearman_normal,
                "agreement": choice.agreement,
            },
            "input": {"scale": model.input_scale, "zero_point": model.input_zero_point},
            "output": {"scale": model.output_scale, "zero_point": model.output_zero_point},
            "rounding": "TFLM reference, double rounding (TFLITE_SINGLE_ROUNDING off)",
        },
        "tflm": {
            "ops": list(model.ops),
            "arena_bytes": q.arena,
            "resolver": f"MicroMutableOpResolver<{len(model.ops)}>",
        },
        "c": {
            "scratch_bytes": 2 * max(model.max_hidden, 1),
            "flags": " ".join(REQUIRED_FLAGS),
        },
        "sizes": figures.sizes,
        "instructions_per_window": figures.instructions_per_window,
        "instructions_per_stage": figures.instructions_per_stage,
        "parity": [r.to_dict() for r in rungs],
        "data": list(inputs.data),
    }


def _write_bundle(tmp: Path, manifest: dict[str, Any]) -> None:
    """The README, then the SHA-256 of every file into ``manifest["files"]``, then
    ``manifest.json``."""
    _readme(tmp, manifest)
    manifest["files"] = {
        p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
    }
    (tmp / _MANIFEST).write_text(
        json.dumps(_jsonable(manifest), indent=2, allow_nan=False) + "\n", "utf-8"
    )


def _standardisation(det: Any) -> Standardisation:
    """The detector's standardisation as the firmware holds it (float32 values)."""
    f32 = np.float32
    slope = getattr(det, "speed_slope_", None)
    envelope = getattr(det, "speed_envelope_", None)
    return Standardisation(
        mean=np.asarray(det.mean_, f32).astype(np.float64),
        scale=np.asarray(det.scale_, f32).astype(np.float64),
        slope=None if slope is None else np.asarray(slope, f32).astype(np.float64),
        u0=float(f32(getattr(det, "speed_u0_", 0.0))),
        envelope=None if envelope is None else (float(f32(envelope[0])), float(f32(envelope[1]))),
        one_sided=bool(getattr(det, "one_sided", False)),
        z_max=float(f32(getattr(det, "z_max", 10.0))),
    )


def _speed_config(det: Any) -> SpeedConfig:
    """The model's tachless estimator constants (model.json ``speed.estimator``, or
    ``speed.config`` as the shared speed API names it), else the defaults (a model made
    before speed conditioning has no such section)."""
    doc = getattr(det, "speed_config_", None)
    if doc is None:
        return SpeedConfig()
    try:
        return SpeedConfig.from_dict(doc)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportError(f"model.json: bad speed section: {exc}") from None


def _speed_manifest(std: Standardisation) -> dict[str, Any] | None:
    if std.envelope is None:
        return None
    return {
        "envelope_rpm": [std.envelope[0], std.envelope[1]],
        "u0": std.u0,
        "slope": [float(v) for v in std.slopes],
        "conditioned": std.speed_conditioned,
    }


def _normal_speeds(trained: Any, n: int) -> NDArray[np.float64]:
    """Speeds of the model's normal windows (float32 values; NaN unknown)."""
    speeds = trained.normal_speeds() if hasattr(trained, "normal_speeds") else None
    if speeds is None or len(speeds) != n:
        return np.full(n, np.nan)
    return np.asarray(speeds, np.float32).astype(np.float64)


def _stream_speeds(n: int, std: Standardisation) -> NDArray[np.float64]:
    from firmware_export.exporter.parity import parity_speeds

    rpm = parity_speeds(n, std.envelope)
    return np.full(n, np.nan) if rpm is None else rpm


def _float_scores(
    det: Any, features: NDArray[np.float64], rpm: NDArray[np.float64], std: Standardisation
) -> NDArray[np.float64]:
    if std.speed_aware:
        return np.asarray(det.anomaly_score(features, rpm), np.float64)
    return np.asarray(det.anomaly_score(features), np.float64)


def _data_meta(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    from vibration.data.dataset import iter_recordings

    return [
        {"scale": float(r.meta.scale), "units": r.meta.units} for r in iter_recordings(list(paths))
    ]


def _parity_message(r: RungResult) -> str:
    figures = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.figures.items()
    )
    hint = (
        " (no int8 activation ranges rank these windows like the float model: retrain, "
        "e.g. with quantisation-aware training, or check the --data)"
        if r.rung == 2
        else ""
    )
    return f"parity rung {r.rung} ({r.name}) failed: {figures}{hint}"


# ------------------------------------------------------------------------------ load / verify


def verify_bundle(
    path: str | os.PathLike[str],
    data: Sequence[str | os.PathLike[str]] = (),
    *,
    max_windows: int = 400,
    progress: Progress | None = None,
) -> list[RungResult]:
    """Run the parity ladder on a bundle (its own C, built for this host).

    Parameters
    ----------
    path : path
        The bundle.
    data : sequence of path
        Datasets or recordings to check on, in addition to the model's normal windows, the
        features of the export's ``--data`` windows (kept in the bundle: without ``data``,
        rungs 1-3 see exactly the windows of the export) and the synthetic stream.

    Returns
    -------
    list of RungResult
        Rungs 1..4 (the caller decides what a failure means).

    Raises
    ------
    ExportError
        Not a valid bundle (see :func:`load_bundle`), no C compiler.
    ModelError
        Datasets at another sample rate or without the model's axis.
    """
    from firmware_export.exporter.parity import load_streams, run_ladder
    from firmware_export.runtime.host_build import HostLibrary, build_host_library
    from vibration.learning.model_dir import load_model_dir

    _say(progress, f"checking {path}")
    bundle = load_bundle(path)
    config = bundle.feature_config
    streams = load_streams(list(data), config, max_windows) if data else []
    streams.append(_synthetic_stream(config, bundle.sample_scale))
    _say(progress, "loading the reference model")
    trained = load_model_dir(bundle.path / "reference")
    if trained.feature_config != config:
        raise ExportError("bundle for another feature config: reference/model.json differs")
    features = trained.normal_features()
    speeds = _normal_speeds(trained, len(features))
    stored = bundle.path / _PARITY_FEATURES
    if stored.is_file():
        extra = np.load(stored, allow_pickle=False)
        if extra.ndim != 2 or extra.shape[1] != config.n_features:
            raise ExportError(f"bundle {_PARITY_FEATURES} has shape {extra.shape}")
        features = np.concatenate([features, extra])
        speeds = np.concatenate([speeds, np.full(len(extra), np.nan)])
    with tempfile.TemporaryDirectory(prefix="tinypdm-verify-") as tmp:
        _say(progress, "building the bundle's C for this host")
        host = HostLibrary(build_host_library(bundle.src_dir, Path(tmp)))
        _say(progress, "running the parity ladder")
        return run_ladder(
            host=host,
            keras_model=trained.detector.model_,
            detector=trained.detector,
            float_tflite=(bundle.path / _FLOAT).read_bytes(),
            int8_tflite=bundle.tflite_bytes(),
            model=bundle.model,
            config=config,
            mean=np.asarray(bundle.feature_mean, np.float32),
            scale=np.asarray(bundle.feature_scale, np.float32),
            threshold=bundle.threshold,
            policy=bundle.alarm_policy,
            features=features,
            streams=streams,
            standardisation=Standardisation.from_manifest(bundle.manifest),
            speeds=speeds,
            speed=bundle.speed_config,
        )

"""int8 firmware export: quantise, read the ``.tflite``, generate C, check parity, bundle.

Keras model -> :func:`quantize_keras` (full-integer ``.tflite``) -> :func:`read_tflite`
(layer table + TFLM's Prepare-time constants) -> :func:`generate_sources` (the
``tinypdm_model_config.h`` / ``model_data.c`` of the C99 library in ``firmware_export/c``)
-> :func:`build_host_library` (the same C on this host, for the parity ladder and the
:class:`Int8Scorer`) -> :func:`export_bundle` / :func:`verify_bundle`. TensorFlow is
imported only by the functions that convert models.
"""

from __future__ import annotations

from firmware_export.exporter.bundle import ExportOptions, export_bundle, verify_bundle
from firmware_export.exporter.codegen import (
    TARGETS,
    FirmwareSpec,
    GoldenVectors,
    c_identifier,
    generate_golden_sources,
    generate_sources,
    generate_tflite_array,
)
from firmware_export.exporter.parity import RungResult, run_ladder
from firmware_export.exporter.quantize import QuantConfig, convert_float, quantize_keras
from firmware_export.exporter.ranges import RangeChoice, search_ranges, set_activation_ranges
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.tflm_info import tflm_arena_bytes
from firmware_export.runtime.bundle import Bundle, load_bundle
from firmware_export.runtime.fixed_point import (
    activation_range,
    dense_int8,
    mul_by_quantized_multiplier,
    quantize_multiplier,
)
from firmware_export.runtime.host_build import (
    CFLAGS,
    HostDecoder,
    HostLibrary,
    HostPipeline,
    build_host_library,
)
from firmware_export.runtime.library import LIBRARY_DIR, library_files
from firmware_export.runtime.scorer import Int8Scorer, WindowScores, reference_scores
from firmware_export.runtime.tflite_model import DenseLayer, Int8Model, read_tflite

__all__ = [
    "CFLAGS",
    "LIBRARY_DIR",
    "TARGETS",
    "Bundle",
    "DenseLayer",
    "ExportOptions",
    "FirmwareSpec",
    "GoldenVectors",
    "HostDecoder",
    "HostLibrary",
    "HostPipeline",
    "Int8Model",
    "Int8Scorer",
    "QuantConfig",
    "RangeChoice",
    "RungResult",
    "WindowScores",
    "activation_range",
    "build_host_library",
    "c_identifier",
    "convert_float",
    "dense_int8",
    "export_bundle",
    "generate_golden_sources",
    "generate_sources",
    "generate_tflite_array",
    "library_files",
    "load_bundle",
    "mul_by_quantized_multiplier",
    "quantize_keras",
    "quantize_multiplier",
    "read_tflite",
    "reference_scores",
    "run_ladder",
    "search_ranges",
    "set_activation_ranges",
    "tflm_arena_bytes",
    "verify_bundle",
    "write_c_sources",
]

"""What a TFLM user needs: the op resolver and the tensor arena, measured."""

from __future__ import annotations

import os
import re
import sys
import tempfile

import numpy as np

from firmware_export.errors import ExportError

__all__ = ["RESOLVER_METHODS", "resolver_snippet", "tflm_arena_bytes"]

#: Builtin op -> MicroMutableOpResolver method.
RESOLVER_METHODS = {
    "FULLY_CONNECTED": "AddFullyConnected",
    "RESHAPE": "AddReshape",
    "QUANTIZE": "AddQuantize",
}
_TOTAL = re.compile(rb"Arena allocation total (\d+) bytes")


def tflm_arena_bytes(tflite: bytes) -> int:
    """Tensor arena the ``tflite-micro`` interpreter used for one inference (bytes).

    Read from the interpreter's RecordingMicroAllocator report after an ``invoke``. The
    interpreter runs on this (64-bit) host: pointer-sized bookkeeping makes the figure an
    upper bound for 32-bit MCUs.

    Raises
    ------
    ExportError
        The interpreter refuses the model.
    """
    from tflite_micro.python.tflite_micro import runtime

    try:
        interp = runtime.Interpreter.from_bytes(bytes(tflite))
        details = interp.get_input_details(0)
        interp.set_input(np.zeros(tuple(details["shape"]), dtype=details["dtype"]), 0)
        interp.invoke()
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"the tflite-micro interpreter refused the model: {exc}") from exc
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        report = sink.read()
    found = _TOTAL.search(report)
    if found is None:
        raise ExportError("the tflite-micro interpreter gave no arena report")
    return int(found.group(1))


def resolver_snippet(ops: tuple[str, ...], arena_bytes: int) -> str:
    """C++ lines that set up TFLM for this model."""
    unknown = [op for op in ops if op not in RESOLVER_METHODS]
    if unknown:
        raise ValueError(f"no resolver method known for ops {unknown!r}")
    lines = [
        '#include "model_tflite.h"',
        '#include "tensorflow/lite/micro/micro_interpreter.h"',
        '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"',
        "",
        f"constexpr int kTensorArenaSize = {arena_bytes};  // measured, see manifest.json",
        "alignas(16) static uint8_t tensor_arena[kTensorArenaSize];",
        "",
        f"static tflite::MicroMutableOpResolver<{len(ops)}> resolver;",
        *(f"resolver.{RESOLVER_METHODS[op]}();" for op in ops),
        "const tflite::Model* model = tflite::GetModel(tinypdm_model_tflite);",
        "static tflite::MicroInterpreter interpreter(model, resolver, tensor_arena,",
        "                                            kTensorArenaSize);",
        "interpreter.AllocateTensors();",
    ]
    return "\n".join(lines) + "\n"

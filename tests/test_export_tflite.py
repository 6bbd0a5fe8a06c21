"""The .tflite reader: what it accepts, and one clear ExportError for everything else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_export.errors import ExportError
from firmware_export.runtime.fixed_point import activation_range, quantize_multiplier
from firmware_export.runtime.tflite_model import read_tflite

DATA = Path(__file__).parent / "data"
GOLDEN = (DATA / "golden_dense_pc.tflite").read_bytes()


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _edit(blob: bytes, change: Callable[[Any, Any], None]) -> bytes:
    s = _schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(blob, 0))
    change(model, s)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_export_tflite_reads_layers_and_prepare_constants():
    model = read_tflite(GOLDEN, "golden.tflite")
    assert len(model.layers) == 4
    assert model.n_inputs == model.n_outputs == 19
    assert model.max_hidden == 12
    for layer in model.layers:
        assert layer.weights.dtype == np.int8 and layer.weights.shape == (layer.n_out, layer.n_in)
        assert layer.bias is not None and layer.bias.dtype == np.int32
        assert layer.multipliers.shape == layer.shifts.shape == (layer.n_out,)
        assert np.all((layer.multipliers >= 1 << 30) & (layer.multipliers < 1 << 31))
        lo, hi = activation_range(layer.activation, layer.output_scale, layer.output_zero_point)
        assert (layer.act_min, layer.act_max) == (lo, hi)
    relu = model.layers[0]
    assert relu.act_min == max(-128, relu.output_zero_point) and relu.act_max == 127
    # Per channel: the effective scale of channel 0 in double precision.
    real = relu.input_scale * float(relu.weight_scales[0]) / relu.output_scale
    assert (int(relu.multipliers[0]), int(relu.shifts[0])) == quantize_multiplier(real)
    assert len(model.sha256) == 64


def test_export_tflite_per_tensor_scale_product_is_float32():
    """TFLM's per-tensor path multiplies the scales in float, then divides in double."""
    model = read_tflite((DATA / "golden_dense_pt.tflite").read_bytes())
    layer = model.layers[1]
    product = float(np.float32(layer.input_scale) * np.float32(layer.weight_scales[0]))
    real = product / float(np.float32(layer.output_scale))
    assert (int(layer.multipliers[0]), int(layer.shifts[0])) == quantize_multiplier(real)


def test_export_tflite_unsupported_op_is_named():
    def to_tanh(model, s):
        model.operatorCodes[0].builtinCode = s.BuiltinOperator.TANH
        model.operatorCodes[0].deprecatedBuiltinCode = s.BuiltinOperator.TANH

    with pytest.raises(ExportError, match=r"m\.tflite: unsupported op TANH"):
        read_tflite(_edit(GOLDEN, to_tanh), "m.tflite")


def test_export_tflite_unsupported_fused_activation_is_refused():
    def to_tanh_activation(model, s):
        model.subgraphs[0].operators[0].builtinOptions.fusedActivationFunction = 4

    with pytest.raises(ExportError, match="layer 0 has unsupported fused activation 4"):
        read_tflite(_edit(GOLDEN, to_tanh_activation))


def test_export_tflite_float_input_is_refused():
    def float_input(model, s):
        model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].type = s.TensorType.FLOAT32

    with pytest.raises(ExportError, match="input tensor is not int8"):
        read_tflite(_edit(GOLDEN, float_input))


def test_export_tflite_broken_chain_is_refused():
    def swap_inputs(model, s):
        ops = model.subgraphs[0].operators
        ops[0], ops[1] = ops[1], ops[0]

    with pytest.raises(ExportError, match="single chain"):
        read_tflite(_edit(GOLDEN, swap_inputs))


def test_export_tflite_two_subgraphs_are_refused():
    def add_subgraph(model, s):
        model.subgraphs.append(model.subgraphs[0])

    with pytest.raises(ExportError, match="expected 1 subgraph, found 2"):
        read_tflite(_edit(GOLDEN, add_subgraph))


def test_export_tflite_noop_reshape_is_skipped():
    def add_reshape(model, s):
        g = model.subgraphs[0]
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.RESHAPE
        code.version = 1
        model.operatorCodes.append(code)
        out = g.tensors[g.outputs[0]]
        new = s.TensorT()
        new.shape, new.type, new.buffer, new.name = np.array([1, 19], np.int32), out.type, 0, b"r"
        new.quantization = out.quantization
        g.tensors.append(new)
        op = s.OperatorT()
        op.opcodeIndex = len(model.operatorCodes) - 1
        op.inputs = np.array([g.outputs[0]], dtype=np.int32)
        op.outputs = np.array([len(g.tensors) - 1], dtype=np.int32)
        g.operators.append(op)
        g.outputs = np.array([len(g.tensors) - 1], dtype=np.int32)

    model = read_tflite(_edit(GOLDEN, add_reshape))
    assert model.ops == ("FULLY_CONNECTED", "RESHAPE")
    assert len(model.layers) == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a TFLite flatbuffer"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a TFLite flatbuffer"),
        (GOLDEN[:100], "corrupted"),
        (GOLDEN[:4] + b"TFL3" + bytes(64), "corrupted|found 0"),
    ],
    ids=["empty", "png", "truncated", "zeros"],
)
def test_export_tflite_foreign_or_corrupted_bytes_raise(data, message):
    with pytest.raises(ExportError, match=message):
        read_tflite(data, "bad.tflite")


@settings(max_examples=150, deadline=None)
@given(
    position=st.integers(8, len(GOLDEN) - 1),
    value=st.integers(0, 255),
    cut=st.integers(9, len(GOLDEN)),
)
def test_export_tflite_damaged_files_never_raise_anything_else(position, value, cut):
    """Any damage gives a model or an ExportError, never another exception."""
    damaged = bytearray(GOLDEN[:cut])
    if position < len(damaged):
        damaged[position] = value
    with contextlib.suppress(ExportError):
        read_tflite(bytes(damaged), "fuzz.tflite")


def test_export_tflite_rejects_non_bytes():
    with pytest.raises(ValueError, match="got 'str'"):
        read_tflite("model.tflite")  # type: ignore[arg-type]

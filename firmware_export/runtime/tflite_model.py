"""Read an int8 ``.tflite`` flatbuffer into the layer table the C engine runs.

Accepted graphs: one subgraph, a chain of int8 ``FULLY_CONNECTED`` layers (fused NONE,
RELU, RELU6 or RELU_N1_TO_1) from one int8 input to one int8 output, with per-tensor or
per-channel weight scales, optional int32 bias. ``RESHAPE`` that keeps the element count
and ``QUANTIZE`` int8 -> int8 with identical parameters are no-ops at batch 1 and are
skipped. Anything else raises :class:`~vibration.errors.ExportError` naming the op.

The flatbuffer is parsed with the schema module that ships with ``tflite-micro``
(no TensorFlow import).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from firmware_export.errors import ExportError
from firmware_export.runtime.fixed_point import activation_range, quantize_multiplier

__all__ = ["DenseLayer", "Int8Model", "read_tflite"]

_ACTIVATIONS = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6"}
_INT8, _INT32 = 9, 2
_MAX_DIM = 4096


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """One int8 FULLY_CONNECTED layer with everything TFLM computes at Prepare.

    Attributes
    ----------
    weights : ndarray of shape (n_out, n_in), int8
    bias : ndarray of shape (n_out,), int32, or None
    weight_scales : ndarray of shape (n_quant,), float32
        One scale (per tensor) or ``n_out`` (per channel).
    multipliers, shifts : ndarray of shape (n_quant,), int32
        ``QuantizeMultiplier`` of the effective scales.
    act_min, act_max : int
        Output clamp (fused activation and int8 range).
    """

    name: str
    weights: NDArray[np.int8]
    bias: NDArray[np.int32] | None
    input_scale: float
    input_zero_point: int
    weight_scales: NDArray[np.float32]
    weight_zero_point: int
    output_scale: float
    output_zero_point: int
    activation: str
    multipliers: NDArray[np.int32] = field(init=False)
    shifts: NDArray[np.int32] = field(init=False)
    act_min: int = field(init=False)
    act_max: int = field(init=False)

    def __post_init__(self) -> None:
        scales = np.asarray(self.weight_scales, dtype=np.float32).reshape(-1)
        if scales.size == 1:
            # GetQuantizedConvolutionMultipler: the scale product in float, then double.
            product = float(np.float32(self.input_scale) * scales[0])
            reals = [product / float(np.float32(self.output_scale))]
        else:
            reals = [
                float(np.float32(self.input_scale))
                * float(s)
                / float(np.float32(self.output_scale))
                for s in scales
            ]
        pairs = [quantize_multiplier(r) for r in reals]
        object.__setattr__(self, "multipliers", np.array([p[0] for p in pairs], dtype=np.int32))
        object.__setattr__(self, "shifts", np.array([p[1] for p in pairs], dtype=np.int32))
        lo, hi = activation_range(self.activation, self.output_scale, self.output_zero_point)
        object.__setattr__(self, "act_min", lo)
        object.__setattr__(self, "act_max", hi)

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def per_channel(self) -> bool:
        return int(self.weight_scales.size) > 1


@dataclass(frozen=True, eq=False)
class Int8Model:
    """An int8 dense network read from a ``.tflite`` file.

    Attributes
    ----------
    layers : tuple of DenseLayer
        In execution order.
    sha256 : str
        Hex SHA-256 of the ``.tflite`` bytes.
    ops : tuple of str
        Builtin operators in the file (for a ``MicroMutableOpResolver``), sorted.
    """

    layers: tuple[DenseLayer, ...]
    sha256: str
    ops: tuple[str, ...]
    size_bytes: int

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def input_scale(self) -> float:
        return self.layers[0].input_scale

    @property
    def input_zero_point(self) -> int:
        return self.layers[0].input_zero_point

    @property
    def output_scale(self) -> float:
        return self.layers[-1].output_scale

    @property
    def output_zero_point(self) -> int:
        return self.layers[-1].output_zero_point

    @property
    def max_hidden(self) -> int:
        """Widest hidden activation (0 for a single layer)."""
        return max((layer.n_out for layer in self.layers[:-1]), default=0)

    def invoke(self, x: NDArray[np.int8]) -> NDArray[np.int8]:
        """Run the layers with the numpy reference kernel.

        Parameters
        ----------
        x : ndarray of shape (n, n_inputs), int8

        Returns
        -------
        ndarray of shape (n, n_outputs), int8
        """
        from firmware_export.runtime.fixed_point import dense_int8

        a = np.asarray(x)
        if a.ndim != 2 or a.shape[1] != self.n_inputs or a.dtype != np.int8:
            raise ValueError(
                f"x must be int8 of shape (n, {self.n_inputs}), got {a.dtype} {a.shape!r}"
            )
        for layer in self.layers:
            a = dense_int8(
                a,
                layer.weights,
                layer.bias,
                input_zero_point=layer.input_zero_point,
                weights_zero_point=layer.weight_zero_point,
                output_zero_point=layer.output_zero_point,
                multiplier=layer.multipliers,
                shift=layer.shifts,
                act_min=layer.act_min,
                act_max=layer.act_max,
            )
        return a


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _op_names(schema: Any) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def read_tflite(data: bytes, name: str = "model") -> Int8Model:
    """Parse and validate an int8 dense ``.tflite`` model.

    Parameters
    ----------
    data : bytes
        The flatbuffer.
    name : str
        Used in error messages (e.g. the file name).

    Returns
    -------
    Int8Model

    Raises
    ------
    ExportError
        Not a TFLite flatbuffer, corrupted, or a graph the engine cannot run
        (the message names the op or tensor).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"data must be bytes, got {type(data).__name__!r}")
    raw = bytes(data)
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        raise ExportError(f"{name} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    schema = _schema()
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(raw, 0))
    except Exception as exc:  # flatbuffers raises anything from struct.error to IndexError
        raise ExportError(
            f"{name} is a corrupted TFLite flatbuffer ({type(exc).__name__})"
        ) from exc
    try:
        layers, ops = _walk(model, raw, schema, name)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(
            f"{name} is a corrupted TFLite flatbuffer ({type(exc).__name__}: {exc})"
        ) from exc
    return Int8Model(
        layers=tuple(layers),
        sha256=hashlib.sha256(raw).hexdigest(),
        ops=tuple(sorted(ops)),
        size_bytes=len(raw),
    )


def _buffer(model: Any, raw: bytes, index: int, what: str, name: str) -> bytes:
    if not 0 <= index < len(model.buffers or []):
        raise ExportError(f"{name}: {what} refers to missing buffer {index}")
    buf = model.buffers[index]
    if getattr(buf, "offset", 0):
        start, size = int(buf.offset), int(buf.size)
        if start + size > len(raw):
            raise ExportError(f"{name}: {what} buffer lies outside the file")
        return raw[start : start + size]
    if buf.data is None:
        return b""
    return np.asarray(buf.data, dtype=np.uint8).tobytes()


def _quant(tensor: Any) -> tuple[NDArray[np.float32], NDArray[np.int64], int]:
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64), 0
    zp = np.zeros(len(q.scale), np.int64) if q.zeroPoint is None else np.asarray(q.zeroPoint)
    return np.asarray(q.scale, np.float32), zp.astype(np.int64), int(q.quantizedDimension)


def _same_quant(a: Any, b: Any) -> bool:
    (sa, za, _), (sb, zb, _) = _quant(a), _quant(b)
    return bool(np.array_equal(sa, sb) and np.array_equal(za, zb)) and a.type == b.type


def _tensor_name(tensor: Any) -> str:
    raw = tensor.name
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


def _per_tensor(tensor: Any, what: str, name: str) -> tuple[float, int]:
    scale, zp, _ = _quant(tensor)
    if scale.size != 1 or zp.size != 1:
        raise ExportError(f"{name}: {what} {_tensor_name(tensor)!r} is not per-tensor quantised")
    if not (np.isfinite(scale[0]) and scale[0] > 0) or not -128 <= zp[0] <= 127:
        raise ExportError(f"{name}: {what} {_tensor_name(tensor)!r} has bad quantisation")
    return float(scale[0]), int(zp[0])


def _walk(model: Any, raw: bytes, schema: Any, name: str) -> tuple[list[DenseLayer], set[str]]:
    names = _op_names(schema)
    subgraphs = model.subgraphs or []
    if len(subgraphs) != 1:
        raise ExportError(f"{name}: expected 1 subgraph, found {len(subgraphs)}")
    g = subgraphs[0]
    tensors = g.tensors or []
    inputs = list(g.inputs if g.inputs is not None else [])
    outputs = list(g.outputs if g.outputs is not None else [])
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExportError(
            f"{name}: expected one input and one output tensor, "
            f"found {len(inputs)} and {len(outputs)}"
        )
    codes = model.operatorCodes or []
    used: set[str] = set()
    layers: list[DenseLayer] = []
    current = int(inputs[0])
    if tensors[current].type != _INT8:
        raise ExportError(f"{name}: the input tensor is not int8 (full-integer export needed)")
    for op in g.operators or []:
        code = codes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        op_name = names.get(builtin, f"builtin {builtin}")
        if op_name == "CUSTOM":
            custom = code.customCode.decode() if code.customCode else "?"
            op_name = f"CUSTOM {custom!r}"
        used.add(op_name)
        op_inputs = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        op_outputs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        if not op_inputs or len(op_outputs) != 1 or op_inputs[0] != current:
            raise ExportError(f"{name}: op {op_name} is not part of a single chain of layers")
        out_t = tensors[op_outputs[0]]
        if op_name == "FULLY_CONNECTED":
            layers.append(_dense(model, raw, tensors, op, op_inputs, out_t, name, len(layers)))
        elif op_name == "RESHAPE":
            in_t = tensors[current]
            if int(np.prod(in_t.shape)) != int(np.prod(out_t.shape)) or not _same_quant(
                in_t, out_t
            ):
                raise ExportError(f"{name}: op RESHAPE changes the data; not supported")
        elif op_name == "QUANTIZE":
            in_t = tensors[current]
            same = (
                in_t.type == _INT8
                and out_t.type == _INT8
                and _per_tensor(in_t, "tensor", name) == _per_tensor(out_t, "tensor", name)
            )
            if not same:
                raise ExportError(
                    f"{name}: op QUANTIZE requantises; only int8 in and out with a "
                    "full-integer model are supported"
                )
        else:
            raise ExportError(
                f"{name}: unsupported op {op_name}: only FULLY_CONNECTED layers "
                "(Dense with relu/linear) can be exported"
            )
        current = op_outputs[0]
    if current != int(outputs[0]):
        raise ExportError(f"{name}: the ops do not lead from the input to the output tensor")
    if not layers:
        raise ExportError(f"{name}: the model has no FULLY_CONNECTED layer")
    if tensors[current].type != _INT8:
        raise ExportError(f"{name}: the output tensor is not int8 (full-integer export needed)")
    for prev, nxt in itertools.pairwise(layers):
        if prev.n_out != nxt.n_in:
            raise ExportError(
                f"{name}: layer {nxt.name!r} expects {nxt.n_in} inputs, gets {prev.n_out}"
            )
    return layers, used


def _dense(
    model: Any,
    raw: bytes,
    tensors: list[Any],
    op: Any,
    op_inputs: list[int],
    out_t: Any,
    name: str,
    index: int,
) -> DenseLayer:
    options = op.builtinOptions
    act_code = int(getattr(options, "fusedActivationFunction", 0)) if options else 0
    if act_code not in _ACTIVATIONS:
        raise ExportError(
            f"{name}: FULLY_CONNECTED layer {index} has unsupported fused activation {act_code}"
        )
    if options is not None and (
        int(getattr(options, "weightsFormat", 0)) != 0
        or bool(getattr(options, "asymmetricQuantizeInputs", False))
    ):
        raise ExportError(f"{name}: FULLY_CONNECTED layer {index} uses a packed/hybrid format")
    if len(op_inputs) < 2:
        raise ExportError(f"{name}: FULLY_CONNECTED layer {index} has no weights")
    in_t, w_t = tensors[op_inputs[0]], tensors[op_inputs[1]]
    b_index = op_inputs[2] if len(op_inputs) > 2 else -1
    for what, t in (("input", in_t), ("weights", w_t), ("output", out_t)):
        if t.type != _INT8:
            raise ExportError(f"{name}: FULLY_CONNECTED layer {index} {what} is not int8")
    shape = [int(s) for s in (w_t.shape if w_t.shape is not None else [])]
    if len(shape) != 2 or not (1 <= shape[0] <= _MAX_DIM and 1 <= shape[1] <= _MAX_DIM):
        raise ExportError(f"{name}: FULLY_CONNECTED layer {index} weights have shape {shape}")
    n_out, n_in = shape
    if int(np.prod(in_t.shape)) != n_in or int(np.prod(out_t.shape)) != n_out:
        raise ExportError(
            f"{name}: FULLY_CONNECTED layer {index} is not batch 1 of {n_in} -> {n_out}"
        )
    w_bytes = _buffer(model, raw, int(w_t.buffer), f"layer {index} weights", name)
    if len(w_bytes) != n_out * n_in:
        raise ExportError(f"{name}: layer {index} weights are not constant ({len(w_bytes)} bytes)")
    weights = np.frombuffer(w_bytes, dtype=np.int8).reshape(n_out, n_in).copy()
    w_scale, w_zp, w_dim = _quant(w_t)
    if w_scale.size not in (1, n_out) or w_zp.size != w_scale.size:
        raise ExportError(f"{name}: layer {index} weight quantisation has {w_scale.size} scales")
    if w_scale.size > 1 and (w_dim != 0 or np.any(w_zp != 0)):
        raise ExportError(f"{name}: layer {index} per-channel weights are not symmetric on axis 0")
    if not np.all(np.isfinite(w_scale) & (w_scale > 0)):
        raise ExportError(f"{name}: layer {index} has bad weight scales")
    in_scale, in_zp = _per_tensor(in_t, f"layer {index} input", name)
    out_scale, out_zp = _per_tensor(out_t, f"layer {index} output", name)
    bias = None
    if b_index >= 0:
        b_t = tensors[b_index]
        if b_t.type != _INT32:
            raise ExportError(f"{name}: layer {index} bias is not int32")
        b_bytes = _buffer(model, raw, int(b_t.buffer), f"layer {index} bias", name)
        if len(b_bytes) != 4 * n_out:
            raise ExportError(f"{name}: layer {index} bias is not constant")
        bias = np.frombuffer(b_bytes, dtype="<i4").astype(np.int32)
    return DenseLayer(
        name=_tensor_name(out_t) or f"layer{index}",
        weights=weights,
        bias=bias,
        input_scale=in_scale,
        input_zero_point=in_zp,
        weight_scales=w_scale,
        weight_zero_point=int(w_zp[0]),
        output_scale=out_scale,
        output_zero_point=out_zp,
        activation=_ACTIVATIONS[act_code],
    )

"""Choose the int8 activation ranges tensor by tensor.

Every int8 activation tensor (the model input, each layer's output) has one scale and zero
point, fixed by the range it must hold. Normal windows want narrow ranges (fine steps);
a fault's standardised features reach tens of standard deviations and want wide ones (no
clipping, or the fault scores lose their ranking). One range for the whole network cannot
serve both, but the tensors need not agree: the input may need to be wide while a hidden
layer can stay narrow.

:func:`search_ranges` converts the model once (TensorFlow's converter: graph, weights and
their per-channel scales) and then rewrites the activation ranges the way TFLite's own
calibration computes them (``scale = (max - min) / 255``, ``zero_point = round(-128 -
min / scale)``, biases requantised to ``input_scale * weight_scale`` from the float
biases), with tensor ``t``'s range taken from the float activations of the calibration
vectors plus copies scaled by a factor ``k_t``. Each candidate is scored exactly (the numpy
copy of the TFLM kernels) against the float detector:

1. candidates meeting parity rung 2 on all evaluation windows with a margin (decision
   agreement >= 99.7 %, Spearman >= 0.993; the bars are 99.5 % and 0.99) come first, and
   among them the one that ranks the *normal* windows most faithfully;
2. otherwise the best Spearman on all windows (the export then fails at rung 2).

The search starts from one factor for every tensor and then, tensor by tensor from the
output back to the input, tries every other factor, keeping any change that ranks better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from firmware_export.errors import ExportError
from firmware_export.exporter.quantize import QuantConfig, quantize_keras
from firmware_export.runtime.scorer import Standardisation
from firmware_export.runtime.tflite_model import Int8Model, read_tflite

__all__ = [
    "DEFAULT_FACTORS",
    "RangeChoice",
    "activation_ranges",
    "search_ranges",
    "set_activation_ranges",
]

#: Range factors tried for each tensor.
DEFAULT_FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
#: Parity rung 2's bars (firmware_export.exporter.parity) plus a margin, so that the choice does not
#: sit on the bar.
AGREEMENT_BAR = 0.995 + 0.002
SPEARMAN_BAR = 0.99 + 0.003


@dataclass(frozen=True, eq=False)
class RangeChoice:
    """The chosen quantisation.

    Attributes
    ----------
    tflite : bytes
        The int8 model.
    factors : tuple of float
        Range factor of each activation tensor: input, then each layer's output.
    spearman_all, spearman_normal, agreement : float
        Its figures on the evaluation windows.
    evaluated : int
        Candidates scored.
    """

    tflite: bytes
    factors: tuple[float, ...]
    spearman_all: float
    spearman_normal: float
    agreement: float
    evaluated: int


def _float_chain(keras_model: Any) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    out = []
    for layer in keras_model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            out.append((np.asarray(kernel, np.float64), np.asarray(bias, np.float64)))
    return out


def activation_ranges(
    layers: Sequence[tuple[ArrayLike, ArrayLike]], activations: Sequence[str], x: ArrayLike
) -> list[tuple[float, float]]:
    """``(min, max)`` of every activation tensor of a float dense chain, 0 included.

    Parameters
    ----------
    layers : sequence of (kernel of shape (n_in, n_out), bias of shape (n_out,))
    activations : sequence of str
        ``"relu"`` or ``"none"`` per layer.
    x : array_like of shape (n, n_in)

    Returns
    -------
    list of (float, float)
        Input first, then each layer's output.
    """
    h = np.asarray(x, dtype=np.float64)
    ranges = [(min(float(h.min()), 0.0), max(float(h.max()), 0.0))]
    for (kernel, bias), act in zip(layers, activations, strict=True):
        h = h @ np.asarray(kernel, np.float64) + np.asarray(bias, np.float64)
        if act == "relu":
            h = np.maximum(h, 0.0)
        elif act != "none":
            raise ValueError(f"activation must be 'relu' or 'none', got {act!r}")
        ranges.append((min(float(h.min()), 0.0), max(float(h.max()), 0.0)))
    return ranges


def _qparams(lo: float, hi: float) -> tuple[float, int]:
    if not hi > lo:
        hi = lo + 1e-6
    scale = float(np.float32((hi - lo) / 255.0))
    zero_point = int(np.clip(np.round(-128.0 - lo / scale), -128, 127))
    return scale, zero_point


def set_activation_ranges(
    tflite: bytes,
    biases: Sequence[ArrayLike | None],
    ranges: Sequence[tuple[float, float]],
) -> bytes:
    """Rewrite the activation quantisation of an int8 dense chain.

    Parameters
    ----------
    tflite : bytes
        An int8 model of FULLY_CONNECTED layers only (:func:`read_tflite` accepts it).
    biases : sequence of array_like or None
        Each layer's float bias (requantised to the new input scale).
    ranges : sequence of (float, float)
        New ``(min, max)`` of the input and of each layer's output.

    Returns
    -------
    bytes
        The rewritten flatbuffer. Weights and their scales are unchanged.
    """
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
    graph = model.subgraphs[0]
    ops = graph.operators
    codes = model.operatorCodes
    fc = schema.BuiltinOperator.FULLY_CONNECTED
    if any(
        max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode) != fc
        for op in ops
    ):
        raise ExportError("activation ranges can only be set on a chain of FULLY_CONNECTED ops")
    if len(ranges) != len(ops) + 1 or len(biases) != len(ops):
        raise ValueError(f"need {len(ops) + 1} ranges and {len(ops)} biases for {len(ops)} layers")
    chain = [int(ops[0].inputs[0])] + [int(op.outputs[0]) for op in ops]
    params = [_qparams(lo, hi) for lo, hi in ranges]
    for t, (scale, zp) in zip(chain, params, strict=True):
        q = graph.tensors[t].quantization
        q.scale = np.array([scale], dtype=np.float32)
        q.zeroPoint = np.array([zp], dtype=np.int64)
    for i, op in enumerate(ops):
        inputs = [int(v) for v in op.inputs]
        if len(inputs) < 3 or inputs[2] < 0:
            continue
        bias_float = biases[i]
        if bias_float is None:
            raise ValueError(f"layer {i} has a bias tensor but no float bias was given")
        w_scales = np.asarray(graph.tensors[inputs[1]].quantization.scale, np.float32)
        bias_scales = (np.float32(params[i][0]) * w_scales).astype(np.float32)
        q_bias = np.round(np.asarray(bias_float, np.float64) / bias_scales.astype(np.float64))
        if np.any(np.abs(q_bias) > 2**31 - 1):
            raise ExportError(f"layer {i} bias does not fit int32 at this input range")
        b_tensor = graph.tensors[inputs[2]]
        b_tensor.quantization.scale = bias_scales
        b_tensor.quantization.zeroPoint = np.zeros(bias_scales.size, np.int64)
        model.buffers[b_tensor.buffer].data = np.frombuffer(
            q_bias.astype("<i4").tobytes(), dtype=np.uint8
        )
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _spearman(a: NDArray[Any], b: NDArray[Any]) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0
    return float(spearmanr(a, b).statistic)


def _int8_scores(
    model: Int8Model, z: NDArray[np.float64], std: Standardisation
) -> NDArray[np.float64]:
    from firmware_export.runtime.scorer import quantize_inputs

    q_out = model.invoke(quantize_inputs(z, model.input_scale, model.input_zero_point))
    z_hat = float(np.float32(model.output_scale)) * (
        q_out.astype(np.float64) - model.output_zero_point
    )
    return std.score(z, z_hat)


def search_ranges(
    keras_model: Any,
    calibration: ArrayLike,
    features: ArrayLike,
    *,
    n_normal: int,
    float_scores: ArrayLike,
    mean: ArrayLike,
    scale: ArrayLike,
    threshold: float,
    factors: tuple[float, ...] = DEFAULT_FACTORS,
    sweeps: int = 3,
    config: QuantConfig | None = None,
    standardisation: Standardisation | None = None,
    speed_rpm: ArrayLike | None = None,
) -> RangeChoice:
    """Quantise ``keras_model`` with per-tensor activation ranges chosen for ``features``.

    Parameters
    ----------
    keras_model : keras.Model
        Dense layers, relu inside, linear output.
    calibration : array_like of shape (m, d)
        The network's inputs for normal vectors (the model directory's
        ``calibration.npy``: ``z``, or ``z+`` of a one-sided model).
    features : array_like of shape (n, d)
        Evaluation windows' raw feature vectors; the first ``n_normal`` are normal.
    float_scores : array_like of shape (n,)
        The float detector's scores of ``features``.
    mean, scale : array_like of shape (d,)
        Standardisation as the firmware holds it.
    threshold : float
    factors : tuple of float
        Range factors (>= 1) tried for each tensor.
    sweeps : int
        Passes of the tensor-by-tensor search.
    standardisation : Standardisation or None
        The model's inputs and score (speed line, one-sided); None: two-sided
        ``(f - mean) / scale`` and the mean squared error.
    speed_rpm : array_like of shape (n,) or None
        Shaft speed of each evaluation window (NaN: unknown).

    Returns
    -------
    RangeChoice
    """
    if not factors or any(not np.isfinite(k) or k < 1 for k in factors):
        raise ValueError(f"factors must be finite values >= 1, got {factors!r}")
    cal = np.asarray(calibration, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64)
    fs = np.asarray(float_scores, dtype=np.float64)
    std = standardisation or Standardisation(
        mean=np.asarray(mean, np.float64), scale=np.asarray(scale, np.float64)
    )
    z = std.inputs(f, speed_rpm)
    widest = max(factors)
    base = quantize_keras(
        keras_model, np.concatenate([cal, cal * widest]).astype(np.float32), config
    )
    base_model = read_tflite(base, "model_int8.tflite")
    chain = _float_chain(keras_model)
    acts = [layer.activation for layer in base_model.layers]
    if len(chain) != len(acts) or any(
        k.shape != (layer.n_in, layer.n_out)
        for (k, _), layer in zip(chain, base_model.layers, strict=False)
    ):
        raise ExportError("the Keras model and its .tflite do not have the same dense layers")
    stats = {
        k: activation_ranges(chain, acts, cal if k == 1 else np.concatenate([cal, cal * k]))
        for k in factors
    }
    biases = [b for _, b in chain]
    cache: dict[tuple[float, ...], tuple[tuple[bool, float, float], dict[str, float]]] = {}

    def evaluate(ks: tuple[float, ...]) -> tuple[tuple[bool, float, float], dict[str, float]]:
        if ks not in cache:
            blob = set_activation_ranges(base, biases, [stats[k][t] for t, k in enumerate(ks)])
            qs = _int8_scores(read_tflite(blob), z, std)
            agree = float(np.mean((fs > threshold) == (qs > threshold))) if len(fs) else 1.0
            rho_all = _spearman(fs, qs)
            rho_normal = _spearman(fs[:n_normal], qs[:n_normal])
            meets = agree >= AGREEMENT_BAR and rho_all >= SPEARMAN_BAR
            key = (meets, rho_normal if meets else rho_all, agree)
            cache[ks] = (
                key,
                {"spearman_all": rho_all, "spearman_normal": rho_normal, "agreement": agree},
            )
        return cache[ks]

    n_tensors = len(chain) + 1
    best = max((tuple([k] * n_tensors) for k in factors), key=lambda ks: evaluate(ks)[0])
    for _ in range(sweeps):
        changed = False
        for t in reversed(range(n_tensors)):
            for k in factors:
                trial = (*best[:t], k, *best[t + 1 :])
                if evaluate(trial)[0] > evaluate(best)[0]:
                    best, changed = trial, True
        if not changed:
            break
    figures = evaluate(best)[1]
    blob = set_activation_ranges(base, biases, [stats[k][t] for t, k in enumerate(best)])
    return RangeChoice(
        tflite=blob,
        factors=best,
        spearman_all=figures["spearman_all"],
        spearman_normal=figures["spearman_normal"],
        agreement=figures["agreement"],
        evaluated=len(cache),
    )

"""Parity rung 3: the C int8 engine against the tflite-micro interpreter, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import litert_invoke, tflm_invoke
from firmware_export.runtime.fixed_point import mul_by_quantized_multiplier, quantize_multiplier
from firmware_export.runtime.host_build import HostLibrary, build_host_library
from firmware_export.runtime.tflite_model import Int8Model, read_tflite
from tests.support import require_tool
from vibration.learning.features import FeatureConfig

DATA = Path(__file__).parent / "data"
MODELS = ("golden_dense_pc.tflite", "golden_dense_pt.tflite")


def _spec(model: Int8Model) -> FirmwareSpec:
    n = model.n_inputs
    return FirmwareSpec(
        model=model,
        feature_config=FeatureConfig(n_bands=n - 3),
        feature_mean=np.zeros(n),
        feature_scale=np.ones(n),
        threshold=1.0,
    )


def _build(tmp: Path, blob: bytes, defines: tuple[str, ...] = ()) -> HostLibrary:
    require_tool("gcc", "gcc")
    model = read_tflite(blob)
    write_c_sources(tmp / "src", _spec(model), tflite=blob)
    return HostLibrary(build_host_library(tmp / "src", tmp / "build", defines=defines))


@pytest.fixture(scope="module", params=MODELS, ids=["per_channel", "per_tensor"])
def golden(request, tmp_path_factory):
    blob = (DATA / request.param).read_bytes()
    host = _build(tmp_path_factory.mktemp("nn"), blob)
    return request.param, blob, host


def _test_inputs(n_random: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n_random, 19)).astype(np.int8)
    edges = np.array([np.full(19, v, np.int8) for v in (-128, -127, -1, 0, 1, 126, 127)])
    alternating = np.where(np.arange(19) % 2 == 0, 127, -128).astype(np.int8)[None, :]
    return np.concatenate([edges, alternating, -alternating - 1, x])


def test_c_nn_reader_sees_per_channel_and_per_tensor_models():
    pc = read_tflite((DATA / MODELS[0]).read_bytes())
    pt = read_tflite((DATA / MODELS[1]).read_bytes())
    assert all(layer.per_channel for layer in pc.layers)
    assert not any(layer.per_channel for layer in pt.layers)
    assert [layer.activation for layer in pc.layers] == ["relu", "relu", "relu", "none"]
    assert [(layer.n_in, layer.n_out) for layer in pc.layers] == [
        (19, 12),
        (12, 6),
        (6, 12),
        (12, 19),
    ]
    assert pc.ops == ("FULLY_CONNECTED",)


def test_c_nn_matches_tflm_bit_exact_on_random_and_extreme_inputs(golden):
    _, blob, host = golden
    x = _test_inputs(5000, seed=1)
    expected = tflm_invoke(blob, x)
    got = host.invoke(x)
    mismatches = int(np.count_nonzero(got != expected))
    assert mismatches == 0, f"{mismatches} of {expected.size} int8 outputs differ from TFLM"


def test_c_nn_matches_golden_vectors(golden):
    name, _, host = golden
    doc = json.loads((DATA / "golden_dense_vectors.json").read_text())["models"][name]
    q_in = np.array(doc["q_in"], dtype=np.int8)
    np.testing.assert_array_equal(host.invoke(q_in), np.array(doc["tflm_out"], dtype=np.int8))


def test_c_nn_numpy_reference_matches_tflm(golden):
    _, blob, _ = golden
    x = _test_inputs(2000, seed=2)
    np.testing.assert_array_equal(read_tflite(blob).invoke(x), tflm_invoke(blob, x))


def test_c_nn_litert_differs_by_a_step_on_some_outputs(golden, request):
    """LiteRT's optimised kernels round differently from TFLM's reference.

    One step per layer where it happens (a few steps after four layers): the count is
    recorded, not failed on; only gross disagreement (a broken comparison) fails.
    """
    _, blob, host = golden
    x = _test_inputs(3000, seed=3)
    c = host.invoke(x).astype(np.int16)
    lite = litert_invoke(blob, x).astype(np.int16)
    diff = np.abs(c - lite)
    request.node.user_properties.append(("litert_outputs_differing", int(np.count_nonzero(diff))))
    request.node.user_properties.append(("litert_outputs_total", int(diff.size)))
    request.node.user_properties.append(("litert_max_steps", int(diff.max())))
    assert np.mean(diff == 0) > 0.9


def test_c_nn_single_rounding_variant_is_not_what_tflm_runs(tmp_path):
    """TFLITE_SINGLE_ROUNDING is off in the tflite-micro pip package: that variant differs."""
    blob = (DATA / MODELS[0]).read_bytes()
    host = _build(tmp_path, blob, defines=("TINYPDM_SINGLE_ROUNDING=1",))
    x = _test_inputs(3000, seed=4)
    diff = np.abs(host.invoke(x).astype(np.int16) - tflm_invoke(blob, x).astype(np.int16))
    assert int(np.count_nonzero(diff)) > 0
    assert int(diff.max()) <= 1


_INT32 = st.integers(-(2**31), 2**31 - 1)


@settings(max_examples=300, deadline=None)
@given(x=_INT32, real=st.floats(1e-9, 8.0, allow_nan=False))
def test_c_nn_mul_by_quantized_multiplier_matches_reference(golden, x, real):
    _, _, host = golden
    m, shift = quantize_multiplier(real)
    expected = int(mul_by_quantized_multiplier(np.int64(x), m, shift))
    # shift > 0 multiplies x first: keep that product in int32 as TFLM's contract requires.
    if shift > 0 and not -(2**31) <= x * (1 << shift) < 2**31:
        return
    assert host.mul_by_quantized_multiplier(x, m, shift) == expected


def test_c_nn_mul_by_quantized_multiplier_edge_cases(golden):
    _, _, host = golden
    cases = [
        (-(2**31), -(2**31), 0),  # the one saturating product
        (-(2**31), 2**31 - 1, 0),
        (2**31 - 1, 2**31 - 1, 0),
        (-1, 1 << 30, -1),  # rounding of negative halves: away from zero
        (1, 1 << 30, -1),
        (-3, 1 << 30, -1),
        (3, 1 << 30, -1),
        (12345, 1 << 30, -31),
        (-(2**31), 1 << 30, -31),
        (1000, 1518500250, 3),
    ]
    for x, m, s in cases:
        assert host.mul_by_quantized_multiplier(x, m, s) == int(
            mul_by_quantized_multiplier(x, m, s)
        )


def test_c_nn_quantize_multiplier_matches_tflm_conventions():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    # Rounds up to 2^31: renormalised to 2^30 with shift + 1.
    assert quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    # Below 2^-32 everything is flushed to zero.
    assert quantize_multiplier(2.0**-40) == (0, 0)
    assert quantize_multiplier(100.0, single_rounding=False)[1] == 7
    with pytest.raises(ValueError, match=r"got -1\.0"):
        quantize_multiplier(-1.0)

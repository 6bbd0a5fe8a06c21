"""Protocol v2 in the C library (shared spec): SCORE v2 is 40 bytes at the spec's offsets,
filled by tinypdm_result_to_score from a pipeline result; CONTROL (0x05) is encoded and
decoded; the decoder takes versions 1 and 2, each SCORE at its own length."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from firmware_export.exporter.codegen import FirmwareSpec
from firmware_export.exporter.sources import write_c_sources
from firmware_export.exporter.testing import random_int8_model
from firmware_export.runtime.host_build import HostLibrary, build_host_library
from tests.support import require_tool
from vibration.learning.features import FeatureConfig

CONFIG = FeatureConfig(window=256, hop=128, n_bands=8)
_HEADER = struct.Struct("<BBHI")
_SCORE_V2 = struct.Struct("<QffffBBBBffBBBB")


def _build(tmp, version: int) -> HostLibrary:
    rng = np.random.default_rng(1)
    spec = FirmwareSpec(
        model=random_int8_model(CONFIG.n_features, (6,), seed=3),
        feature_config=CONFIG,
        feature_mean=rng.normal(0, 1, CONFIG.n_features),
        feature_scale=rng.uniform(0.5, 2, CONFIG.n_features),
        threshold=2.0,
        units="g",
        iso_group=2,
        foundation="flexible",
    )
    write_c_sources(tmp / "src", spec)
    return HostLibrary(
        build_host_library(
            tmp / "src", tmp / "build", defines=(f"TINYPDM_PROTOCOL_VERSION={version}u",)
        )
    )


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    require_tool("gcc", "gcc")
    return _build(tmp_path_factory.mktemp("v2"), 2)


def _raw(lib, wire: bytes) -> bytes:
    assert wire.endswith(b"\x00")
    raw = lib.cobs_decode(wire[:-1])
    assert raw is not None
    assert zlib.crc32(raw[:-4]) == int.from_bytes(raw[-4:], "little")
    return raw[:-4]


def test_c_frame_v2_score_from_a_pipeline_result(v2):
    assert v2.config["protocol_version"] == 2
    rng = np.random.default_rng(2)
    pipe = v2.pipeline()
    rows = pipe.push((rng.normal(0, 2000, 4 * CONFIG.hop + CONFIG.window)).astype(np.int16))
    assert len(rows) >= 3
    for i, row in enumerate(rows):
        raw = _raw(v2, v2.encode_result(i, 1000 * i, row))
        version, ftype, length, seq = _HEADER.unpack_from(raw)
        assert (version, ftype, length, seq) == (2, 3, 40, i)
        f = _SCORE_V2.unpack(raw[8:])
        t_us, score, thr, rms, kurt, alarm, over, state, flags, speed, vel, zone, t1, t2, res = f
        assert t_us == 1000 * i
        assert (score, thr, rms, kurt) == tuple(np.float32(row[1:5]).tolist())
        assert (alarm, over, state, flags) == tuple(int(v) for v in row[[7, 6, 8, 9]])
        assert math.isnan(speed)  # no speed estimator in this build
        assert vel == np.float32(row[11]) and not math.isnan(vel)  # units "g"
        assert zone == row[12] and 1 <= zone <= 4
        assert (t1, t2) == (int(row[13]), int(row[14])) and t1 != t2 and max(t1, t2) < 19
        assert res == 0


def test_c_frame_v2_control_round_trip_and_decoder_versions(v2):
    dec = v2.decoder()
    wire = v2.encode_control(7, 2, 0.0) + v2.encode_control(8, 1, 1480.5)
    frames = dec.feed(wire[: len(wire) // 2 + 3])
    assert [f[:2] for f in frames] == [(5, 7)] and dec.control() == (2, 0.0)
    frames = dec.feed(wire[len(wire) // 2 + 3 :])
    assert [f[:2] for f in frames] == [(5, 8)] and dec.control() == (1, 1480.5)
    raw = _raw(v2, wire[: wire.index(b"\x00") + 1])
    assert raw[0] == 2 and raw[8:] == bytes([2, 0, 0, 0]) + struct.pack("<f", 0.0)
    # a v1 SCORE (28 bytes) and a v2 SCORE (40 bytes) decode; each at the other's length is
    # a layout error; version 3 is counted as wrong_version
    payload28, payload40 = bytes(28), bytes(40)

    def frame(version, ftype, payload, seq):
        body = _HEADER.pack(version, ftype, len(payload), seq) + payload
        return v2.cobs_encode(body + zlib.crc32(body).to_bytes(4, "little")) + b"\x00"

    dec = v2.decoder()
    stream = (
        frame(1, 3, payload28, 10)
        + frame(2, 3, payload40, 11)
        + frame(1, 3, payload40, 12)
        + frame(2, 3, payload28, 13)
        + frame(3, 3, payload40, 14)
        + frame(2, 5, bytes(7), 15)
    )
    frames = dec.feed(stream)
    assert [f[:2] for f in frames] == [(3, 10), (3, 11)]
    counters = dec.counters
    assert counters["crc_errors"] == 3 and counters["wrong_version"] == 1
    assert dec.control() is None


def test_c_frame_v1_build_keeps_the_28_byte_score(tmp_path):
    require_tool("gcc", "gcc")
    v1 = _build(tmp_path, 1)
    raw = _raw(v1, v1.encode_score(0, 5, 1.0, 2.0, 0.1, 3.0, True, True))
    assert raw[:4] == bytes([1, 3, 28, 0]) and len(raw) == 8 + 28

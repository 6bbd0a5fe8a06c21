"""vibration.validation: one home for "a number, but not a bool" checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vibration.validation import is_finite_real, is_int, is_integer, is_number, is_real

CASES = [
    # value, is_int, is_integer, is_real, is_finite_real, is_number
    pytest.param(3, True, True, True, True, True, id="int"),
    pytest.param(True, False, False, False, False, False, id="bool"),
    pytest.param(np.int64(3), False, True, False, False, True, id="np.int64"),
    pytest.param(np.bool_(True), False, False, False, False, False, id="np.bool_"),
    pytest.param(2.5, False, False, True, True, True, id="float"),
    pytest.param(math.inf, False, False, True, False, True, id="inf"),
    pytest.param(math.nan, False, False, True, False, True, id="nan"),
    pytest.param(np.float32(2.5), False, False, False, False, True, id="np.float32"),
    pytest.param("3", False, False, False, False, False, id="str"),
    pytest.param(None, False, False, False, False, False, id="None"),
]


@pytest.mark.parametrize(("value", "i", "ii", "r", "fr", "n"), CASES)
def test_validation_predicates(value, i, ii, r, fr, n):
    assert is_int(value) is i
    assert is_integer(value) is ii
    assert is_real(value) is r
    assert is_finite_real(value) is fr
    assert is_number(value) is n


def _simulator(v):
    from vibration.data.simulator import SimulatorConfig

    SimulatorConfig(seed=v)


def _sensor(v):
    from vibration.acquisition.virtual_sensor import VirtualSensorConfig

    VirtualSensorConfig(samples_per_frame=v)


def _bearing(v):
    from vibration.data.bearing import BearingGeometry

    BearingGeometry(n_balls=v)


def _features(v):
    from vibration.learning.features import FeatureConfig

    FeatureConfig(window=v)


def _gateway(v):
    from vibration.telemetry.gateway import GatewayConfig

    GatewayConfig(ports=("loop://",), store_url="sqlite:///x.db", batch_points=v)


@pytest.mark.parametrize("build", [_simulator, _sensor, _bearing, _features, _gateway])
def test_validation_configs_reject_a_bool_where_a_count_belongs(build):
    with pytest.raises(ValueError, match="got True"):
        build(True)

"""Device-time mapping with synthetic clocks: offset, drift, jitter, backlog, reboots."""

from __future__ import annotations

import numpy as np
import pytest

from vibration.telemetry.devtime import ClockConfig, ClockMapper

WALL0 = 1_700_000_000 * 10**9  # ns
FLOOR_NS = 1_000_000  # the smallest transport delay: 1 ms


def simulate(
    seconds: float,
    *,
    rate_hz: float = 10.0,
    drift_ppm: float = 0.0,
    boot_us: int = 5_000_000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device stamps, arrival times and true wall times of periodic reports.

    The device clock runs ``drift_ppm`` fast; delays are 1 ms plus exponential jitter
    (mean 5 ms) plus, now and then, a 200 ms stall.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    true_wall = WALL0 + (np.arange(n) * (1e9 / rate_hz)).astype(np.int64)
    t_us = boot_us + ((true_wall - WALL0) / 1000 * (1 + drift_ppm * 1e-6)).astype(np.int64)
    delay = FLOOR_NS + rng.exponential(5e6, n) + (rng.random(n) < 0.01) * 2e8
    arrival = true_wall + delay.astype(np.int64)
    return t_us, arrival, true_wall


def run(mapper: ClockMapper, t_us: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    return np.array([mapper.observe(int(t), int(a)) for t, a in zip(t_us, arrival, strict=True)])


def test_gateway_devtime_constant_offset_with_jitter_is_tracked_to_the_floor() -> None:
    t_us, arrival, true_wall = simulate(120)
    m = ClockMapper()
    err = run(m, t_us, arrival) - true_wall
    settled = err[100:]  # after 10 s
    assert np.all(settled >= 0)
    assert np.max(np.abs(settled - FLOOR_NS)) < 0.5e6  # within 0.5 ms of the floor delay
    assert np.all(run(ClockMapper(), t_us, arrival) <= arrival)  # never after arrival


@pytest.mark.parametrize("drift_ppm", [-80.0, 50.0, 200.0])
def test_gateway_devtime_drift_is_fitted(drift_ppm: float) -> None:
    t_us, arrival, true_wall = simulate(3600, rate_hz=2.0, drift_ppm=drift_ppm, seed=1)
    m = ClockMapper()
    err = run(m, t_us, arrival) - true_wall
    late = err[len(err) // 4 :]
    # 200 ppm uncorrected would be 0.72 s after an hour; fitted it stays within 3 ms.
    assert np.max(np.abs(late - FLOOR_NS)) < 3e6
    assert m.drift_ppm() == pytest.approx(-drift_ppm, abs=5.0)


def test_gateway_devtime_backlog_read_late_keeps_device_spacing() -> None:
    t_us, arrival, true_wall = simulate(60)
    arrival = arrival.copy()
    arrival[400:450] = arrival[450]  # gateway stalled 5 s, then read the backlog at once
    m = ClockMapper()
    err = run(m, t_us, arrival) - true_wall
    assert np.max(np.abs(err[400:450] - FLOOR_NS)) < 0.5e6
    assert m.resets == 0


def test_gateway_devtime_reboot_reanchors_at_once() -> None:
    t_us, arrival, true_wall = simulate(120)
    t2 = t_us.copy()
    t2[600:] = t_us[600:] - t_us[600] + 1000  # rebooted: device time restarts near 0
    m = ClockMapper()
    err = run(m, t2, arrival) - true_wall
    assert m.resets == 1
    assert np.max(np.abs(err[700:] - FLOOR_NS)) < 0.5e6  # 10 s after
    assert abs(err[600]) < 0.5e9  # the first point after a reboot: off by its own delay only


def test_gateway_devtime_forward_jump_reanchors() -> None:
    t_us, arrival, true_wall = simulate(120)
    t2 = t_us.copy()
    t2[600:] += 3_600_000_000  # device clock jumps an hour ahead
    m = ClockMapper()
    err = run(m, t2, arrival) - true_wall
    assert m.resets == 1
    assert np.max(np.abs(err[700:] - FLOOR_NS)) < 0.5e6  # 10 s after


def test_gateway_devtime_explicit_reset_and_errors() -> None:
    m = ClockMapper()
    with pytest.raises(ValueError, match="no observation"):
        m.to_wall(0)
    m.observe(10, WALL0)
    m.reset()
    assert not m.anchored and m.resets == 1
    with pytest.raises(ValueError, match="bucket_s"):
        ClockConfig(bucket_s=0)
    with pytest.raises(ValueError, match="window_s"):
        ClockConfig(bucket_s=10, window_s=15)


def test_gateway_devtime_settles_after_warmup_of_device_time() -> None:
    m = ClockMapper(ClockConfig(warmup_s=1.0))
    assert not m.settled
    m.observe(5_000_000, WALL0)
    m.observe(5_900_000, WALL0 + 900_000_000)
    assert not m.settled
    m.observe(6_000_000, WALL0 + 1_000_000_000)
    assert m.settled
    m.reset()
    assert not m.settled

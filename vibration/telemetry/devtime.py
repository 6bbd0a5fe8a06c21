"""Device time to wall time: a sensor's microsecond clock mapped onto the host's clock.

A sensor stamps its data with ``t_us``, microseconds since it booted. The host knows when
the bytes arrived. Every observation gives ``arrival - device = offset + delay`` with an
unknown delay >= 0 (UART transmission, USB polling, OS scheduling, the gateway being busy),
so the smallest values over a while are the best estimate of the true offset. The device's
crystal also runs a little fast or slow (tens of ppm), so the offset drifts slowly.

:class:`ClockMapper` keeps the minimum of ``arrival - device`` per ``bucket_s`` of device
time over the last ``window_s``; once they span ``min_fit_s`` it fits a straight line
through those minima (least squares for the slope, then lowered to pass under all of them:
a lower envelope) and maps with it, else it uses the plain minimum. A mapped time is never
later than the arrival it came with.

Re-anchoring (forget everything, start again) happens when the device clock goes backwards
(a reboot: ``t_us`` restarts near 0), when it jumps ahead of the estimate by more than
``jump_s`` (a device clock reset forward, or the host clock stepped back), or when the
caller says so (:meth:`ClockMapper.reset`, e.g. on a HELLO with ``seq == 0``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["ClockConfig", "ClockMapper"]


@dataclass(frozen=True)
class ClockConfig:
    """Parameters of :class:`ClockMapper` (all in seconds of device time, except ppm).

    Attributes
    ----------
    bucket_s : float
        Width of the min-filter buckets.
    window_s : float
        How far back the minima are kept (the drift fit's span).
    min_fit_s : float
        Span of minima needed before the drift is fitted.
    jump_s : float
        The device clock ahead of the estimate by more than this re-anchors.
    backwards_s : float
        The device clock going back by more than this re-anchors (reboot).
    max_drift_ppm : float
        Fitted drift is clamped to +-this (a crystal is within +-100 ppm).
    warmup_s : float
        After an anchoring, the estimate counts as settled once observations span this
        much device time (:attr:`ClockMapper.settled`); a caller may hold points until
        then, so that a backlog read at start-up keeps its spacing.
    """

    bucket_s: float = 10.0
    window_s: float = 300.0
    min_fit_s: float = 60.0
    jump_s: float = 2.0
    backwards_s: float = 1.0
    max_drift_ppm: float = 500.0
    warmup_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("bucket_s", "window_s", "min_fit_s", "jump_s", "backwards_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.window_s < 2 * self.bucket_s:
            raise ValueError(
                f"window_s must be at least 2 * bucket_s, got {self.window_s!r} < "
                f"2 * {self.bucket_s!r}"
            )
        if not self.warmup_s >= 0:
            raise ValueError(f"warmup_s must be >= 0, got {self.warmup_s!r}")
        if not self.max_drift_ppm >= 0:
            raise ValueError(f"max_drift_ppm must be >= 0, got {self.max_drift_ppm!r}")


class ClockMapper:
    """Map one device's ``t_us`` to wall-clock nanoseconds.

    Parameters
    ----------
    config : ClockConfig

    Examples
    --------
    >>> m = ClockMapper()
    >>> m.observe(1_000_000, 1_700_000_000_002_000_000)  # t_us, arrival ns
    1700000000002000000
    >>> m.to_wall(1_500_000)  # half a second later on the device
    1700000000502000000
    """

    def __init__(self, config: ClockConfig | None = None) -> None:
        self.config = config if config is not None else ClockConfig()
        self.resets = 0  # re-anchorings after the first observation
        self._bucket_us = round(self.config.bucket_s * 1e6)
        self._window_us = round(self.config.window_s * 1e6)
        self._clear()

    def _clear(self) -> None:
        self._anchor_dev: int | None = None  # device us
        self._anchor_off = 0  # ns: offsets are kept relative to this
        self._last_dev: int | None = None
        # (bucket index, min relative offset ns, device us at that minimum)
        self._buckets: deque[tuple[int, int, int]] = deque()
        self._fit: tuple[float, float, float] | None = None  # (t0 us, offset ns at t0, ns/us)
        self._dirty = True

    @property
    def anchored(self) -> bool:
        """True once an observation was made since the last reset."""
        return self._anchor_dev is not None

    @property
    def settled(self) -> bool:
        """True once observations since the anchoring span ``warmup_s`` of device time."""
        if self._anchor_dev is None or self._last_dev is None:
            return False
        return self._last_dev - self._anchor_dev >= self.config.warmup_s * 1e6

    def reset(self) -> None:
        """Forget the estimate (the device rebooted); the next observation re-anchors."""
        if self._anchor_dev is not None:
            self.resets += 1
        self._clear()

    def observe(self, t_us: int, arrival_ns: int) -> int:
        """Learn from one observation and map it.

        Parameters
        ----------
        t_us : int
            Device time of the *end* of what arrived (for a block of samples, its last
            sample), microseconds since boot.
        arrival_ns : int
            Wall time (``time.time_ns()``) when the bytes were read.

        Returns
        -------
        int
            Wall time of ``t_us`` in ns since the epoch, at most ``arrival_ns``.
        """
        t_us = int(t_us)
        arrival_ns = int(arrival_ns)
        if self._anchor_dev is not None:
            assert self._last_dev is not None
            rel_now = arrival_ns - t_us * 1000 - self._anchor_off
            backwards = self._last_dev - t_us > self.config.backwards_s * 1e6
            ahead = self._estimate(t_us) - rel_now > self.config.jump_s * 1e9
            if backwards or ahead:
                self.reset()
        if self._anchor_dev is None:
            self._anchor_dev = t_us
            self._anchor_off = arrival_ns - t_us * 1000
        rel = arrival_ns - t_us * 1000 - self._anchor_off
        index = t_us // self._bucket_us
        if self._buckets and self._buckets[-1][0] == index:
            if rel < self._buckets[-1][1]:
                self._buckets[-1] = (index, rel, t_us)
                self._dirty = True
        else:
            self._buckets.append((index, rel, t_us))
            horizon = index - self._window_us // self._bucket_us
            while self._buckets[0][0] < horizon:
                self._buckets.popleft()
            self._dirty = True
        self._last_dev = t_us if self._last_dev is None else max(self._last_dev, t_us)
        return min(self.to_wall(t_us), arrival_ns)

    def to_wall(self, t_us: int) -> int:
        """Wall time (ns since the epoch) of device time ``t_us`` under the current estimate.

        Raises
        ------
        ValueError
            Before the first observation.
        """
        if self._anchor_dev is None:
            raise ValueError("no observation yet: call observe() first")
        return int(t_us) * 1000 + self._anchor_off + round(self._estimate(int(t_us)))

    def drift_ppm(self) -> float:
        """The fitted drift of ``arrival - device`` (ppm; 0 before a fit)."""
        self._refit()
        return 0.0 if self._fit is None else self._fit[2] * 1000.0

    def _estimate(self, t_us: int) -> float:
        """Relative offset (ns) at device time ``t_us``."""
        self._refit()
        if self._fit is None:
            return float(min(b[1] for b in self._buckets))
        t0, off0, slope = self._fit
        return off0 + slope * (t_us - t0)

    def _refit(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._fit = None
        b = self._buckets
        if len(b) < 3 or (b[-1][2] - b[0][2]) < self.config.min_fit_s * 1e6:
            return
        n = len(b)
        t0 = sum(x[2] for x in b) / n
        y0 = sum(x[1] for x in b) / n
        sxx = sum((x[2] - t0) ** 2 for x in b)
        sxy = sum((x[2] - t0) * (x[1] - y0) for x in b)
        limit = self.config.max_drift_ppm * 1e-3  # ns per us
        slope = max(-limit, min(limit, sxy / sxx)) if sxx > 0 else 0.0
        # Lower envelope: shift the line down until no minimum lies below it.
        shift = min(x[1] - (y0 + slope * (x[2] - t0)) for x in b)
        self._fit = (t0, y0 + shift, slope)

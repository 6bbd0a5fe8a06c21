"""Plain-text sample streams: one sample per line, and the sample rate they imply.

A ten-line Arduino sketch prints ``123`` or ``12,-40,1020`` per sample. :class:`AsciiDecoder`
turns such lines into int16 counts, counts the lines it refuses, and estimates the sender's
real sample rate from *when* the lines arrive, since text carries no clock.

Numbers
    Integers are int16 counts; values beyond the int16 range are clipped (and counted).
    The first line holding a decimal number (``0.25``, ``-1.5e-2``) switches the stream to
    *decimal* mode for good: from then on every value, integers included, is a physical
    value and becomes ``round(value / decimal_scale)`` counts, so ``decimal_scale`` is the
    stream's scale (units per LSB). ``nan``/``inf`` are refused.

Rate
    Reads return chunks, so all lines of one chunk share one arrival time. Each chunk that
    completes lines gives one point (arrival time, lines completed so far); a least-squares
    line through the points of a sliding window gives the rate (its slope) and the jitter
    (the standard deviation of the residuals, in seconds).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from vibration.protocol.frames import MAX_AXES

__all__ = ["AsciiDecoder", "AsciiStats", "RateEstimate"]

# comma, semicolon, tab and CR all separate like a space; runs of separators count as one
_SEPARATORS = bytes.maketrans(b",;\t\r", b"    ")
_I16_MIN, _I16_MAX = -32768, 32767
_BEYOND = 1e6
_MAX_POINTS = 2048


@dataclass
class AsciiStats:
    """Counters of an :class:`AsciiDecoder`.

    Attributes
    ----------
    lines : int
        Sample lines decoded (each gives one row of samples).
    errors : int
        Lines with a problem: refused ones (not numbers, wrong number of values, longer
        than ``max_line``) and kept-but-clipped ones.
    clipped : int
        Lines kept with a value clipped to the int16 range (also counted in ``errors``).
    bytes_in : int
        Bytes fed.
    """

    lines: int = 0
    errors: int = 0
    clipped: int = 0
    bytes_in: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RateEstimate:
    """The sender's sample rate as estimated from line arrival times.

    Attributes
    ----------
    rate_hz : float or None
        Lines per second; None until two chunks at different times have brought lines.
    jitter_s : float or None
        Standard deviation of the arrival times around the fitted line, seconds; None
        until three points are available.
    n_lines : int
        Sample lines counted so far (refused lines after the first good one included:
        each took one sample period on the wire).
    """

    rate_hz: float | None
    jitter_s: float | None
    n_lines: int


@dataclass(frozen=True)
class _Fit:
    rate_hz: float
    jitter_s: float | None
    t_mean: float
    n_mean: float


def _fit(points: deque[tuple[float, int]]) -> _Fit | None:
    if len(points) < 2:
        return None
    a = np.asarray(points, dtype=np.float64)
    t, count = a[:, 0], a[:, 1]
    t_mean, n_mean = float(t.mean()), float(count.mean())
    dt, dn = t - t_mean, count - n_mean
    sxx = float(dt @ dt)
    if sxx <= 0.0:
        return None
    rate = float(dt @ dn) / sxx
    if not rate > 0.0:
        return None
    jitter = None
    if len(points) > 2:
        res = dn - rate * dt
        jitter = math.sqrt(float(res @ res) / (len(points) - 2)) / rate
    return _Fit(rate, jitter, t_mean, n_mean)


class AsciiDecoder:
    """Incremental decoder of one-sample-per-line text.

    Parameters
    ----------
    axes : int or None
        Values per line (1..8); None learns it from the first good line. Lines with
        another count are refused.
    decimal_scale : float
        Units per count once the stream is in decimal mode (module docstring).
    rate_window_s : float
        Length of the sliding window of the rate fit, seconds.
    max_line : int
        Longer lines are refused without being buffered.
    """

    def __init__(
        self,
        axes: int | None = None,
        *,
        decimal_scale: float = 1e-3,
        rate_window_s: float = 20.0,
        max_line: int = 256,
    ) -> None:
        if axes is not None and (isinstance(axes, bool) or not 1 <= axes <= MAX_AXES):
            raise ValueError(f"axes must be None or 1..{MAX_AXES}, got {axes!r}")
        if not (decimal_scale > 0 and math.isfinite(decimal_scale)):
            raise ValueError(f"decimal_scale must be a positive number, got {decimal_scale!r}")
        if not rate_window_s > 0:
            raise ValueError(f"rate_window_s must be > 0, got {rate_window_s!r}")
        if max_line < 1:
            raise ValueError(f"max_line must be >= 1, got {max_line!r}")
        self.decimal_scale = decimal_scale
        self.rate_window_s = rate_window_s
        self.max_line = max_line
        self.stats = AsciiStats()
        self._axes = axes
        self._decimal = False
        self._partial = b""
        self._skipping = False  # inside a line longer than max_line
        self._synced = False  # a good line was seen; lines count as sample slots from then
        self._slots = 0
        self._t0 = 0.0
        self._points: deque[tuple[float, int]] = deque(maxlen=_MAX_POINTS)
        self._spacing = rate_window_s / _MAX_POINTS
        self._cached_fit: _Fit | None = None
        self._next_t_us = 0
        #: estimated time of the first row returned by the last :meth:`feed`, µs
        self.last_t_us = 0
        #: sample period used for the last :meth:`feed`'s rows, µs (0.0 before a rate fit)
        self.last_period_us = 0.0
        #: refused lines of the last :meth:`feed` that took a sample slot (after the first
        #: good line): ``(row index they came before, the line)``, in stream order
        self.last_refused: list[tuple[int, bytes]] = []

    @property
    def axes(self) -> int | None:
        """Values per line: given, learned, or None while unknown."""
        return self._axes

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back for the next feed (at most ``max_line``)."""
        return len(self._partial)

    @property
    def scale(self) -> float | None:
        """Units per count: ``decimal_scale`` in decimal mode, None for integer counts."""
        return self.decimal_scale if self._decimal else None

    def feed(self, data: bytes | bytearray | memoryview, t_arrival: float) -> np.ndarray:
        """Decode the lines completed by ``data``.

        Parameters
        ----------
        data : bytes-like
            The next bytes of the stream.
        t_arrival : float
            When they arrived, seconds on a monotonic clock (``time.monotonic()``).

        Returns
        -------
        ndarray of int16, shape (k, axes)
            One row per good line; ``(0, axes)`` (``(0, 0)`` while axes is unknown) when no
            line was completed. :attr:`last_t_us` then holds the estimated time of the first
            row: microseconds since the first good line arrived, from the rate fit,
            never decreasing from one feed to the next. :attr:`last_refused` says where
            refused lines fell between the rows (each one a lost sample).
        """
        data = bytes(data)
        stats = self.stats
        stats.bytes_in += len(data)
        lines = (self._partial + data).split(b"\n") if self._partial else data.split(b"\n")
        partial = lines.pop()
        if self._skipping and lines:
            lines[0] = b""  # the end of the refused long line
            self._skipping = False
        long_partial = b""
        if self._skipping:
            partial = b""
        elif len(partial) > self.max_line:
            long_partial = partial[: self.max_line]
            partial = b""
            self._skipping = True
        self._partial = partial
        rows: list[list[int]] = []
        self.last_refused = refused = []
        first_slot = -1
        for line in lines:
            if len(line) > self.max_line:
                if self._refuse():
                    refused.append((len(rows), line[: self.max_line]))
                continue
            tokens = line.translate(_SEPARATORS).split()
            if not tokens:
                continue  # blank line: not a sample
            values = self._values(tokens)
            if values is None:
                if self._refuse():
                    refused.append((len(rows), line))
                continue
            if not self._synced:
                self._synced = True
                self._t0 = t_arrival
            if first_slot < 0:
                first_slot = self._slots
            self._slots += 1
            stats.lines += 1
            rows.append(values)
        if long_partial and self._refuse():  # the long line started last: it comes last
            refused.append((len(rows), long_partial))
        if self._synced:
            self._add_point(t_arrival)
        axes = self._axes or 0
        if not rows:
            return np.empty((0, axes), dtype=np.int16)
        # the next block starts after every slot taken since this one's first row
        self.last_t_us = self._block_time_us(first_slot, self._slots - first_slot, t_arrival)
        return np.array(rows, dtype=np.int16).reshape(len(rows), axes)

    def rate_estimate(self) -> RateEstimate:
        """The sample rate and jitter fitted over the sliding window."""
        fit = _fit(self._points)
        if fit is None:
            return RateEstimate(None, None, self._slots)
        return RateEstimate(fit.rate_hz, fit.jitter_s, self._slots)

    # -- internals ----------------------------------------------------------------------------

    def _refuse(self) -> bool:
        """Count a refused line; True when it took a sample slot (after the first good line)."""
        self.stats.errors += 1
        if self._synced:
            self._slots += 1
        return self._synced

    def _values(self, tokens: list[bytes]) -> list[int] | None:
        if len(tokens) > MAX_AXES or (self._axes is not None and len(tokens) != self._axes):
            return None
        values: list[int] | None = None
        if not self._decimal:
            try:
                values = [int(tok) for tok in tokens]
            except ValueError:
                values = None
        if values is None:
            try:
                reals = [float(tok) for tok in tokens]
            except ValueError:
                return None
            if not all(math.isfinite(v) for v in reals):
                return None
            self._decimal = True
            scale = self.decimal_scale
            # bounded before rounding (1e308 / 1e-3 is inf); still beyond int16: clipped below
            values = [round(max(-_BEYOND, min(_BEYOND, v / scale))) for v in reals]
        if min(values) < _I16_MIN or max(values) > _I16_MAX:
            values = [min(max(v, _I16_MIN), _I16_MAX) for v in values]
            self.stats.clipped += 1
            self.stats.errors += 1
        if self._axes is None:
            self._axes = len(values)
        return values

    def _add_point(self, t: float) -> None:
        points = self._points
        if points and points[-1][1] == self._slots:
            return  # no new line since the last point
        while points and points[0][0] < t - self.rate_window_s:
            points.popleft()
        if len(points) >= 2 and t - points[-2][0] < self._spacing:
            points[-1] = (t, self._slots)  # too close to the one before: move the last point
            return
        points.append((t, self._slots))
        self._cached_fit = _fit(points)

    def _block_time_us(self, first_slot: int, n: int, t_arrival: float) -> int:
        fit = self._cached_fit
        if fit is None:
            estimate = round((t_arrival - self._t0) * 1e6)
            period_us = 0.0
        else:
            # line i is complete when i + 1 lines are: t = t_mean + (i + 1 - n_mean) / rate
            t_first = fit.t_mean + (first_slot + 1 - fit.n_mean) / fit.rate_hz
            estimate = round((t_first - self._t0) * 1e6)
            period_us = 1e6 / fit.rate_hz
        t_us = max(estimate, self._next_t_us, 0)
        self._next_t_us = t_us + round(n * period_us)
        self.last_period_us = period_us
        return t_us

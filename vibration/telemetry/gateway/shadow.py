"""Shadow mode: the gateway scores a sensor's raw SAMPLES stream itself, with the device's
exact numbers (the exported bundle's C pipeline compiled for the host).

The gateway receives a :data:`ShadowFactory` by injection; the one built from a firmware
bundle is :func:`firmware_export.runtime.shadow.load_shadow_factory`, wired in by the
application layer (``tinypdm monitor``, the demo)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from vibration.protocol import Hello, Samples

__all__ = [
    "PipelineShadowScorer",
    "ShadowFactory",
    "ShadowResult",
    "ShadowScorer",
]

log = logging.getLogger("tinypdm.gateway")

_EXTRA_FIELDS = frozenset(
    ("state", "speed_rpm", "velocity_rms_mm_s", "iso_zone", "top_feature_1", "top_feature_2")
)
#: Leading result columns every pipeline shares (the default ``fields``).
_BASE_FIELDS = ("sample_index", "score", "threshold", "rms", "kurtosis", "crest", "over", "alarm")


class ShadowResult(NamedTuple):
    """One window scored on the host: the same fields as a SCORE frame.

    The fields after ``kurtosis`` are those of a version-2 SCORE; ``None`` (``()``) when
    the host pipeline does not compute them.
    """

    t_us: int
    score: float
    threshold: float
    alarm: bool
    over: bool
    rms: float
    kurtosis: float
    state: int | None = None
    speed_rpm: float | None = None
    velocity_rms_mm_s: float | None = None
    iso_zone: int | None = None
    top_features: tuple[int, ...] = ()


class ShadowScorer(Protocol):
    """Scores a sensor's raw stream on the host with the device's exact numbers.

    ``feed`` takes each SAMPLES block in order and returns the windows it completed;
    ``reset`` forgets partial windows (after a gap or a reboot).
    """

    model_tag: str

    def feed(self, samples: Samples) -> list[ShadowResult]: ...

    def reset(self) -> None: ...


#: Builds a scorer for a sensor from its HELLO; None when it cannot score that sensor.
ShadowFactory = Callable[[Hello], ShadowScorer | None]


class PipelineShadowScorer:
    """A :class:`ShadowScorer` around a streaming pipeline such as
    :class:`firmware_export.runtime.host_build.HostPipeline` (the device's C, run on the host).

    Parameters
    ----------
    make_pipeline : callable
        Returns a fresh pipeline: ``push(int16 array (n, axes)) -> ndarray (k, len(fields))``
        whose columns are ``fields``, ``sample_index`` counting samples from 0 at the
        pipeline's creation.
    sample_rate_hz : float
        The stream's sample rate (to turn sample indices into device time).
    model_tag : str
        The ``model`` tag of the points it makes.
    fields : sequence of str, optional
        Column names of the pipeline's rows (the bundle's C pipeline:
        :data:`firmware_export.runtime.host_build.RESULT_FIELDS`); must name
        ``sample_index, score, threshold, rms, kurtosis, over, alarm``. Default:
        ``sample_index, score, threshold, rms, kurtosis, crest, over, alarm``. Columns
        named ``state``, ``speed_rpm``, ``velocity_rms_mm_s``, ``iso_zone``,
        ``top_feature_1`` and ``top_feature_2`` (255: none) fill the version-2 fields of the
        results.
    window : int
        Samples per window of the model (0: unknown); the gateway keeps that many raw
        samples per window as an alarm's evidence.
    """

    def __init__(
        self,
        make_pipeline: Callable[[], Any],
        sample_rate_hz: float,
        model_tag: str,
        fields: Sequence[str] | None = None,
        window: int = 0,
    ) -> None:
        if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz!r}")
        names = tuple(_BASE_FIELDS if fields is None else fields)
        self._col = {name: i for i, name in enumerate(names)}
        missing = {"sample_index", "score", "threshold", "rms", "kurtosis", "over", "alarm"}
        missing -= set(self._col)
        if missing:
            raise ValueError(f"fields lack {sorted(missing)!r}")
        self._extra = {n: i for n, i in self._col.items() if n in _EXTRA_FIELDS}
        self._make = make_pipeline
        self.sample_rate_hz = float(sample_rate_hz)
        self.model_tag = model_tag
        self.window = int(window)
        self.reset()

    def reset(self) -> None:
        self._pipeline = self._make()
        self._t0_us: int | None = None  # device time of sample index 0

    def feed(self, samples: Samples) -> list[ShadowResult]:
        if self._t0_us is None:
            self._t0_us = int(samples.t_us)
        rows = self._pipeline.push(samples.samples)
        us_per_sample = 1e6 / self.sample_rate_hz
        c = self._col
        return [
            ShadowResult(
                self._t0_us + round(r[c["sample_index"]] * us_per_sample),
                float(r[c["score"]]),
                float(r[c["threshold"]]),
                bool(r[c["alarm"]]),
                bool(r[c["over"]]),
                float(r[c["rms"]]),
                float(r[c["kurtosis"]]),
                *self._v2(r),
            )
            for r in rows
        ]

    def _v2(self, row: Any) -> tuple[Any, ...]:
        x = self._extra
        if not x:
            return ()

        def opt_int(name: str) -> int | None:
            return int(row[x[name]]) if name in x else None

        def opt_float(name: str) -> float | None:
            if name not in x or not math.isfinite(float(row[x[name]])):
                return None
            return float(row[x[name]])

        top = tuple(int(row[x[n]]) for n in ("top_feature_1", "top_feature_2") if n in x)
        top = tuple(t for t in top if 0 <= t < 255)
        return (
            opt_int("state"),
            opt_float("speed_rpm"),
            opt_float("velocity_rms_mm_s"),
            opt_int("iso_zone"),
            top,
        )

"""Shadow mode: the gateway scores a sensor's raw SAMPLES stream itself, with the device's
exact numbers (the exported bundle's C pipeline compiled for the host).

The gateway receives a :data:`ShadowFactory` by injection; the one built from a firmware
bundle is :func:`firmware_export.runtime.shadow.load_shadow_factory`, wired in by the
application layer (``tinypdm monitor``, the demo)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from vibration.protocol import Hello, Samples

__all__ = [
    "PipelineShadowScorer",
    "ShadowFactory",
    "ShadowResult",
    "ShadowScorer",
]

log = logging.getLogger("tinypdm.gateway")


class ShadowResult(NamedTuple):
    """One window scored on the host: the same fields as a SCORE frame."""

    t_us: int
    score: float
    threshold: float
    alarm: bool
    over: bool
    rms: float
    kurtosis: float


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
        Returns a fresh pipeline: ``push(int16 array (n, axes)) -> ndarray (k, 9)`` whose
        rows are ``sample_index, score, threshold, rms, kurtosis, crest, over, alarm``,
        ``sample_index`` counting samples from 0 at the pipeline's creation.
    sample_rate_hz : float
        The stream's sample rate (to turn sample indices into device time).
    model_tag : str
        The ``model`` tag of the points it makes.
    """

    def __init__(
        self, make_pipeline: Callable[[], Any], sample_rate_hz: float, model_tag: str
    ) -> None:
        if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz!r}")
        self._make = make_pipeline
        self.sample_rate_hz = float(sample_rate_hz)
        self.model_tag = model_tag
        self.reset()

    def reset(self) -> None:
        self._pipeline = self._make()
        self._t0_us: int | None = None  # device time of sample index 0

    def feed(self, samples: Samples) -> list[ShadowResult]:
        if self._t0_us is None:
            self._t0_us = int(samples.t_us)
        rows = self._pipeline.push(samples.samples)
        us_per_sample = 1e6 / self.sample_rate_hz
        return [
            ShadowResult(
                self._t0_us + round(r[0] * us_per_sample),
                float(r[1]),
                float(r[2]),
                bool(r[7]),
                bool(r[6]),
                float(r[3]),
                float(r[4]),
            )
            for r in rows
        ]

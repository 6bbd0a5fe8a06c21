"""Shadow mode: the gateway scores a sensor's raw SAMPLES stream itself, with the device's
exact numbers (the exported bundle's C pipeline compiled for the host)."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from vibration.protocol import Hello, Samples

__all__ = [
    "PipelineShadowScorer",
    "ShadowFactory",
    "ShadowResult",
    "ShadowScorer",
    "load_shadow_factory",
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
    :class:`firmware_export.host_build.HostPipeline` (the device's C, run on the host).

    Parameters
    ----------
    make_pipeline : callable
        Returns a fresh pipeline: ``push(int16 array (n, axes)) -> ndarray (k, 8)`` whose
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


def load_shadow_factory(bundle: str | os.PathLike[str]) -> ShadowFactory:
    """Shadow scorers from an exported firmware bundle (``tinypdm export``).

    Uses :class:`firmware_export.scorer.Int8Scorer` with its ``"c"`` engine: the bundle's
    own C pipeline compiled for this machine, so host scores are the device's numbers. A
    sensor gets a scorer when its HELLO says it streams samples, it has the axis the model
    scores and its sample rate is the model's; the points are tagged
    ``<first 12 hex digits of the model's SHA-256>@host``.

    Raises
    ------
    ModelError
        Not a bundle, or its C does not build here.
    """
    from vibration.errors import ModelError, TinyPdmError

    try:
        from firmware_export.scorer import Int8Scorer

        scorer = Int8Scorer(Path(bundle))
    except TinyPdmError as exc:
        raise ModelError(f"shadow mode: cannot use bundle {str(bundle)!r}: {exc}") from None
    except ImportError as exc:  # pragma: no cover - firmware_export ships with tinypdm
        raise ModelError(f"shadow mode needs firmware_export: {exc}") from None
    cfg = scorer.feature_config
    tag = hashlib.sha256(scorer.bundle.tflite_bytes()).hexdigest()[:12] + "@host"

    def factory(hello: Hello) -> ShadowScorer | None:
        rate_ok = abs(hello.sample_rate_hz - cfg.sample_rate) <= 1e-3 * cfg.sample_rate
        if hello.axes <= cfg.axis or not rate_ok:
            log.warning(
                "%s: no shadow scoring: %d axes at %g Hz, the model scores axis %d at %g Hz",
                hello.device_id,
                hello.axes,
                hello.sample_rate_hz,
                cfg.axis,
                cfg.sample_rate,
            )
            return None

        def make() -> Any:
            pipe = scorer.pipeline()
            pipe.set_scale(float(hello.scale))
            return pipe

        return PipelineShadowScorer(make, float(hello.sample_rate_hz), tag)

    return factory

"""Shadow scorers built from a firmware bundle, for the gateway (``monitor --bundle``)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from firmware_export.runtime.host_build import RESULT_FIELDS
from firmware_export.runtime.scorer import Int8Scorer
from vibration.errors import ModelError, TinyPdmError
from vibration.protocol import Hello
from vibration.telemetry.gateway.shadow import PipelineShadowScorer, ShadowFactory, ShadowScorer

__all__ = ["load_shadow_factory"]

log = logging.getLogger("tinypdm.gateway")


def load_shadow_factory(bundle: str | os.PathLike[str]) -> ShadowFactory:
    """Shadow scorers from an exported firmware bundle (``tinypdm export``).

    Uses :class:`firmware_export.runtime.scorer.Int8Scorer` with its ``"c"`` engine: the bundle's
    own C pipeline compiled for this machine, so host scores are the device's numbers. A
    sensor gets a scorer when its HELLO says it streams samples, it has the axis the model
    scores and its sample rate is the model's; the points are tagged
    ``<first 12 hex digits of the model's SHA-256>@host``.

    Raises
    ------
    ModelError
        Not a bundle, or its C does not build here.
    """
    try:
        scorer = Int8Scorer(Path(bundle))
    except TinyPdmError as exc:
        raise ModelError(f"shadow mode: cannot use bundle {str(bundle)!r}: {exc}") from None
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

        return PipelineShadowScorer(
            make, float(hello.sample_rate_hz), tag, RESULT_FIELDS, window=cfg.window
        )

    return factory

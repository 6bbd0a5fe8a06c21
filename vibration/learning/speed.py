"""STAND-IN (branch m12 only, replaced by branch s12's estimator at merge)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vibration.learning.features import FeatureConfig, frame_windows


@dataclass(frozen=True)
class SpeedConfig:
    rpm_min: float = 300.0
    rpm_max: float = 3600.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeedConfig:
        return cls(**d)


def window_speeds(x: Any, config: FeatureConfig, speed: SpeedConfig) -> NDArray[np.float64]:
    n = frame_windows(np.asarray(x, dtype=np.float32), config).shape[0]
    return np.full(n, 1000.0)

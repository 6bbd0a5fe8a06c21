"""Rolling-element bearing geometry and its characteristic defect frequencies.

For a bearing with ``n`` balls of diameter ``d`` on pitch diameter ``D`` and contact angle
``a``, with the outer race fixed and the inner race turning at ``f`` (Hz), and
``r = d / D * cos(a)``:

* FTF  (cage, fundamental train)   ``f / 2 * (1 - r)``
* BPFO (ball pass, outer race)     ``n * f / 2 * (1 - r)``
* BPFI (ball pass, inner race)     ``n * f / 2 * (1 + r)``
* BSF  (ball spin)                 ``D / (2 d) * f * (1 - r**2)``

The default geometry is the SKF 6205-2RS of the CWRU drive end: BPFO = 3.585 f,
BPFI = 5.415 f, BSF = 2.357 f, FTF = 0.398 f.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vibration.validation import is_int

__all__ = ["BearingGeometry"]


@dataclass(frozen=True)
class BearingGeometry:
    """Geometry of a deep-groove or angular-contact ball bearing.

    Attributes
    ----------
    n_balls : int
        Number of rolling elements (>= 3).
    ball_diameter_mm : float
        Ball diameter d, mm.
    pitch_diameter_mm : float
        Pitch diameter D, mm (> d).
    contact_angle_deg : float
        Contact angle, degrees, in [0, 60).
    """

    n_balls: int = 9
    ball_diameter_mm: float = 7.94
    pitch_diameter_mm: float = 39.04
    contact_angle_deg: float = 0.0

    def __post_init__(self) -> None:
        if not is_int(self.n_balls):
            raise ValueError(f"n_balls must be an integer, got {self.n_balls!r}")
        if self.n_balls < 3:
            raise ValueError(f"n_balls must be >= 3, got {self.n_balls!r}")
        if not (math.isfinite(self.ball_diameter_mm) and self.ball_diameter_mm > 0):
            raise ValueError(f"ball_diameter_mm must be > 0, got {self.ball_diameter_mm!r}")
        if not (
            math.isfinite(self.pitch_diameter_mm) and self.pitch_diameter_mm > self.ball_diameter_mm
        ):
            raise ValueError(
                "pitch_diameter_mm must be larger than ball_diameter_mm, "
                f"got {self.pitch_diameter_mm!r}"
            )
        if not (math.isfinite(self.contact_angle_deg) and 0 <= self.contact_angle_deg < 60):
            raise ValueError(
                f"contact_angle_deg must be in [0, 60), got {self.contact_angle_deg!r}"
            )

    @property
    def ratio(self) -> float:
        """``d / D * cos(contact angle)``."""
        cos_a = math.cos(math.radians(self.contact_angle_deg))
        return self.ball_diameter_mm / self.pitch_diameter_mm * cos_a

    def fault_frequencies(self, shaft_hz: float) -> dict[str, float]:
        """Characteristic defect frequencies at a shaft speed.

        Parameters
        ----------
        shaft_hz : float
            Shaft (inner race) speed in Hz, rpm / 60; >= 0.

        Returns
        -------
        dict
            ``{"bpfo", "bpfi", "bsf", "ftf"}`` in Hz.
        """
        if not (isinstance(shaft_hz, int | float) and math.isfinite(shaft_hz) and shaft_hz >= 0):
            raise ValueError(f"shaft_hz must be a finite number >= 0, got {shaft_hz!r}")
        r = self.ratio
        n = self.n_balls
        d_ratio = self.pitch_diameter_mm / self.ball_diameter_mm
        return {
            "bpfo": n * shaft_hz / 2 * (1 - r),
            "bpfi": n * shaft_hz / 2 * (1 + r),
            "bsf": d_ratio / 2 * shaft_hz * (1 - r * r),
            "ftf": shaft_hz / 2 * (1 - r),
        }

"""Configuration of the dashboard, and how it travels to the Streamlit process.

``tinypdm dashboard`` runs ``streamlit run`` in a subprocess; the settings go through
environment variables (never the command line, where ``ps`` would show a store password):

=================================  ==========================================
``TINYPDM_DASHBOARD_STORE``        store URL (``sqlite:///...``, ``influxdb://...``)
``TINYPDM_DASHBOARD_MODELS``       model registry folder (optional)
``TINYPDM_DASHBOARD_REFRESH_S``    fleet auto-refresh period, seconds
``TINYPDM_DASHBOARD_INTERVAL_S``   expected interval between messages of a sensor
``TINYPDM_DASHBOARD_OFFLINE_X``    offline after this many expected intervals
=================================  ==========================================
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vibration.errors import TinyPdmError
from vibration.telemetry.stores import redact_url

from .state import StateRules

__all__ = ["DEFAULT_REFRESH_S", "ENV_MODELS", "ENV_STORE", "DashboardConfig"]

ENV_STORE = "TINYPDM_DASHBOARD_STORE"
ENV_MODELS = "TINYPDM_DASHBOARD_MODELS"
ENV_REFRESH = "TINYPDM_DASHBOARD_REFRESH_S"
ENV_INTERVAL = "TINYPDM_DASHBOARD_INTERVAL_S"
ENV_OFFLINE = "TINYPDM_DASHBOARD_OFFLINE_X"

#: Fleet auto-refresh period, seconds (``tinypdm dashboard --refresh``).
DEFAULT_REFRESH_S = 5.0
_RULES = StateRules()


@dataclass(frozen=True)
class DashboardConfig:
    """What the dashboard shows and how it judges sensors.

    Parameters
    ----------
    store_url : str
        URL of the score store.
    models_dir : Path, optional
        Model registry folder (see :mod:`dashboard.registry`).
    refresh_s : float
        Auto-refresh period of the live panels, seconds (>= 1).
    rules : StateRules
        Sensor state rules (see :mod:`dashboard.state`).
    """

    store_url: str
    models_dir: Path | None = None
    refresh_s: float = DEFAULT_REFRESH_S
    rules: StateRules = field(default_factory=StateRules)

    def __post_init__(self) -> None:
        if not isinstance(self.store_url, str) or "://" not in self.store_url:
            raise ValueError(
                f"store_url must be a store URL, got {redact_url(str(self.store_url))!r}"
            )
        if not (self.refresh_s >= 1 and math.isfinite(self.refresh_s)):
            raise ValueError(f"refresh_s must be >= 1, got {self.refresh_s!r}")

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry this configuration."""
        env = {
            ENV_STORE: self.store_url,
            ENV_REFRESH: repr(self.refresh_s),
            ENV_INTERVAL: repr(self.rules.expected_interval_s),
            ENV_OFFLINE: repr(self.rules.offline_factor),
        }
        if self.models_dir is not None:
            env[ENV_MODELS] = str(self.models_dir)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardConfig:
        """Read the configuration back (raises :class:`TinyPdmError` when the store is unset)."""
        env = os.environ if environ is None else environ
        url = env.get(ENV_STORE, "").strip()
        if not url:
            raise TinyPdmError(
                f"no store configured: start the dashboard with `tinypdm dashboard --store URL` "
                f"(or set {ENV_STORE})"
            )
        models = env.get(ENV_MODELS, "").strip()
        try:
            rules = StateRules(
                expected_interval_s=float(env.get(ENV_INTERVAL, _RULES.expected_interval_s)),
                offline_factor=float(env.get(ENV_OFFLINE, _RULES.offline_factor)),
            )
            return cls(
                store_url=url,
                models_dir=Path(models) if models else None,
                refresh_s=float(env.get(ENV_REFRESH, DEFAULT_REFRESH_S)),
                rules=rules,
            )
        except ValueError as exc:
            raise TinyPdmError(f"bad dashboard setting in the environment: {exc}") from exc

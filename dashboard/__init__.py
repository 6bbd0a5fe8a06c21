"""The plant engineer's Streamlit dashboard: fleet, sensor timelines, alarms, models.

``tinypdm dashboard --store URL [--models DIR]`` serves it. Importing this package is
light (no Streamlit): the Streamlit modules (``dashboard.data``, ``dashboard.app_pages``)
are imported only by the app itself.
"""

from dashboard.config import DashboardConfig
from dashboard.registry import ModelCheck, Registry, RegistryEntry, check_model, scan_registry
from dashboard.sample_fleet import SensorSpec, seed_fleet
from dashboard.serve import check_store, serve, streamlit_command
from dashboard.state import (
    FleetRow,
    LinkHistory,
    SensorState,
    StateRules,
    alarm_periods,
    choose_bucket_s,
    classify,
    fleet_rows,
)

__all__ = [
    "DashboardConfig",
    "FleetRow",
    "LinkHistory",
    "ModelCheck",
    "Registry",
    "RegistryEntry",
    "SensorSpec",
    "SensorState",
    "StateRules",
    "alarm_periods",
    "check_model",
    "check_store",
    "choose_bucket_s",
    "classify",
    "fleet_rows",
    "scan_registry",
    "seed_fleet",
    "serve",
    "streamlit_command",
]

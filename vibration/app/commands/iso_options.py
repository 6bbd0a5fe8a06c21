"""The ``--iso-group`` and ``--foundation`` options, shared by ``export`` (the device's zone
limits) and ``evaluate`` (the zone column of ``--scores``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["iso_limits", "iso_options"]


def iso_options(what: str) -> Callable[[Any], Any]:
    """Add ``--iso-group 1|2`` and ``--foundation rigid|flexible``; ``what`` ends the help."""

    def decorate(f: Any) -> Any:
        f = click.option(
            "--foundation",
            type=click.Choice(["rigid", "flexible"]),
            default="rigid",
            show_default=True,
            help="Machine foundation for the ISO zone limits (with --iso-group).",
        )(f)
        return click.option(
            "--iso-group",
            type=click.Choice(["1", "2"]),
            help="ISO 10816-3 machine group (1: 300 kW - 50 MW, 2: 15 - 300 kW) for "
            f"{what}; without it the zone is not reported.",
        )(f)

    return decorate


def iso_limits(iso_group: str | None, foundation: str) -> tuple[float, float, float] | None:
    """Zone boundaries A/B, B/C, C/D in mm/s for the options, or None without a group."""
    from vibration.learning.severity import ISO_10816_3_LIMITS

    return ISO_10816_3_LIMITS[(int(iso_group), foundation)] if iso_group else None

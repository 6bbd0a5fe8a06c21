"""Type checks for arguments, shared by every package.

``bool`` is a subclass of ``int`` in Python, so ``isinstance(True, int)`` holds: a flag
passed where a count belongs would slip through. These predicates say what a number
argument may be, bools excluded, in one place; each caller keeps its own range check and
message (``ValueError(f"... got {x!r}")`` or the package's own error).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import numpy as np

__all__ = ["is_finite_real", "is_int", "is_integer", "is_number", "is_real"]


def is_int(value: object) -> TypeGuard[int]:
    """A Python ``int`` (not a ``bool``, not a numpy integer)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_integer(value: object) -> TypeGuard[int | np.integer[Any]]:
    """A Python ``int`` or a numpy integer, not a ``bool``."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_real(value: object) -> TypeGuard[float]:
    """A Python ``int`` or ``float``, not a ``bool`` (NaN and infinities included)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite_real(value: object) -> TypeGuard[float]:
    """A finite Python ``int`` or ``float``, not a ``bool``."""
    return is_real(value) and math.isfinite(value)


def is_number(value: object) -> TypeGuard[float | np.number[Any]]:
    """A Python ``int`` or ``float`` or a numpy number, not a ``bool``."""
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)

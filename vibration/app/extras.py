"""Which optional extra (pyproject.toml) brings which third-party package.

The base install (protocol, capture, simulate, import, datasets, monitor) needs none of
them; ``tinypdm`` turns a missing one into "install tinypdm[<extra>]".
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "missing_extra", "require_extra"]

#: Third-party packages of each optional extra (pyproject.toml), by import name. The base
#: install (protocol, capture, datasets, gateway, stores) needs none of them.
EXTRAS: dict[str, str] = {
    "tensorflow": "train",
    "keras": "train",
    "sklearn": "train",
    "ai_edge_litert": "train",
    "tflite_micro": "train",
    "matplotlib": "train",
    "streamlit": "dashboard",
    "pandas": "dashboard",
    "altair": "dashboard",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The extra that installs the module ``exc`` is about, or None if it is not ours."""
    top = (exc.name or "").split(".")[0]
    return EXTRAS.get(top)


def require_extra(*modules: str) -> None:
    """Raise ``ModuleNotFoundError`` for the first of ``modules`` that is not installed.

    For commands that would otherwise fail late (in a child process, say).
    """
    for name in modules:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

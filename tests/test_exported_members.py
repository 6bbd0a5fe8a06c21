"""Every package's ``__all__`` names exist (once each) and import nothing heavy; and every
public name a top-level package binds is in its ``__all__`` (httpx ``test_exported_members``)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

PACKAGES = [
    "vibration",
    "vibration.protocol",
    "vibration.telemetry.stores",
    "firmware_export",
    "dashboard",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_exported_members_exist(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names missing attributes: {missing}"
    assert len(set(module.__all__)) == len(module.__all__)


def _public_members(module: types.ModuleType) -> set[str]:
    """Names ``module`` binds that are meant for users: not private, not submodules, not
    ``from __future__`` features or typing helpers used by its own annotations."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "TYPE_CHECKING"
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", None) not in ("typing", "__future__")
    }


@pytest.mark.parametrize("package", ["vibration", "firmware_export", "dashboard"])
def test_exported_members_are_complete(package):
    module = importlib.import_module(package)
    unexported = sorted(_public_members(module) - set(module.__all__))
    assert not unexported, f"{package} binds public names missing from __all__: {unexported}"


def test_exported_members_import_without_heavy_dependencies():
    code = (
        "import sys, vibration, vibration.protocol, vibration.telemetry.stores, dashboard;"
        "print([m for m in ('tensorflow', 'keras', 'sklearn', 'streamlit') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"

"""Every package's ``__all__`` names exist, are sorted, and import nothing heavy."""

from __future__ import annotations

import importlib
import subprocess
import sys

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


def test_exported_members_import_without_heavy_dependencies():
    code = (
        "import sys, vibration, vibration.protocol, vibration.telemetry.stores, dashboard;"
        "print([m for m in ('tensorflow', 'keras', 'sklearn', 'streamlit') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"

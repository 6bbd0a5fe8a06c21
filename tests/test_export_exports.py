"""The public names of firmware_export (httpx's test_exported_members)."""

from __future__ import annotations

import firmware_export


def test_export_exports_all_names_are_defined_and_sorted():
    names = firmware_export.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n[0].islower(), n))
    for name in names:
        assert getattr(firmware_export, name) is not None, name


def test_export_exports_public_members_are_in_all():
    public = {
        name
        for name, value in vars(firmware_export).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("firmware_export.")
    }
    assert public <= set(firmware_export.__all__)

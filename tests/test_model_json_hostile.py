"""A model.json (or bundle manifest, or recording meta.json) with a 5001-digit integer or
100,000 nested brackets is one clear CLI error, and one warning on the dashboard pages."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import ui
from tests.support import APP
from vibration.app.cli import main

HOSTILE = {
    "long-int": '{"format": "tinypdm-model", "format_version": 1, "x": 1' + "0" * 5000 + "}",
    "deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "{model}", "{tmp}"],
        ["export", "{model}", "--out", "{tmp}/fw", "--no-measure"],
        ["train", "{tmp}", "--from", "{model}", "--out", "{tmp}/m2"],
        ["verify", "{model}"],
    ],
    ids=["evaluate", "export", "train-from", "verify"],
)
def test_cli_hostile_model_json_is_one_error(tmp_path, capsys, text, command):
    model = tmp_path / "model"
    model.mkdir()
    name = "manifest.json" if command[0] == "verify" else "model.json"
    (model / name).write_text(text)
    args = [a.format(model=model, tmp=tmp_path) for a in command]
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("tinypdm: error:"), err
    assert "unreadable" in err[0]
    assert not (tmp_path / "fw").exists() and not (tmp_path / "m2").exists()


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("page", [None, "models"])
def test_dashboard_skips_a_hostile_model_json_with_a_warning(fleet, monkeypatch, text, page):
    import os

    from dashboard import data

    broken = os.path.join(os.environ["TINYPDM_DASHBOARD_MODELS"], "broken")
    os.mkdir(broken)
    with open(os.path.join(broken, "model.json"), "w") as fh:
        fh.write(text)
    data.clear_caches()
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page is not None:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning if "Model registry" in w.value]
    assert len(warnings) == 1
    assert ui.md("broken: cannot read model.json") in warnings[0]

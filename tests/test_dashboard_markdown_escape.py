"""Device- and user-supplied strings reach the pages as literal text, never as markdown.

A sensor name, a firmware field and event texts come from devices on the serial line (or
from whoever can write to the store); rendered as markdown they could make the browser
fetch an image from any host, show links or colour text. Every markdown-bearing element
of every page is rendered with a CommonMark parser: no image, link or HTML may survive.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dashboard import ui
from dashboard.config import ENV_MODELS, ENV_STORE
from dashboard.sample_fleet import SensorSpec, seed_fleet
from tests.support import APP, make_registry
from vibration.telemetry.stores import Event, open_store

S = 1_000_000_000

HOSTILE_SENSOR = "![](//host/s)"
HOSTILE_FIRMWARE = "![](//host/f)"
# A TEXT event whose raw=PATH closes the page's code span and opens an image.
HOSTILE_TEXT = "raw=`![](//host/t)`:red[x][l](https://host/l)<img/src=//host/h>www.host.com"

_MARKDOWN_ELEMENTS = ("markdown", "caption", "info", "warning", "error", "success", "title",
                      "header", "subheader")  # fmt: skip
_PARSER = MarkdownIt("commonmark", {"linkify": False})


def _rendered(at: AppTest) -> list[str]:
    out = []
    for kind in _MARKDOWN_ELEMENTS:
        out += [str(e.value) for e in at.get(kind)]
    out += [m.label for m in at.metric if m.label not in ui.BADGE.values()]  # our own markup
    return out


def _assert_inert(texts: list[str]) -> None:
    for text in texts:
        html = _PARSER.render(text)
        assert "<img" not in html and "<a " not in html, (text, html)
        # Streamlit extensions (colour directives, GFM autolinks) need unescaped [ or ://.
        assert not re.search(r"(?<!\\)\[", text), text
        assert "://" not in text and "www.host" not in text, text


@pytest.fixture
def hostile_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hashes = make_registry(tmp_path / "models")
    url = f"sqlite:///{tmp_path}/scores.db"
    store = open_store(url)
    now = time.time_ns()
    specs = (
        SensorSpec(HOSTILE_SENSOR, "![](//host/a)", "alarm", threshold=0.5,
                   firmware=HOSTILE_FIRMWARE, model_hash="cd" * 32),
        SensorSpec("fan-1", "fan", "ok", model_hash=hashes["bundles/v2"]),
    )  # fmt: skip
    seed_fleet(store, now_ns=now, specs=specs, hours=0.2, seed=7)
    store.write_events([Event(now - 60 * S, "note", HOSTILE_SENSOR, "![](//host/a)", HOSTILE_TEXT)])
    monkeypatch.setenv(ENV_STORE, url)
    monkeypatch.setenv(ENV_MODELS, str(tmp_path / "models"))
    yield store
    store.close()


@pytest.mark.parametrize("page", [None, "sensor", "alarms", "models"])
def test_dashboard_pages_escape_device_strings(hostile_fleet, page):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    if page is not None:
        at.query_params["sensor"] = HOSTILE_SENSOR
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, at.exception
    texts = _rendered(at)
    _assert_inert(texts)
    joined = "\n".join(texts)
    if page == "sensor":
        assert ui.md(HOSTILE_FIRMWARE) in joined  # shown, as literal text
        assert ui.md("`![](//host/t)`:red[x][l](https") in joined
    if page == "models":
        assert ui.md(HOSTILE_SENSOR) + ": model unknown" in joined


def test_alarms_page_messages_escape_the_sensor_name(hostile_fleet):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/alarms.py").run()
    at.text_input(key="ack_author").input("Ada")
    at.button(key="ack_submit").click().run()
    assert not at.exception
    assert at.success and ui.md(HOSTILE_SENSOR) in at.success[0].value
    _assert_inert(_rendered(at))


def test_alarms_page_messages_are_escaped_exactly_once(hostile_fleet):
    """The message reads as the literal sensor name: no backslash of a second escape."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/alarms.py").run()
    at.text_input(key="ack_author").input("Ada")
    at.button(key="ack_submit").click().run()
    assert not at.exception
    shown = _PARSER.render(at.success[0].value)
    assert shown == "<p>" + _escape_html(f"Alarm of {HOSTILE_SENSOR} acknowledged.") + "</p>\n"


@pytest.mark.parametrize(
    "text",
    ["![](//h/x)", "`a`", "<b>", ":red[x]", "[l](u)", "https://h", "www.h.com", "a\n# h", "\\"],
)
def test_md_renders_as_the_literal_text(text):
    html = _PARSER.render(ui.md(text))
    assert html == "<p>" + _escape_html(" ".join(text.split())) + "</p>\n"


def _escape_html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def test_models_page_report_cannot_make_the_browser_fetch_images(hostile_fleet, tmp_path):
    import os

    entry = Path(os.environ[ENV_MODELS]) / "zz-hostile"
    entry.mkdir()
    (entry / "model.json").write_text("{}")
    (entry / "report.md").write_text(
        "# Report\n\n![a][r] and ![b [c]](//host/n) and ![d](//host/i)\n\n[r]: //host/r\n"
    )
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/models.py").run()
    at.selectbox(key="model_pick").select("zz-hostile").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown if "Report" in m.value]
    assert shown
    for text in shown:
        assert "<img" not in _PARSER.render(text), text

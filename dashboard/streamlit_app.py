"""Entry point of the Streamlit app: page setup and routing only.

Run by ``tinypdm dashboard`` (``streamlit run`` in a subprocess); the store URL and the
other settings arrive in environment variables (see :mod:`dashboard.config`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import data, ui

_PAGES = Path(__file__).parent / "app_pages"

st.set_page_config(page_title="tinypdm fleet", page_icon=":material/monitor_heart:", layout="wide")

nav = st.navigation(
    [
        st.Page(
            _PAGES / "fleet.py",
            title="Fleet",
            icon=":material/dashboard:",
            url_path="fleet",
            default=True,
        ),
        st.Page(
            _PAGES / "sensor.py", title="Sensor", icon=":material/show_chart:", url_path="sensor"
        ),
        st.Page(
            _PAGES / "alarms.py",
            title="Alarms and events",
            icon=":material/notifications:",
            url_path="alarms",
        ),
        st.Page(
            _PAGES / "models.py",
            title="Models and devices",
            icon=":material/memory:",
            url_path="models",
        ),
    ]
)

with data.guard():
    cfg = data.config()
    with st.sidebar:
        st.caption(f"Store: {ui.md(data.store_label(cfg))}")
        if cfg.models_dir is not None:
            st.caption(f"Models: {ui.md(cfg.models_dir)}")
        if st.button("Reload data", icon=":material/refresh:"):
            data.clear_caches()

nav.run()

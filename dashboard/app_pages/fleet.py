"""Fleet: every sensor with its state, worst first; refreshes itself."""

from __future__ import annotations

import streamlit as st

from dashboard import data, ui
from dashboard.state import SensorState

st.title("Fleet")

with data.guard():
    cfg = data.config()
    for problem in data.registry(cfg).problems():
        st.warning(f"Model registry: {ui.md(problem)}")


@st.fragment(run_every=cfg.refresh_s)
def _fleet_panel() -> None:
    with data.guard():
        rows = data.fleet(cfg)
    if not rows:
        st.info("No sensor has reported to this store yet. Start `tinypdm monitor`.")
        return
    counts = {s: sum(r.state is s for r in rows) for s in SensorState}
    cols = st.columns(4)
    for col, state in zip(cols, sorted(SensorState, reverse=True), strict=True):
        col.metric(ui.BADGE[state], counts[state])
    st.dataframe(
        ui.style_states(ui.fleet_frame(rows, ui.display_tz())),
        key="fleet_table",
        hide_index=True,
        column_order=[
            "state",
            "sensor",
            "open",
            "asset",
            "why",
            "% of threshold",
            "score",
            "threshold",
            "last seen",
            "ago",
            "model",
            "model check",
            "firmware",
            "link",
        ],
        column_config={
            "score": st.column_config.NumberColumn(format="%.4g"),
            "threshold": st.column_config.NumberColumn(format="%.4g"),
            "% of threshold": st.column_config.NumberColumn(format="%.0f %%"),
            "last seen": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "open": st.column_config.LinkColumn("timeline", display_text="open"),
        },
    )
    r = cfg.rules
    st.caption(
        f"alarm: alarm flag in the latest score · offline: silent > {r.offline_after_s:.0f} s · "
        f"warning: score ≥ {r.warn_fraction:.0%} of threshold or link errors growing within "
        f"{r.link_window_s / 60:.0f} min · refreshed every {cfg.refresh_s:g} s"
    )


_fleet_panel()

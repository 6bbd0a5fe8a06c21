"""Fleet: every sensor with its state and health index, worst first; refreshes itself."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, ui
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
    cols = st.columns(len(SensorState))
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
            "health index",
            "velocity mm/s",
            "ISO zone",
            "speed rpm",
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
            "health index": st.column_config.NumberColumn(
                format="%.3g", help="score / threshold: 1.0 is the alarm level"
            ),
            "velocity mm/s": st.column_config.NumberColumn(
                format="%.2f", help="ISO 10816/20816 velocity RMS, 10 Hz-1 kHz"
            ),
            "ISO zone": st.column_config.TextColumn(
                help="A new machine · B unrestricted · C restricted operation · D damage occurs"
            ),
            "speed rpm": st.column_config.NumberColumn(format="%.0f"),
            "last seen": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "open": st.column_config.LinkColumn("timeline", display_text="open"),
        },
    )
    if any(r.state is SensorState.UNKNOWN_OP for r in rows):
        st.info(
            "Unknown operating point: the model was not trained at this speed or load, so "
            "it gives no verdict. Record healthy data at this operating point and retrain "
            "(`tinypdm train --from`)."
        )
    st.altair_chart(charts.fleet_health_chart(rows), key="fleet_health")
    r = cfg.rules
    st.caption(
        f"health index = score / threshold (log axis; 1.0 = alarm level) · "
        f"alarm: alarm flag in the latest score · offline: silent > {r.offline_after_s:.0f} s · "
        f"warning: health index ≥ {r.warn_fraction:.2g} or link errors growing within "
        f"{r.link_window_s / 60:.0f} min · unknown operating point: no verdict, retrain · "
        f"refreshed every {cfg.refresh_s:g} s"
    )


_fleet_panel()

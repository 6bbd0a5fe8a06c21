"""Models and devices: what each sensor runs vs the registry; each model's report."""

from __future__ import annotations

import streamlit as st

from dashboard import data, ui
from dashboard.state import short_hash

st.title("Models and devices")

with data.guard():
    cfg = data.config()
    rows = data.fleet(cfg)
    reg = data.registry(cfg)

# -- devices -------------------------------------------------------------------------
st.header("Devices")
if reg.root is None:
    st.info("No model registry: start with `tinypdm dashboard --models DIR` to check models.")
elif reg.error:
    st.warning(ui.md(reg.error))
for problem in reg.problems():
    st.warning(f"Model registry: {ui.md(problem)}")

if not rows:
    st.info("No sensor has reported to this store yet.")
else:
    from dashboard.registry import check_model

    table = []
    flagged = []
    for r in sorted(rows, key=lambda r: r.sensor):
        check = check_model(reg, r.model_hash, r.sensor, r.asset)
        if check.flagged:
            flagged.append((r.sensor, check.status))
        table.append(
            {
                "sensor": r.sensor,
                "asset": r.asset,
                "firmware": r.firmware,
                "model hash": short_hash(r.model_hash, 16),
                "registry": check.entry.name if check.entry is not None else "",
                "expected": check.expected.name if check.expected is not None else "",
                "check": ("⚠️ " if check.flagged else "") + check.status,
                "last seen": ui.to_local(r.last_seen_ns, ui.display_tz()),
            }
        )
    for sensor, status in flagged:
        st.warning(f"{ui.md(sensor)}: model {ui.md(status)}")
    st.dataframe(
        table,
        hide_index=True,
        key="devices",
        column_config={"last seen": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
    st.caption(
        "ok: the expected model · outdated: a registered model, not the expected one · "
        "unknown: not in the registry · no model: all-zero hash. Expected: the pin in "
        "fleet.json, else the newest bundle."
    )

# -- registry ------------------------------------------------------------------------
st.header("Registry")
if reg.root is not None and not len(reg):
    st.info(f"No model directory or bundle under {ui.md(reg.root)}.")
if len(reg):
    st.dataframe(
        [
            {
                "name": e.name,
                "kind": e.kind,
                ".tflite sha256": ", ".join(short_hash(h, 16) for h in e.tflite_sha256),
                "report": "yes" if e.report_md or e.plots else "no",
                "problem": e.error,
            }
            for e in reg
        ],
        hide_index=True,
        key="registry",
    )
    names = [e.name for e in reg]
    picked = st.selectbox("Show", names, key="model_pick")
    entry = reg.by_name(str(picked))
    if entry is not None:
        st.subheader(ui.md(entry.name))
        if entry.error:
            st.warning(ui.md(entry.error))
        metrics = entry.metrics()
        if metrics:
            with st.expander("model.json / manifest.json", expanded=False):
                st.dataframe(
                    [{"key": k, "value": str(v)} for k, v in metrics.items()],
                    hide_index=True,
                    key="model_metrics",
                )
        if entry.report_md is not None or entry.plots:
            with st.container(border=True):
                if entry.report_md is not None:
                    st.markdown(entry.report_text())
                for png in entry.plots:
                    st.image(str(png), caption=png.name)
        if entry.report_md is None and not entry.plots:
            st.caption("No training report: run `tinypdm evaluate MODEL_DIR ... --report DIR`.")

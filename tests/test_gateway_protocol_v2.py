"""Protocol version 2 through the gateway (real ptys, real SQLite): the new SCORE fields
reach the store, alarm lifecycle events follow the device's alarm, an unknown operating
point raises nothing, a version-1 device still works and an unsupported version is named
once per link."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from tests.support import frames_seen, gateway_config, raw_sender, wait_for
from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import Hello, Score, Text, cobs_encode, crc32, encode_frame, pack_frame
from vibration.telemetry.gateway import Gateway
from vibration.telemetry.stores import ScorePoint, open_store

_HELLO = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "pump-v2", "fw-2", bytes(32))
UNKNOWN = Score.STATE_UNKNOWN


def _score(seq: int, value: float, alarm: bool, state: int, **kw: object) -> bytes:
    body = Score(
        seq * 100_000, value, 1.0, 0.2, 3.0, alarm, value > 1.0, state,
        Score.FLAG_UNKNOWN_OP if state == UNKNOWN else 0, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return encode_frame(seq, body)


def test_gateway_v2_fields_and_alarm_lifecycle_reach_the_store(
    tmp_path: Path,
    links: list[PtyLink],
) -> None:
    v2 = {"speed_rpm": 1480.0, "velocity_rms_mm_s": 4.5, "iso_zone": 2, "top_features": (7, 3)}
    frames = [encode_frame(0, _HELLO)]
    frames += [_score(1, 0.5, False, 0, **v2), _score(2, 2.0, True, 2, **v2)]  # raised
    # unknown operating point while in alarm: alarm 0 on the wire, but nothing is cleared
    frames += [_score(3, 0.3, False, UNKNOWN, speed_rpm=2900.0)]
    frames += [_score(4, 2.5, True, 2, **v2), _score(5, 0.4, False, 0, **v2)]  # cleared
    frames += [_score(6, 9.0, False, UNKNOWN), _score(7, 9.0, False, UNKNOWN)]  # no alarm
    gw = Gateway(gateway_config(tmp_path, links[:1])).start()
    raw_sender(links[0], frames)
    wait_for(lambda: frames_seen(gw) == 7, what="SCORE frames")
    gw.stop()
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    try:
        series = store.query_scores("pump-v2", 0, 2**62)
        assert series.state.tolist() == [0, 2, 3, 2, 0, 3, 3]
        assert series.speed_rpm[:3].tolist() == [1480.0, 1480.0, 2900.0]
        latest = store.latest_scores()["pump-v2"]
        assert latest.state == ScorePoint.STATE_UNKNOWN and latest.speed_rpm is None
        evs = store.events(0, 2**62, "pump-v2")
        assert [e.kind for e in evs] == ["alarm_raised", "alarm_cleared"]
        assert "health index 2" in evs[0].text
        assert series.velocity_rms_mm_s[0] == 4.5
        first = store.query_scores("pump-v2", int(series.time_ns[1]), int(series.time_ns[1]) + 1)
        assert first.state.tolist() == [2]
    finally:
        store.close()


def test_gateway_v1_device_still_scores(tmp_path: Path, links: list[PtyLink]) -> None:
    frames = [encode_frame(0, _HELLO, version=1)]
    frames += [
        encode_frame(s, Score(s * 1000, 2.0 * (s % 2), 1.0, 0.2, 3.0, s % 2 == 1, False), version=1)
        for s in range(1, 5)
    ]
    gw = Gateway(gateway_config(tmp_path, links[:1])).start()
    raw_sender(links[0], frames)
    wait_for(lambda: frames_seen(gw) == 4, what="SCORE frames")
    report = gw.stop()
    assert report.links[0].last_error == ""
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    try:
        latest = store.latest_scores()["pump-v2"]
        assert latest.state is None and latest.speed_rpm is None and latest.top_features == ()
        kinds = [e.kind for e in store.events(0, 2**62, "pump-v2")]
        assert kinds == ["alarm_raised", "alarm_cleared", "alarm_raised", "alarm_cleared"]
    finally:
        store.close()


def _version(raw: bytes, version: int) -> bytes:
    body = bytes((version,)) + raw[1:-4]
    return cobs_encode(body + struct.pack("<I", crc32(body))) + b"\x00"


def test_gateway_names_an_unsupported_protocol_version_once(
    tmp_path: Path,
    links: list[PtyLink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames = [_version(pack_frame(0, _HELLO), 3)]
    frames += [_version(pack_frame(s, Text(1, f"t{s}")), 3) for s in range(1, 6)]
    frames += [encode_frame(9, Text(Text.INFO, "v2 text"))]
    gw = Gateway(gateway_config(tmp_path, links[:1], hello_wait_s=0.2)).start()
    with caplog.at_level(logging.ERROR, logger="tinypdm.gateway"):
        raw_sender(links[0], frames)
        wait_for(lambda: frames_seen(gw, "TEXT") == 1, what="the v2 TEXT frame")
        report = gw.stop()
    message = "protocol version 3 is not supported by this tinypdm (1..2): update tinypdm"
    said = [r.getMessage() for r in caplog.records if "protocol version" in r.getMessage()]
    assert said == [f"pump-v2: {message}"] or said == [f"{links[0].path}: {message}"]
    assert report.links[0].last_error == message


def test_gateway_v2_fields_reach_the_dashboard(
    tmp_path: Path,
    links: list[PtyLink],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard import data
    from dashboard.config import ENV_STORE
    from tests.support import APP, frame

    v2 = {"speed_rpm": 1480.0, "velocity_rms_mm_s": 5.25, "iso_zone": 4, "top_features": (2,)}
    frames = [encode_frame(0, _HELLO)]
    frames += [_score(s, 0.5, False, 0, **v2) for s in range(1, 4)]
    frames += [_score(4, 0.2, False, UNKNOWN, speed_rpm=2900.0, velocity_rms_mm_s=1.0)]
    gw = Gateway(gateway_config(tmp_path, links[:1])).start()
    raw_sender(links[0], frames)
    wait_for(lambda: frames_seen(gw) == 4, what="SCORE frames")
    gw.stop()
    monkeypatch.setenv(ENV_STORE, f"sqlite://{tmp_path}/scores.db")
    data.clear_caches()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    row = frame(at, "fleet_table").set_index("sensor").loc["pump-v2"]
    assert row["state"] == "unknown operating point"
    assert row["speed rpm"] == pytest.approx(2900.0)
    assert row["velocity mm/s"] == pytest.approx(1.0)
    assert row["health index"] == pytest.approx(0.2)
    at.query_params["sensor"] = "pump-v2"
    at.switch_page("app_pages/sensor.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["speed rpm"] == "2900" and metrics["state"] == "unknown operating point"
    assert any("tinypdm train --from" in w.value for w in at.warning)
    assert len(at.get("vega_lite_chart")) == 5  # health, speed, velocity, RMS, kurtosis

"""Pure rules of the dashboard: states, ordering, buckets, alarm periods, link history."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.state import (
    BUCKET_STEPS_S,
    FleetRow,
    LinkHistory,
    SensorState,
    StateRules,
    alarm_periods,
    choose_bucket_s,
    classify,
    clean_text,
    fleet_rows,
    format_age,
    raw_window_paths,
)

S = 1_000_000_000
NOW = 1_700_000_000 * S
RULES = StateRules(expected_interval_s=10.0, offline_factor=6.0, warn_fraction=0.8)


def state_of(**kw: object) -> SensorState:
    return classify(now_ns=NOW, rules=RULES, **kw)[0]  # type: ignore[arg-type]


def test_classify_alarm_flag_wins_even_when_silent():
    state, reason = classify(
        now_ns=NOW, rules=RULES, score_time_ns=NOW - 3600 * S, score=2.0, threshold=1.0, alarm=True
    )
    assert state is SensorState.ALARM
    assert "silent" in reason


@pytest.mark.parametrize(
    ("age_s", "expected"),
    [(0, SensorState.OK), (60, SensorState.OK), (60.5, SensorState.OFFLINE)],
    ids=["fresh", "at-limit", "past-limit"],
)
def test_classify_offline_after_factor_times_interval(age_s, expected):
    t = NOW - int(age_s * S)
    assert state_of(score_time_ns=t, score=0.1, threshold=1.0) is expected


def test_classify_offline_uses_the_latest_of_score_and_status():
    assert (
        state_of(score_time_ns=NOW - 7200 * S, score=0.1, threshold=1.0, status_time_ns=NOW)
        is SensorState.OK
    )


def test_classify_never_heard_is_offline():
    assert classify(now_ns=NOW, rules=RULES) == (SensorState.OFFLINE, "never heard from")


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.79, SensorState.OK), (0.8, SensorState.WARNING), (1.5, SensorState.WARNING)],
    ids=["below", "at-80pct", "over-no-alarm"],
)
def test_classify_warning_from_score_fraction(score, expected):
    assert state_of(score_time_ns=NOW, score=score, threshold=1.0) is expected


def test_classify_warning_when_link_errors_grow():
    state, reason = classify(
        now_ns=NOW,
        rules=RULES,
        score_time_ns=NOW,
        score=0.1,
        threshold=1.0,
        link_errors_now=12,
        link_errors_before=4,
    )
    assert state is SensorState.WARNING
    assert "+8 link errors" in reason
    assert (
        state_of(
            score_time_ns=NOW, score=0.1, threshold=1.0, link_errors_now=4, link_errors_before=4
        )
        is SensorState.OK
    )


def test_state_rules_reject_bad_values():
    with pytest.raises(ValueError, match="warn_fraction"):
        StateRules(warn_fraction=1.5)
    with pytest.raises(ValueError, match="offline_factor"):
        StateRules(offline_factor=0.5)
    with pytest.raises(ValueError, match="expected_interval_s"):
        StateRules(expected_interval_s=float("nan"))


def _row(sensor: str, state: SensorState, score: float | None) -> FleetRow:
    return FleetRow(sensor, "a", state, "", NOW, 0.0, score=score, threshold=1.0)


def test_fleet_rows_sorts_worst_first():
    rows = [
        _row("ok-low", SensorState.OK, 0.1),
        _row("warn", SensorState.WARNING, 0.85),
        _row("ok-high", SensorState.OK, 0.7),
        _row("off", SensorState.OFFLINE, None),
        _row("alarm", SensorState.ALARM, 3.0),
        _row("warn-worse", SensorState.WARNING, 0.95),
    ]
    assert [r.sensor for r in fleet_rows(rows)] == [
        "alarm",
        "off",
        "warn-worse",
        "warn",
        "ok-high",
        "ok-low",
    ]


@pytest.mark.parametrize(
    ("span_s", "bucket"),
    [(600, 1), (3600, 2), (6 * 3600, 15), (86400, 60), (7 * 86400, 600), (30 * 86400, 1800)],
    ids=["10min", "1h", "6h", "24h", "7d", "30d"],
)
def test_choose_bucket_s_draws_at_most_2000_points(span_s, bucket):
    got = choose_bucket_s(NOW - span_s * S, NOW)
    assert got == bucket
    if span_s > 2000:
        assert 800 <= span_s / got <= 2000


def test_choose_bucket_s_beyond_the_table_and_bad_ranges():
    span = 10 * 365 * 86400
    got = choose_bucket_s(0, span * S)
    assert got > BUCKET_STEPS_S[-1] and span / got <= 2000
    with pytest.raises(ValueError, match="end_ns"):
        choose_bucket_s(NOW, NOW)


def test_alarm_periods_finds_runs_and_extends_by_width():
    t = np.arange(10, dtype=np.int64) * 60 * S
    a = np.array([0, 1, 1, 0, 0, 1, 0, 0, 1, 1], dtype=bool)
    assert alarm_periods(t, a, width_ns=60 * S) == [
        (60 * S, 180 * S),
        (300 * S, 360 * S),
        (480 * S, 600 * S),
    ]
    assert alarm_periods(t[:0], a[:0]) == []
    with pytest.raises(ValueError, match="one length"):
        alarm_periods(t, a[:3])


def test_link_history_compares_with_the_window_start_and_resets_on_restart():
    h = LinkHistory(window_s=600)
    assert h.observe("s", NOW, 5) is None  # nothing to compare with yet
    assert h.observe("s", NOW + 10 * S, 5) == 5
    assert h.observe("s", NOW + 20 * S, 9) == 5  # rising within the window
    # 15 minutes on: the comparison point moves to the newest sample >= 10 min old
    assert h.observe("s", NOW + 900 * S, 9) == 9
    # gateway restarted, counters back to zero: a fresh history, no warning
    assert h.observe("s", NOW + 910 * S, 0) is None
    assert h.observe("other", NOW, 1) is None


def test_clean_text_validates_free_text():
    assert clean_text("  bearing replaced ", "note", max_len=50, required=True) == (
        "bearing replaced"
    )
    assert clean_text("'; DROP TABLE event; --", "note", max_len=50, required=True)
    with pytest.raises(ValueError, match="must not be empty"):
        clean_text("   ", "note", max_len=50, required=True)
    with pytest.raises(ValueError, match="at most 5"):
        clean_text("123456", "note", max_len=5, required=False)
    with pytest.raises(ValueError, match="control"):
        clean_text("a\x00b", "note", max_len=50, required=False)


def test_raw_window_paths_from_event_text():
    class Ev:
        def __init__(self, text: str) -> None:
            self.text = text

    evs = [Ev("alarm raw=/data/w1.npy"), Ev("no path"), Ev("raw=/data/w2 raw=/data/w1.npy")]
    assert raw_window_paths(evs) == ["/data/w1.npy", "/data/w2"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5 s"), (600, "10 min"), (5400, "90 min"), (9000, "2.5 h")]
)
def test_format_age_reads_like_a_person(seconds, text):
    assert format_age(seconds) == text


def test_fleet_row_combines_status_and_latest_score():
    from dashboard.state import fleet_row
    from vibration.telemetry.stores import ScorePoint, SensorStatus

    status = SensorStatus(NOW - 5 * S, "s1", "pump", "fw-2", "ab" * 32, 12000.0, 3, 4)
    point = ScorePoint(NOW - 2 * S, "s1", "pump", "ae", 0.85, 1.0, False, 0.4, 3.1, 9)
    row = fleet_row("s1", status, point, now_ns=NOW, rules=RULES, link_errors_before=7)
    assert (row.state, row.reason) == (SensorState.WARNING, "score 85% of threshold")
    assert (row.last_seen_ns, row.age_s) == (NOW - 2 * S, 2.0)
    assert (row.asset, row.firmware, row.crc_errors, row.dropped_frames) == ("pump", "fw-2", 3, 4)
    assert row.model_name == "ab" * 6 and row.link_errors_new == 0
    only_score = fleet_row("s2", None, point, now_ns=NOW, rules=RULES)
    assert only_score.model_name == "ae" and only_score.crc_errors is None
    nothing = fleet_row("s3", None, None, now_ns=NOW, rules=RULES)
    assert nothing.state is SensorState.OFFLINE and nothing.last_seen_ns is None

"""One contract, every backend: the same tests run against SQLite and a real influxd."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support import drop_database, with_database
from vibration.telemetry.stores import (
    Event,
    ScorePoint,
    SensorStatus,
    Store,
    open_store,
    shelved_sensors,
)

T0 = 1_700_000_000 * 10**9  # a fixed wall time, ns
S = 10**9

NASTY_NAMES = [
    "it's; DROP MEASUREMENT anomaly_score",
    'pump "7", east',
    "a=b c=d",
    "x' OR '1'='1",
    "Pumpe Süd #3 / DE",
    "semi;colon,comma",
]


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.influxd)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite://{tmp_path / 'scores.db'}")
        yield s
        s.close()
        return
    base = request.getfixturevalue("influxd_url")
    s = open_store(with_database(base, "t_" + uuid.uuid4().hex[:12]))
    yield s
    drop_database(s)
    s.close()


def point(t: int, sensor: str = "s1", score: float = 0.5, **kw: object) -> ScorePoint:
    fields: dict[str, object] = dict(
        asset="pump-1",
        model="3f2a9c01d4e5",
        threshold=1.0,
        alarm=score > 1.0,
        rms=0.25,
        kurtosis=3.0,
        seq=0,
    )
    fields.update(kw)
    return ScorePoint(time_ns=t, sensor=sensor, score=score, **fields)  # type: ignore[arg-type]


def test_store_latest_scores_round_trips_every_field(store: Store) -> None:
    a = point(
        T0,
        "s1",
        0.1234567890123,
        threshold=0.75,
        alarm=True,
        rms=1e-5,
        kurtosis=2.5,
        seq=4_000_000_000,
    )
    b = point(T0 + S, "s1", 2.0, seq=5)
    c = point(T0 + 3, "s2", 1e-30, asset="fan", model="ffffffffffff")
    store.write_scores([a, c, b])
    latest = store.latest_scores()
    assert latest == {"s1": b, "s2": c}
    store.write_scores([point(T0 + 2 * S, "s1", 0.0)])
    assert store.latest_scores()["s1"].time_ns == T0 + 2 * S
    # An older point written later (a spool replay) does not become the latest.
    store.write_scores([a])
    assert store.latest_scores()["s1"].time_ns == T0 + 2 * S


def test_store_duplicate_points_are_stored_once(store: Store) -> None:
    batch = [point(T0 + i * S, "s1", float(i)) for i in range(50)]
    store.write_scores(batch)
    store.write_scores(batch)
    store.write_scores(batch[10:20])
    assert store.count_scores() == 50
    # Same identity, new fields: replaced, not added.
    store.write_scores([point(T0, "s1", 9.5)])
    assert store.count_scores("s1") == 50
    raw = store.query_scores("s1", T0, T0 + 1)
    assert raw.score.tolist() == [9.5]
    # Same time, another model: another point.
    store.write_scores([point(T0, "s1", 1.0, model="000000000000")])
    assert store.count_scores("s1") == 51


def test_store_query_scores_raw_is_half_open_and_sorted(store: Store) -> None:
    pts = [point(T0 + i * S, "s1", float(i), alarm=i % 3 == 0) for i in range(10)]
    store.write_scores([*pts[::-1], point(T0 + 5 * S, "other", 99.0)])
    series = store.query_scores("s1", T0 + 2 * S, T0 + 7 * S)
    assert series.time_ns.tolist() == [T0 + i * S for i in range(2, 7)]
    assert series.score.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert series.score_max.tolist() == series.score.tolist()
    assert series.alarm.tolist() == [False, True, False, False, True]
    assert series.count.tolist() == [1] * 5
    assert series.time_ns.dtype == np.int64 and series.alarm.dtype == np.bool_
    assert len(store.query_scores("s1", T0, T0)) == 0


def test_store_query_scores_buckets_match_numpy(store: Store) -> None:
    rng = np.random.default_rng(7)
    n = 600
    t = T0 + np.sort(rng.choice(1800 * S, size=n, replace=False)).astype(np.int64)
    score = rng.gamma(2.0, 0.1, size=n)
    thr = np.where(t < T0 + 900 * S, 0.5, 0.6)
    alarm = score > 0.45
    rms = rng.uniform(0.1, 1.0, size=n)
    kurt = rng.uniform(2.0, 6.0, size=n)
    store.write_scores(
        [
            ScorePoint(
                int(t[i]),
                "s1",
                "pump-1",
                "m",
                float(score[i]),
                float(thr[i]),
                bool(alarm[i]),
                float(rms[i]),
                float(kurt[i]),
                i,
            )
            for i in range(n)
        ]
    )
    start, end = T0 + 95 * S, T0 + 1700 * S
    got = store.query_scores("s1", start, end, bucket_s=60)

    keep = (t >= start) & (t < end)
    bucket = (t[keep] // (60 * S)) * (60 * S)
    starts = np.unique(bucket)
    assert got.time_ns.tolist() == starts.tolist()
    reducers: list[tuple[str, np.ndarray, Callable[[np.ndarray], float]]] = [
        ("score", score, np.mean),
        ("score_max", score, np.max),
        ("threshold", thr, np.mean),
        ("rms", rms, np.mean),
        ("kurtosis", kurt, np.mean),
    ]
    for name, values, fn in reducers:
        want = [fn(values[keep][bucket == b]) for b in starts]
        np.testing.assert_allclose(getattr(got, name), want, rtol=1e-12, err_msg=name)
    assert got.alarm.tolist() == [bool(alarm[keep][bucket == b].any()) for b in starts]
    assert got.count.tolist() == [int((bucket == b).sum()) for b in starts]
    assert int(got.count.sum()) == int(keep.sum())


def test_store_sensors_gives_latest_status_per_sensor(store: Store) -> None:
    old = SensorStatus(T0, "s2", "fan", "fw-1.0", "ab" * 32, 12000.0, 0, 0)
    new = SensorStatus(T0 + 10 * S, "s2", "fan", "fw-1.1", "cd" * 32, 12800.0, 3, 17)
    other = SensorStatus(T0 + 5 * S, "s1", "pump-1", "", "", 0.0, 0, 0)
    store.write_status([new, other, old])
    store.write_status([new])
    assert store.sensors() == [other, new]


def test_store_events_filter_by_range_and_sensor(store: Store) -> None:
    evs = [
        Event(T0 + 1 * S, "alarm", "s1", "pump-1", "score 3.2 > 1.0"),
        Event(T0 + 2 * S, "ack", "s1", "pump-1", "seen, checking", author="ana"),
        Event(T0 + 2 * S, "note", "s2", "fan", 'multi\nline "quoted" \\ text', author="bo b"),
        Event(T0 + 9 * S, "maintenance", "s2", "fan", "bearing replaced"),
    ]
    store.write_events(evs[::-1])
    store.write_events(evs[:1])
    assert store.events(T0, T0 + 10 * S) == evs
    assert store.events(T0 + 2 * S, T0 + 9 * S) == evs[1:3]
    assert store.events(T0, T0 + 10 * S, sensor="s2") == [evs[2], evs[3]]
    assert store.events(T0, T0 + 10 * S, sensor="nobody") == []


def test_store_count_scores_counts_per_sensor(store: Store) -> None:
    assert store.count_scores() == 0
    store.write_scores(
        [point(T0 + i, "a") for i in range(7)] + [point(T0 + i, "b") for i in range(3)]
    )
    assert (store.count_scores(), store.count_scores("a"), store.count_scores("b")) == (10, 7, 3)
    assert store.count_scores("c") == 0


def test_store_empty_store_answers_empty(store: Store) -> None:
    assert store.sensors() == []
    assert store.latest_scores() == {}
    assert len(store.query_scores("s1", 0, T0, bucket_s=60)) == 0
    assert store.events(0, T0) == []


@pytest.mark.parametrize("name", NASTY_NAMES, ids=range(len(NASTY_NAMES)))
def test_store_nasty_names_round_trip_without_injection(store: Store, name: str) -> None:
    victim = point(T0, "victim")
    store.write_scores([victim])
    p = point(T0 + S, name, 0.7, asset=name, model=name)
    store.write_scores([p])
    store.write_status([SensorStatus(T0 + S, name, name, name, name, 1.0, 1, 2)])
    store.write_events([Event(T0 + S, "note", name, name, name, name)])
    assert store.latest_scores() == {"victim": victim, name: p}
    assert store.query_scores(name, T0, T0 + 2 * S).score.tolist() == [0.7]
    assert store.count_scores(name) == 1
    assert store.count_scores() == 2
    assert [s.sensor for s in store.sensors()] == [name]
    assert store.events(T0, T0 + 2 * S, sensor=name)[0].text == name


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.query_scores("s1", 10, 5),
        lambda s: s.query_scores("s1", 0, 10, bucket_s=0),
        lambda s: s.query_scores("bad\\name", 0, 10),
        lambda s: s.query_scores("", 0, 10),
        lambda s: s.events(0, 10, sensor="line\nbreak"),
        lambda s: s.count_scores(" padded"),
    ],
    ids=["end-before-start", "bucket-0", "backslash", "empty", "newline", "padded"],
)
def test_store_bad_arguments_raise_value_error(
    store: Store, call: Callable[[Store], object]
) -> None:
    with pytest.raises(ValueError):
        call(store)


def test_store_concurrent_writers_lose_nothing(store: Store) -> None:
    def work(k: int) -> None:
        for j in range(10):
            store.write_scores(
                [point(T0 + (k * 1000 + j * 10 + i) * S, f"s{k}") for i in range(10)]
            )

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert store.count_scores() == 400
    assert sorted(store.latest_scores()) == ["s0", "s1", "s2", "s3"]


def test_store_is_a_store_and_has_a_url(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.url.split(":")[0] in ("sqlite", "influxdb")


def test_store_package_exports_exactly_its_public_names() -> None:
    import vibration.telemetry.stores as stores

    assert sorted(stores.__all__) == sorted(
        [
            "ACK_KINDS",
            "ALARM_KINDS",
            "EVENT_KINDS",
            "PASSWORD_ENV",
            "AlarmActions",
            "Batch",
            "Event",
            "Evidence",
            "InfluxStore",
            "PartialWriteError",
            "ScorePoint",
            "ScoreSeries",
            "SensorStatus",
            "Spool",
            "SpoolFull",
            "SpoolStats",
            "SpooledStore",
            "SqliteStore",
            "Store",
            "StoreURLError",
            "check_name",
            "open_store",
            "redact_url",
            "store_url_with_password",
            "shelved_sensors",
        ]
    )
    public = {n for n in vars(stores) if not n.startswith("_") and n not in {"annotations"}}
    modules = {"base", "factory", "influx", "spool", "sqlite", "batcher", "influxd_process"}
    modules.add("evidence")
    assert public - modules == set(stores.__all__)


# -- protocol version 2 fields and the alarm lifecycle -------------------------------------


def test_store_v2_fields_round_trip_and_v1_points_keep_none(store: Store) -> None:
    v2 = point(
        T0 + S,
        "s1",
        1.5,
        state=ScorePoint.STATE_ALARM,
        speed_rpm=1480.5,
        velocity_rms_mm_s=4.25,
        iso_zone=3,
        top_features=(7, 12),
    )
    unknown = point(
        T0 + 2 * S, "s1", 0.25, state=ScorePoint.STATE_UNKNOWN, speed_rpm=2950.0, top_features=[4]
    )
    v1 = point(T0 + S, "s2", 0.5)
    store.write_scores([v2, v1])
    assert store.latest_scores() == {"s1": v2, "s2": v1}
    assert v1.state is v1.speed_rpm is v1.iso_zone is None and v1.top_features == ()
    store.write_scores([unknown])
    latest = store.latest_scores()["s1"]
    assert latest == unknown and latest.top_features == (4,) and latest.iso_zone is None
    raw = store.query_scores("s1", T0, T0 + 10 * S)
    assert raw.speed_rpm.tolist() == [1480.5, 2950.0]
    assert raw.velocity_rms_mm_s[0] == 4.25 and np.isnan(raw.velocity_rms_mm_s[1])
    assert raw.state.tolist() == [2, 3]
    bucketed = store.query_scores("s1", T0, T0 + 10 * S, bucket_s=10)
    assert bucketed.speed_rpm.tolist() == [pytest.approx((1480.5 + 2950.0) / 2)]
    assert bucketed.state.tolist() == [3]
    old = store.query_scores("s2", T0, T0 + 10 * S)
    assert np.isnan(old.speed_rpm).all() and old.state.tolist() == [-1]


def test_store_health_index_is_score_over_threshold() -> None:
    assert point(T0, score=1.5, threshold=0.5).health == 3.0
    assert point(T0, score=0.0, threshold=0.0).health == 0.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"state": 4}, "state", id="state"),
        pytest.param({"iso_zone": 5}, "iso_zone", id="zone"),
        pytest.param({"speed_rpm": float("nan")}, "speed_rpm", id="speed-nan"),
        pytest.param({"top_features": (1, 2, 3)}, "at most 2", id="top3"),
        pytest.param({"top_features": (255,)}, "top_features", id="top255"),
    ],
)
def test_store_v2_fields_are_validated(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        point(T0, **fields)


def test_store_alarm_actions_record_who_when_why(store: Store) -> None:
    store.write_events([Event(T0, "alarm_raised", "s1", "pump-1", "score 3.2 > 1.0", "gateway")])
    ack = store.acknowledge_alarm("s1", "pump-1", "ana", "seen, inspection planned", time_ns=T0 + S)
    shelf = store.shelve_alarm(
        "s1", "pump-1", "bo", "sensor cable loose", T0 + 60 * S, time_ns=T0 + 2 * S
    )
    evs = store.events(T0, T0 + 10 * S, "s1")
    assert [e.kind for e in evs] == ["alarm_raised", "alarm_acknowledged", "alarm_shelved"]
    assert evs[1] == ack and (ack.author, ack.text) == ("ana", "seen, inspection planned")
    assert evs[2] == shelf and evs[2].expires_ns == T0 + 60 * S and evs[2].text.startswith("sensor")
    assert evs[0].expires_ns is None
    assert list(shelved_sensors(evs, T0 + 3 * S)) == ["s1"]
    assert shelved_sensors(evs, T0 + 60 * S) == {}  # expired
    store.unshelve_alarm("s1", "pump-1", "bo", "cable fixed", time_ns=T0 + 4 * S)
    evs = store.events(T0, T0 + 10 * S, "s1")
    assert evs[-1].kind == "alarm_unshelved" and evs[-1].author == "bo"
    assert shelved_sensors(evs, T0 + 5 * S) == {}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda s: s.acknowledge_alarm("s1", "a", " "), "who", id="ack-no-name"),
        pytest.param(
            lambda s: s.shelve_alarm("s1", "a", "bo", "", T0 + S, time_ns=T0), "reason", id="no-why"
        ),
        pytest.param(
            lambda s: s.shelve_alarm("s1", "a", "bo", "x", T0, time_ns=T0), "expires", id="past"
        ),
    ],
)
def test_store_alarm_actions_refuse_incomplete_records(
    store: Store, call: Callable[[Store], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(store)
    assert store.events(0, 2**62) == []


def test_store_legacy_alarm_and_ack_events_still_read(store: Store) -> None:
    evs = [Event(T0, "alarm", "s1", "pump-1", "old"), Event(T0 + 1, "ack", "s1", "pump-1")]
    store.write_events(evs)
    assert store.events(T0, T0 + S) == evs

"""The gateway with real ptys, real devices' byte streams and a real SQLite store."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support import (
    REPO,
    DevicePump,
    MeanAbsScorer,
    ScoreDevice,
    frames_seen,
    gateway_config,
    raw_sender,
    wait_for,
)
from vibration.acquisition.serial_link import PtyLink
from vibration.app.cli import main
from vibration.protocol import Hello, Samples, Score, Text, encode_frame, pack_frame
from vibration.protocol.cobs import cobs_encode
from vibration.telemetry.gateway import (
    Gateway,
    PipelineShadowScorer,
    ShadowResult,
    format_status,
)
from vibration.telemetry.stores import open_store
from vibration.telemetry.stores.spool import Spool


def test_gateway_every_score_frame_lands_once(tmp_path: Path, links: list[PtyLink]) -> None:
    devices = [ScoreDevice(lk, f"dev-{i}", seed=i, alarm_every=7) for i, lk in enumerate(links)]
    gw = Gateway(gateway_config(tmp_path, links)).start()
    pump = DevicePump(devices).start()
    wait_for(lambda: gw.status().scores >= 60, what="scores")
    status = gw.status()
    assert "3/3 ports, 3 sensors" in format_status(status)
    pump.stop()
    wait_for(lambda: all(lk.frames["TEXT"] == 1 for lk in gw.link_reports()), what="bye")
    report = gw.stop()

    store = open_store(f"sqlite://{tmp_path}/scores.db")
    for d in devices:
        series = store.query_scores(d.device_id, 0, 2**62)
        assert len(series) == len(d.score_seqs)  # every SCORE frame, once
        latest = store.latest_scores()[d.device_id]
        assert (latest.asset, latest.model, latest.seq) == (
            "pump-7",
            "000102030405",
            d.score_seqs[-1],
        )
        assert np.all(np.diff(series.time_ns) > 0)  # device spacing survives the mapping
        gaps = np.diff(series.time_ns) / 1e6
        assert np.median(gaps) == pytest.approx(100.0, abs=5.0)
    statuses = {s.sensor: s for s in store.sensors()}
    assert set(statuses) == {"dev-0", "dev-1", "dev-2"}
    assert statuses["dev-1"].firmware == "bench-fw-1" and statuses["dev-1"].sample_rate == 12000
    # Alarm transitions became events, in order, alternating.
    evs = store.events(0, 2**62, sensor="dev-0")
    kinds = [e.kind for e in evs]
    assert kinds and kinds[0] == "alarm_raised"
    assert all(a != b for a, b in itertools.pairwise(kinds))
    store.close()

    assert report.frames["SCORE"] == sum(len(d.score_seqs) for d in devices)
    assert report.frames["HELLO"] == 3
    assert (report.lost, report.dropped_frames, report.crc_errors) == (0, 0, 0)
    assert report.points_written >= report.scores
    assert report.spool_pending == 0


def _bad_crc(seq: int, body: Score) -> bytes:
    raw = bytearray(pack_frame(seq, body))
    raw[10] ^= 0x40
    return cobs_encode(bytes(raw)) + b"\x00"


def test_gateway_counts_gaps_crc_errors_reboots_and_invalid(
    tmp_path: Path, links: list[PtyLink]
) -> None:
    hello = Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 1e-3, "g", "noisy", "fw", bytes(32))

    def score(seq: int, t_ms: int, value: float = 0.1) -> bytes:
        return encode_frame(seq, Score(t_ms * 1000, value, 1.0, 0.2, 3.0, False, False))

    frames = [encode_frame(0, hello)]
    frames += [score(s, 100 * s) for s in range(1, 6)]
    frames += [score(s, 100 * s) for s in range(9, 12)]  # 6, 7, 8 lost on the line
    frames += [_bad_crc(12, Score(1200_000, 0.1, 1.0, 0.2, 3.0, False, False))]
    frames += [score(13, 1300), score(14, 1400, float("nan"))]  # a NaN score: invalid
    frames += [encode_frame(15, Text(Text.WARNING, "fan stalled"))]
    frames += [encode_frame(0, hello), score(1, 100), score(2, 200)]  # rebooted
    gw = Gateway(gateway_config(tmp_path, links[:1])).start()
    raw_sender(links[0], frames)
    wait_for(lambda: frames_seen(gw) == 12, what="SCORE frames")
    report = gw.stop()
    lk = report.links[0]
    assert lk.sensor == "noisy"
    assert (lk.dropped_frames, lk.crc_errors, lk.reboots, lk.invalid) == (4, 1, 1, 1)
    assert lk.frames == {"HELLO": 2, "SAMPLES": 0, "SCORE": 12, "TEXT": 1, "UNKNOWN": 0}
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    assert store.count_scores("noisy") == 11
    (note,) = store.events(0, 2**62, sensor="noisy")
    assert (note.kind, note.text) == ("note", "[warning] fan stalled")
    assert store.sensors()[0].dropped_frames == 4 and store.sensors()[0].crc_errors == 1
    store.close()


def test_gateway_another_device_on_the_port_is_not_a_gap(
    tmp_path: Path, links: list[PtyLink]
) -> None:
    def hello(name: str) -> Hello:
        return Hello(1, Hello.FLAG_SCORES, 256, 1000.0, 0.5, "g", name, "fw", bytes(32))

    def score(seq: int) -> bytes:
        return encode_frame(seq, Score(seq * 1000, 0.1, 1.0, 0.2, 3.0, False, False))

    frames = [encode_frame(0, hello("dev-a")), score(1), score(2), score(3)]
    frames += [encode_frame(500, hello("dev-b")), score(501), score(502)]  # swapped, running
    gw = Gateway(gateway_config(tmp_path, links[:1])).start()
    raw_sender(links[0], frames, interval=0.01)
    wait_for(lambda: frames_seen(gw) == 5, what="SCORE frames")
    report = gw.stop()
    assert report.links[0].sensor == "dev-b"
    assert report.links[0].dropped_frames == 0
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    assert (store.count_scores("dev-a"), store.count_scores("dev-b")) == (3, 2)
    store.close()


def test_gateway_names_sensor_after_port_when_no_hello_comes(
    tmp_path: Path, links: list[PtyLink]
) -> None:
    frames = [
        encode_frame(s, Score(s * 10_000, 0.1, 1.0, 0.2, 3.0, False, False)) for s in range(5, 10)
    ]
    gw = Gateway(gateway_config(tmp_path, links[:1], hello_wait_s=0.5)).start()
    raw_sender(links[0], frames)
    wait_for(
        lambda: frames_seen(gw) == 5 and gw.link_reports()[0].sensor is not None,
        what="frames named after the HELLO wait",
    )
    report = gw.stop()
    assert report.links[0].sensor == "tty0"


def test_gateway_reads_plain_ascii_sensors(tmp_path: Path, links: list[PtyLink]) -> None:
    lines = [("".join(f"{v}\n" for v in range(k * 20, k * 20 + 20))).encode() for k in range(10)]
    gw = Gateway(gateway_config(tmp_path, links[:1], hello_wait_s=0.3)).start()
    raw_sender(links[0], lines, interval=0.02)
    wait_for(lambda: gw.link_reports()[0].sensor == "tty0", what="named after the port")
    wait_for(lambda: frames_seen(gw, "SAMPLES") >= 1, what="samples")
    report = gw.stop()
    assert report.frames["SAMPLES"] >= 1 and report.scores == 0  # no model: nothing scored
    assert report.links[0].crc_errors == 0


def test_gateway_reconnects_when_a_port_disappears(tmp_path: Path, links: list[PtyLink]) -> None:
    steady = ScoreDevice(links[1], "steady", seed=1)
    first = ScoreDevice(links[0], "hotplug", seed=2)
    gw = Gateway(gateway_config(tmp_path, links[:2])).start()
    pump_steady = DevicePump([steady]).start()
    pump = DevicePump([first]).start()
    wait_for(lambda: gw.status().scores >= 20, what="scores")
    pump.stop()
    links[0].close()  # unplugged: the pty vanishes
    wait_for(lambda: not gw.link_reports()[0].connected, what="disconnect")
    time.sleep(0.5)  # a few failed reopen attempts
    replug = PtyLink(tmp_path / "tty0")
    second = ScoreDevice(replug, "hotplug", seed=3)  # boots again: HELLO seq 0
    pump = DevicePump([second]).start()
    wait_for(lambda: len(second.score_seqs) >= 10, what="second session")
    pump.stop()
    pump_steady.stop()
    wait_for(lambda: all(lk.frames["TEXT"] >= 1 for lk in gw.link_reports()), what="bye")
    wait_for(lambda: gw.link_reports()[0].frames["TEXT"] == 2, what="bye 2")
    report = gw.stop()
    replug.close()
    hot, st = report.links
    assert hot.reconnects >= 1 and hot.reboots == 1 and hot.dropped_frames == 0
    assert st.reconnects == 0 and st.dropped_frames == 0
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    assert store.count_scores("hotplug") == len(first.score_seqs) + len(second.score_seqs)
    assert store.count_scores("steady") == len(steady.score_seqs)
    store.close()


def test_gateway_resumes_from_its_checkpoint_without_a_hello(
    tmp_path: Path, links: list[PtyLink]
) -> None:
    device = ScoreDevice(links[0], "resumer", seed=4)
    cfg = gateway_config(tmp_path, links[:1], hello_wait_s=60.0)
    gw = Gateway(cfg).start()
    pump = DevicePump([device]).start()
    wait_for(lambda: gw.status().scores >= 10, what="scores")
    gw.stop()  # the device keeps talking: frames meanwhile are unheard
    time.sleep(0.5)
    gw = Gateway(cfg).start()  # no HELLO for 60 s: must resume from the checkpoint
    n = len(device.score_seqs)
    wait_for(lambda: len(device.score_seqs) >= n + 10, what="more scores")
    pump.stop()
    wait_for(lambda: gw.link_reports()[0].frames["TEXT"] == 1, what="bye")
    report = gw.stop()
    lk = report.links[0]
    assert lk.sensor == "resumer" and lk.frames["HELLO"] == 0
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    stored = store.count_scores("resumer")
    assert device.unheard > 0
    assert stored + lk.dropped_frames == len(device.score_seqs)
    assert store.sensors()[0].dropped_frames == lk.dropped_frames
    store.close()


def test_gateway_shadow_mode_scores_raw_streams(tmp_path: Path, links: list[PtyLink]) -> None:
    hello = Hello(1, Hello.FLAG_STREAMS, 50, 1000.0, 0.5, "g", "raw-1", "fw", bytes(32))
    rng = np.random.default_rng(5)
    frames = [encode_frame(0, hello)]
    for k in range(20):  # 1000 samples at 1 kHz, 50 per frame
        block = rng.integers(-100, 100, size=(50, 1))
        frames.append(encode_frame(k + 1, Samples(k * 50_000, block)))
    made: list[Hello] = []

    def factory(h: Hello) -> MeanAbsScorer:
        made.append(h)
        return MeanAbsScorer()

    gw = Gateway(gateway_config(tmp_path, links[:1]), shadow=factory).start()
    raw_sender(links[0], frames, interval=0.05)  # in real time: 50 samples at 1 kHz
    wait_for(lambda: frames_seen(gw, "SAMPLES") == 20, what="SAMPLES frames")
    report = gw.stop()
    assert made == [hello] and report.frames["SAMPLES"] == 20
    store = open_store(f"sqlite://{tmp_path}/scores.db")
    latest = store.latest_scores()["raw-1"]
    assert latest.model == "toy@host" and latest.seq == 0
    series = store.query_scores("raw-1", 0, 2**62)
    assert len(series) == 10
    np.testing.assert_allclose(np.diff(series.time_ns), 100e6, atol=2e6)  # 100 ms windows
    store.close()


def test_gateway_pipeline_shadow_scorer_maps_sample_index_to_device_time() -> None:
    class Pipe:
        n = 0

        def push(self, s: np.ndarray) -> np.ndarray:
            rows = []
            for _i in range(len(s)):
                self.n += 1
                if self.n % 256 == 0:
                    rows.append([self.n - 1, 0.5, 1.0, 0.2, 3.0, 4.0, 0, 1])
            return np.array(rows, dtype=float).reshape(-1, 8)

    scorer = PipelineShadowScorer(Pipe, 1000.0, "abc@host")
    out = scorer.feed(Samples(5_000_000, np.zeros((300, 1), np.int16)))
    assert out == [ShadowResult(5_000_000 + 255_000, 0.5, 1.0, True, False, 0.2, 3.0)]
    scorer.reset()
    assert scorer.feed(Samples(9_000_000, np.zeros((256, 1), np.int16)))[0].t_us == 9_255_000


# -- the command ---------------------------------------------------------------------------------


def test_gateway_cli_runs_for_seconds_and_prints_json(tmp_path: Path, links: list[PtyLink]) -> None:
    devices = [ScoreDevice(lk, f"cli-{i}", seed=i) for i, lk in enumerate(links[:2])]
    cmd = [
        sys.executable,
        "-m",
        "vibration.app.cli",
        "monitor",
        "--json",
        "--seconds",
        "3",
        "--store",
        f"sqlite://{tmp_path}/cli.db",
        "--spool",
        str(tmp_path / "spool"),
        "--asset",
        "line 2",
        "--port",
        str(links[0].path),
        "--port",
        str(links[1].path),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pump = DevicePump(devices).start()
    out, err = proc.communicate(timeout=60)
    pump._stop.set()
    pump._thread.join()
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert set(report["frames"]) == {"HELLO", "SAMPLES", "SCORE", "TEXT", "UNKNOWN"}
    assert report["frames"]["HELLO"] == 2 and report["frames"]["SCORE"] >= 20
    assert report["scores"] == report["frames"]["SCORE"]
    assert report["lost"] == 0 and report["spool_pending"] == 0
    assert set(report["sensors"]) == {"cli-0", "cli-1"}
    assert b"scores from 2 port(s)" in err
    store = open_store(f"sqlite://{tmp_path}/cli.db")
    assert store.count_scores() == report["scores"]
    assert store.latest_scores()["cli-0"].asset == "line 2"
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "mongodb://x/y"], "unknown store URL"),
        (["--store", "influxdb://admin:hunter2@127.0.0.1:1/bad name"], "database name"),
        (["--asset", "bad\\asset"], "asset must be"),
    ],
)
def test_gateway_cli_bad_arguments_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    rc = main(
        [
            "monitor",
            "--port",
            str(tmp_path / "none"),
            "--seconds",
            "1",
            "--spool",
            str(tmp_path / "spool"),
            *args,
        ]
    )
    err = capsys.readouterr().err
    assert rc != 0 and message in err
    assert "hunter2" not in err and "Traceback" not in err


def test_gateway_cli_refuses_a_spool_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Spool(tmp_path / "spool"):
        rc = main(
            [
                "monitor",
                "--port",
                str(tmp_path / "none"),
                "--seconds",
                "1",
                "--store",
                f"sqlite://{tmp_path}/s.db",
                "--spool",
                str(tmp_path / "spool"),
            ]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err == [
        f"tinypdm: error: spool directory {str(tmp_path / 'spool')!r} is in use by another process"
    ]

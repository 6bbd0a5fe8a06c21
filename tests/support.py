"""Test support: what more than one test module needs, in one place.

* tools and data: :data:`REPO`, :data:`IN_CI`, :func:`require`, :func:`require_tool`
  (a missing tool skips a test, or fails it in CI);
* waiting: :func:`wait_for` (poll a condition with a deadline; never a fixed sleep);
* fake devices: :class:`ScoreDevice` (a sensor that scores on board and sends SCORE frames
  on a pty) and :class:`DevicePump` (one thread stepping many of them in real time), also
  used by ``bench/bench_gateway.py``;
* frame bodies: Hypothesis strategies (:data:`bodies`, :func:`samples_bodies`, :data:`seqs`);
* gateway: :func:`gateway_config`, :func:`frames_seen`, :func:`raw_sender`,
  :class:`MeanAbsScorer`, :data:`DOWN_STORE_URL` (the ``links`` fixture is in conftest);
* crafted byte streams: :class:`PtyFeeder` (given chunks on a real pty, on a schedule);
* CLI subprocesses on ptys: :func:`tinypdm_process`, :func:`simulate_on_link`,
  :func:`finish_json`, :func:`simulated_truth`, :func:`tinypdm_command`,
  :func:`wait_healthy`, :data:`CHROMEDRIVER`;
* stores: :func:`with_database`, :func:`drop_database`;
* dashboard fixtures: :func:`make_registry`, :func:`specs_for`, :func:`frame`,
  :func:`app`, :func:`chart_layers`, :data:`APP`, :data:`BEARING` (the ``fleet`` fixture
  is in conftest).

Heavy packages (Streamlit, pandas, the dashboard) are imported only by the helpers that
need them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import strategies as st

from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import (
    MAX_SAMPLE_VALUES,
    Control,
    Hello,
    Samples,
    Score,
    Text,
    Unknown,
    encode_frame,
)

if TYPE_CHECKING:
    import pandas as pd
    from streamlit.testing.v1 import AppTest

    from dashboard.sample_fleet import SensorSpec
    from vibration.telemetry.gateway import Gateway, GatewayConfig, ShadowResult
    from vibration.telemetry.stores import Store

__all__ = [
    "APP",
    "BEARING",
    "CHROMEDRIVER",
    "DOWN_STORE_URL",
    "IN_CI",
    "REPO",
    "STARTUP_S",
    "DevicePump",
    "MeanAbsScorer",
    "PtyFeeder",
    "ScoreDevice",
    "app",
    "bodies",
    "chart_layers",
    "drop_database",
    "finish_json",
    "frame",
    "frames_seen",
    "gateway_config",
    "make_registry",
    "raw_sender",
    "require",
    "require_tool",
    "samples_bodies",
    "scores_v1",
    "seqs",
    "simulate_on_link",
    "simulated_truth",
    "specs_for",
    "tinypdm_command",
    "tinypdm_process",
    "wait_for",
    "wait_healthy",
    "with_database",
]

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
APP = REPO / "dashboard" / "streamlit_app.py"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Seconds a CLI subprocess may take to start: a loaded 2-core CI machine starts Python slowly.
STARTUP_S = 60.0
#: Nothing listens on port 1: every write is refused at once (the store is down).
DOWN_STORE_URL = "influxdb://127.0.0.1:1/down?timeout=1"
#: Geometry of an SKF 6205 (the default BearingGeometry), as a bundle manifest's ``bearing``.
BEARING = {
    "n_balls": 9,
    "ball_diameter_mm": 7.94,
    "pitch_diameter_mm": 39.04,
    "contact_angle_deg": 0.0,
}


# --------------------------------------------------------------------------- tools


def require(available: bool, reason: str) -> None:
    """Skip (outside CI) or fail (in CI) when a needed tool or data set is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def require_tool(name: str, package: str) -> str:
    """The path of the program ``name`` (Debian package ``package``), or skip/fail."""
    path = shutil.which(name)
    require(path is not None, f"'{name}' not found (Debian package {package})")
    assert path is not None
    return path


# --------------------------------------------------------------------------- waiting


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 30.0,
    what: str = "",
    *,
    interval: float = 0.02,
) -> None:
    """Poll ``predicate`` every ``interval`` s until it holds; fail the test after
    ``timeout`` s, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or predicate!r}")
        time.sleep(interval)


# --------------------------------------------------------------------------- fake devices


@dataclass
class ScoreDevice:
    """A sensor that scores on board: HELLO at boot, SCORE frames at ``rate_hz``.

    Writes never block (a pty with nobody reading, or a full buffer, loses frames, as a UART
    would). Every frame takes the next ``seq``; ``score_seqs`` lists every SCORE frame
    numbered, whatever happened to it on the line, so a receiver's books can be checked:
    stored + counted dropped == ``len(score_seqs)``.

    Parameters
    ----------
    link : PtyLink
    device_id : str
    rate_hz : float
        SCORE frames per second.
    seed : int
        Seeds the scores.
    alarm_every : int
        Every ``alarm_every``-th window is over threshold, with the alarm held for 3
        windows after it (0: never).
    drift_ppm : float
        The device clock runs this much fast.
    """

    link: PtyLink
    device_id: str
    rate_hz: float = 10.0
    seed: int = 0
    alarm_every: int = 0
    drift_ppm: float = 0.0
    seq: int = 0
    score_seqs: list[int] = field(default_factory=list)
    unheard: int = 0
    overflow: int = 0
    _boot: float | None = None
    _next: float = 0.0
    _pending: bytes = b""
    _windows: int = 0
    _alarm_left: int = 0
    _reader_since: float | None = None

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def hello(self) -> Hello:
        return Hello(
            1,
            Hello.FLAG_SCORES,
            256,
            12000.0,
            1e-3,
            "g",
            self.device_id,
            "bench-fw-1",
            bytes(range(32)),
        )

    def _t_us(self, now: float) -> int:
        assert self._boot is not None
        return round((now - self._boot) * 1e6 * (1 + self.drift_ppm * 1e-6))

    def _send(self, frame: bytes) -> None:
        if not self.link.has_reader():
            self.unheard += 1
            return
        if self._pending:
            self._pending = self._pending[self.link.write(self._pending) :]
        if self._pending:
            self.overflow += 1
            return
        self._pending = frame[self.link.write(frame) :]

    def step(self, now: float) -> float:
        """Send what is due by ``now`` (monotonic s); returns when to call again."""
        if self._boot is None:
            # Boot once a reader has held the port for 0.2 s: pyserial flushes the input
            # when it opens a port, which could swallow a HELLO sent at that instant.
            if not self.link.has_reader():
                self._reader_since = None
                return now + 0.01
            if self._reader_since is None:
                self._reader_since = now
            if now - self._reader_since < 0.2:
                return now + 0.01
            self._boot = now
            self._next = now + 1.0 / self.rate_hz
            self.seq = 0
            self._send_reliably(encode_frame(0, self.hello()))
            self.seq = 1
            return self._next
        if self._pending and self.link.has_reader():
            self._pending = self._pending[self.link.write(self._pending) :]
        while self._next <= now:
            self._windows += 1
            over = self.alarm_every > 0 and self._windows % self.alarm_every == 0
            if over:
                self._alarm_left = 3
            alarm = self._alarm_left > 0
            self._alarm_left = max(0, self._alarm_left - 1)
            score = float(self._rng.gamma(2.0, 0.1)) + (1.5 if over else 0.0)
            body = Score(self._t_us(self._next), score, 1.0, 0.3, 3.0 + score, alarm, over)
            self.score_seqs.append(self.seq)
            self._send(encode_frame(self.seq, body))
            self.seq += 1
            self._next += 1.0 / self.rate_hz
        return self._next if not self._pending else min(self._next, now + 0.002)

    def _send_reliably(self, frame: bytes, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        data = frame
        while data and time.monotonic() < deadline:
            if self.link.has_reader():
                data = data[self.link.write(data) :]
            if data:
                time.sleep(0.002)
        return not data

    def finish(self) -> bool:
        """Flush, then send a last frame (TEXT "bye") and make sure it is written, so a
        receiver sees the final ``seq`` and can count every gap before it."""
        self._send_reliably(self._pending)
        self._pending = b""
        ok = self._send_reliably(encode_frame(self.seq, Text(Text.INFO, "bye")))
        self.seq += 1
        return ok


class DevicePump:
    """One thread that steps many :class:`ScoreDevice` s in real time."""

    def __init__(self, devices: list[ScoreDevice]) -> None:
        self.devices = devices
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="device-pump", daemon=True)

    def start(self) -> DevicePump:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            wake = min(d.step(now) for d in self.devices)
            self._stop.wait(max(0.0, min(wake - time.monotonic(), 0.05)))

    def stop(self) -> None:
        """Stop stepping, send every device's final frame and wait until it was read."""
        self._stop.set()
        self._thread.join()
        for d in self.devices:
            d.finish()
        for d in self.devices:  # closing a pty discards what the reader has not taken
            d.link.wait_drained(2.0, settle=0.01)


# --------------------------------------------------------------------------- frame bodies
# Hypothesis strategies for every frame body (protocol frame and decoder tests).

f32 = st.floats(width=32, allow_nan=False)
u64 = st.integers(0, 2**64 - 1)
ascii_text = st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=8)


@st.composite
def samples_bodies(draw: st.DrawFn) -> Samples:
    axes = draw(st.integers(1, 8))
    n = draw(st.integers(0, min(300, MAX_SAMPLE_VALUES // axes)))
    seed = draw(st.integers(0, 2**32 - 1))
    amplitude = draw(st.sampled_from([0, 3, 200, 3000, 32767]))
    rng = np.random.default_rng(seed)
    values = rng.integers(-amplitude, amplitude, size=(n, axes), endpoint=True)
    return Samples(draw(u64), values.astype(np.int16))


hellos = st.builds(
    Hello,
    axes=st.integers(1, 8),
    flags=st.integers(0, 255),
    samples_per_frame=st.integers(0, 0xFFFF),
    sample_rate_hz=f32,
    scale=f32,
    units=ascii_text,
    device_id=ascii_text.map(lambda s: (s * 2)[:16]),
    firmware_version=ascii_text,
    model_sha256=st.binary(min_size=32, max_size=32),
)
scores_v1 = st.builds(Score, u64, f32, f32, f32, f32, st.booleans(), st.booleans())
scores = st.builds(
    Score,
    u64,
    f32,
    f32,
    f32,
    f32,
    st.booleans(),
    st.booleans(),
    state=st.integers(0, 3),
    flags=st.integers(0, 255),
    speed_rpm=st.none() | f32,
    velocity_rms_mm_s=st.none() | f32,
    iso_zone=st.integers(0, 4),
    top_features=st.lists(st.integers(0, 254), max_size=2).map(tuple),
)
controls = st.builds(Control, st.integers(0, 255), f32)
texts = st.builds(
    Text,
    st.integers(0, 3),
    st.text(max_size=60).filter(lambda s: len(s.encode("utf-8")) <= 255),
)
unknowns = st.builds(Unknown, st.integers(6, 255), st.binary(max_size=300))
bodies = st.one_of(samples_bodies(), hellos, scores, texts, controls, unknowns)
seqs = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- dashboard


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2"
    "3c5b9a0000000049454e44ae426082"
)


def make_registry(root: Path) -> dict[str, str]:
    """model dir ae-v1 (with report), bundles v1 (older) and v2 (newer); returns hashes."""
    model = root / "ae-v1"
    model.mkdir(parents=True)
    (model / "model.json").write_text(
        json.dumps({"format": "tinypdm-model", "threshold": 0.5, "summary": {"epochs": 12}})
    )
    (model / "report").mkdir()
    (model / "report" / "report.md").write_text(
        "# Report\n\nAUC 0.998\n\n![timeline](timeline.png)\n"
    )
    (model / "report" / "timeline.png").write_bytes(PNG_1X1)
    hashes = {}
    for i, name in enumerate(["bundles/v1", "bundles/v2"]):
        b = root / name
        b.mkdir(parents=True)
        payload = f"tflite {name}".encode()
        (b / "model_int8.tflite").write_bytes(payload)
        (b / "manifest.json").write_text(json.dumps({"model_version": name}))
        os.utime(b / "manifest.json", (1_000_000 + i, 1_000_000 + i))
        hashes[name] = hashlib.sha256(payload).hexdigest()
    return hashes


def specs_for(hashes: dict[str, str]) -> tuple[SensorSpec, ...]:
    """The sample fleet of the page tests: fan-1 ok, pump-1 alarm, pump-2 warning,
    motor-1 offline, fan-2 at an unknown operating point, with model hashes from
    :func:`make_registry`."""
    from dashboard.sample_fleet import SensorSpec

    current, old = hashes["bundles/v2"], hashes["bundles/v1"]
    return (
        SensorSpec("fan-1", "fan", "ok", model_hash=current),
        SensorSpec("pump-1", "pump", "alarm", threshold=0.5, model_hash=current),
        SensorSpec("pump-2", "pump", "warning", firmware="0.9.2", model_hash="cd" * 32),
        SensorSpec("motor-1", "motor", "offline", model_hash=old),
        SensorSpec("fan-2", "fan", "unknown", model_hash=current),
    )


# A column that only this table of the page has (AppTest exposes no key for read-only tables).
_TABLE_COLUMN = {
    "fleet_table": "% of threshold",
    "events": "kind",
    "recent_events": "kind",
    "open_alarms": "acknowledged",
    "shelved": "shelved by",
    "devices": "check",
    "registry": ".tflite sha256",
}


def frame(at: AppTest, table: str) -> pd.DataFrame:
    """The data frame of one read-only table of a page run under AppTest."""
    for df in at.dataframe:
        value = df.value
        if _TABLE_COLUMN[table] in value.columns:
            return value
    raise AssertionError(f"no {table} table on the page")


def with_database(url: str, database: str) -> str:
    """``url`` with its database replaced by ``database`` (query string kept)."""
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + database
    return f"{base}?{query}" if query else base


def drop_database(store: Store) -> None:
    """Drop the influx database of ``store`` (an InfluxStore) after a test."""
    from vibration.telemetry.stores.influx import InfluxStore

    assert isinstance(store, InfluxStore)
    store._query(f'DROP DATABASE "{store.database}"', db=False)


def app(page: str | None = None, **query: str) -> AppTest:
    """The Streamlit app run under AppTest, switched to ``page`` with URL ``query``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    if page is not None:
        at.query_params.update(query)
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def chart_layers(chart: Any) -> list[tuple[str, pd.DataFrame]]:
    """(mark type, data frame) of each layer of a drawn Altair chart."""
    import pyarrow as pa

    spec = json.loads(chart.proto.spec)
    frames = {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}
    return [(layer["mark"]["type"], frames[layer["data"]["name"]]) for layer in spec["layer"]]


# --------------------------------------------------------------------------- gateway


def frames_seen(gw: Gateway, kind: str = "SCORE") -> int:
    """Frames of ``kind`` the gateway has read so far (scores may still wait for the
    clock to settle; they are all handed over at stop)."""
    return sum(lk.frames[kind] for lk in gw.link_reports())


def gateway_config(tmp_path: Path, ports: list[PtyLink], **kw: object) -> GatewayConfig:
    """A fast-polling gateway config on ``ports`` with a SQLite store under ``tmp_path``."""
    from vibration.telemetry.gateway import GatewayConfig

    base: dict[str, object] = dict(
        ports=tuple(str(lk.path) for lk in ports),
        store_url=f"sqlite://{tmp_path}/scores.db",
        spool_dir=str(tmp_path / "spool"),
        asset="pump-7",
        batch_interval_s=0.2,
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        read_timeout_s=0.05,
    )
    base.update(kw)
    return GatewayConfig(**base)  # type: ignore[arg-type]


def raw_sender(link: PtyLink, frames: list[bytes], interval: float = 0.0) -> None:
    """Write ``frames`` (encoded bytes) to ``link`` once a reader has opened it."""
    wait_for(link.has_reader, what="reader")
    time.sleep(0.2)  # pyserial flushes the input right after opening
    for data in frames:
        while data:
            data = data[link.write(data) :]
            time.sleep(0.001)
        time.sleep(interval)


class MeanAbsScorer:
    """A stand-in for the device's pipeline: mean |x| of 100-sample windows."""

    model_tag = "toy@host"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0)
        self._first_us: int | None = None
        self._n = 0

    def feed(self, samples: Samples) -> list[ShadowResult]:
        from vibration.telemetry.gateway import ShadowResult

        if self._first_us is None:
            self._first_us = samples.t_us
        self._buf = np.concatenate([self._buf, samples.samples[:, 0].astype(float)])
        out = []
        while len(self._buf) >= 100:
            w, self._buf = self._buf[:100], self._buf[100:]
            self._n += 100
            score = float(np.mean(np.abs(w)))
            t_us = self._first_us + (self._n - 1) * 1000
            out.append(ShadowResult(t_us, score, 50.0, score > 50.0, score > 50.0, 0.0, 3.0))
        return out


class PtyFeeder(threading.Thread):
    """Publish a pty at ``path``; once a reader opens it, write ``chunks`` (bytes, delay
    before it in seconds) in order, wait until the reader has taken them, then close the
    pty (the reader sees the link close)."""

    def __init__(self, path: Path, chunks: Sequence[tuple[bytes, float]]) -> None:
        super().__init__(daemon=True)
        self.link = PtyLink(path)
        self.chunks = list(chunks)
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        link = self.link
        try:
            deadline = time.monotonic() + 60.0
            while not link.has_reader():
                if time.monotonic() > deadline:
                    raise TimeoutError("nobody opened the pty")
                time.sleep(0.005)
            time.sleep(0.05)  # the reader's open settles
            due = time.monotonic()
            for data, delay in self.chunks:
                due += delay
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                view = memoryview(data)
                while view:
                    n = link.write(view)
                    view = view[n:]
                    if not n:
                        link.discard_input()
                        time.sleep(0.001)
            link.wait_drained(30.0)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            link.close()
            self.done.set()


# --------------------------------------------------------------------------- CLI subprocesses


def tinypdm_process(*args: str) -> subprocess.Popen[str]:
    """``python -m vibration.app.cli ARGS`` in the repository, text pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "vibration.app.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def simulate_on_link(link: Path, *args: str) -> subprocess.Popen[str]:
    """``tinypdm simulate --link LINK --json ARGS``, returned once the link exists."""
    proc = tinypdm_process("simulate", "--link", str(link), "--json", *args)
    deadline = time.monotonic() + STARTUP_S
    while not link.is_symlink():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"simulate did not create its link: {err}")
        time.sleep(0.02)
    return proc


def finish_json(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """Wait for ``proc``; assert it succeeded and return its JSON stdout."""
    out, err = proc.communicate(timeout=STARTUP_S)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def simulated_truth(rate: float, seed: int, n: int) -> np.ndarray:
    """The first ``n`` int16 samples ``tinypdm simulate --rate RATE --seed SEED`` sends."""
    from vibration.data.simulator import BearingSimulator, SimulatorConfig

    return BearingSimulator(SimulatorConfig(sample_rate=rate, seed=seed)).generate_int16(n)


def tinypdm_command() -> list[str]:
    """The installed ``tinypdm`` script, else ``python -m vibration.app.cli``."""
    script = Path(sys.executable).parent / "tinypdm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vibration.app.cli"]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until the Streamlit server at ``url`` answers its health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"tinypdm dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"dashboard did not answer on {url} within {timeout} s")

"""Test support: what more than one test module needs, in one place.

* tools and data: :data:`REPO`, :data:`IN_CI`, :func:`require`, :func:`require_tool`
  (a missing tool skips a test, or fails it in CI);
* waiting: :func:`wait_for` (poll a condition with a deadline; never a fixed sleep);
* fake devices: :class:`ScoreDevice` (a sensor that scores on board and sends SCORE frames
  on a pty) and :class:`DevicePump` (one thread stepping many of them in real time), also
  used by ``bench/bench_gateway.py``;
* frame bodies: Hypothesis strategies (:data:`bodies`, :func:`samples_bodies`, :data:`seqs`);
* dashboard fixtures: :func:`make_registry`, :func:`specs_for`, :func:`frame`,
  :data:`APP`, :func:`with_database`.

Heavy packages (Streamlit, pandas, the dashboard) are imported only by the helpers that
need them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import strategies as st

from vibration.acquisition.serial_link import PtyLink
from vibration.protocol import (
    MAX_SAMPLE_VALUES,
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

__all__ = [
    "APP",
    "IN_CI",
    "REPO",
    "DevicePump",
    "ScoreDevice",
    "bodies",
    "frame",
    "make_registry",
    "require",
    "require_tool",
    "samples_bodies",
    "seqs",
    "specs_for",
    "wait_for",
    "with_database",
]

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
APP = REPO / "dashboard" / "streamlit_app.py"


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
scores = st.builds(Score, u64, f32, f32, f32, f32, st.booleans(), st.booleans())
texts = st.builds(
    Text,
    st.integers(0, 3),
    st.text(max_size=60).filter(lambda s: len(s.encode("utf-8")) <= 255),
)
unknowns = st.builds(Unknown, st.integers(5, 255), st.binary(max_size=300))
bodies = st.one_of(samples_bodies(), hellos, scores, texts, unknowns)
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
    motor-1 offline, with model hashes from :func:`make_registry`."""
    from dashboard.sample_fleet import SensorSpec

    current, old = hashes["bundles/v2"], hashes["bundles/v1"]
    return (
        SensorSpec("fan-1", "fan", "ok", model_hash=current),
        SensorSpec("pump-1", "pump", "alarm", threshold=0.5, model_hash=current),
        SensorSpec("pump-2", "pump", "warning", firmware="0.9.2", model_hash="cd" * 32),
        SensorSpec("motor-1", "motor", "offline", model_hash=old),
    )


# A column that only this table of the page has (AppTest exposes no key for read-only tables).
_TABLE_COLUMN = {
    "fleet_table": "% of threshold",
    "events": "kind",
    "recent_events": "kind",
    "open_alarms": "acknowledged",
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

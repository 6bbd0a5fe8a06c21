"""Shadow mode with a real bundle: the gateway's host scores are the device's numbers.

A small model is trained on CWRU normal data and exported (``tinypdm import/train/export``,
in child processes); a sensor streams raw SAMPLES over a pty; the gateway scores them with
the bundle's C pipeline. Every stored score must equal, bit for bit, what
:class:`firmware_export.runtime.scorer.Int8Scorer` computes on the same samples.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_export.runtime.shadow import load_shadow_factory
from tests.support import require_tool
from vibration.acquisition.serial_link import PtyLink
from vibration.app.cli import main
from vibration.protocol import Hello, Samples, encode_frame
from vibration.telemetry.gateway import Gateway, GatewayConfig
from vibration.telemetry.stores import open_store

REPO = Path(__file__).resolve().parents[1]
RATE = 12000.0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, cwru_dir: Path) -> Path:
    require_tool("gcc", "gcc")
    root = tmp_path_factory.mktemp("shadow-bundle")
    cli = [sys.executable, "-m", "vibration.app.cli"]
    for args in (
        ["import", "--out", str(root / "ds"), str(cwru_dir / "normal_0_97.mat")],
        ["train", "-o", str(root / "model"), "--epochs", "5", str(root / "ds")],
        ["export", "-o", str(root / "bundle"), "--no-measure", str(root / "model")],
    ):
        proc = subprocess.run([*cli, *args], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "bundle"


@pytest.mark.slow
@pytest.mark.tensorflow
def test_gateway_shadow_scores_equal_the_device_pipeline(bundle: Path, tmp_path: Path) -> None:
    from firmware_export.runtime.scorer import Int8Scorer

    sha = hashlib.sha256((bundle / "model_int8.tflite").read_bytes()).digest()
    hello = Hello(1, Hello.FLAG_STREAMS, 256, RATE, 0.001, "g", "shadow-1", "fw", sha)
    rng = np.random.default_rng(11)
    samples = np.clip(rng.normal(0, 80, size=(256 * 70, 1)), -32768, 32767).astype(np.int16)
    link = PtyLink(tmp_path / "tty0")
    cfg = GatewayConfig(
        ports=(str(link.path),),
        store_url=f"sqlite://{tmp_path}/s.db",
        spool_dir=str(tmp_path / "spool"),
        batch_interval_s=0.2,
    )
    gw = Gateway(cfg, shadow=load_shadow_factory(bundle)).start()
    try:
        deadline = time.monotonic() + 30
        while not link.has_reader():
            assert time.monotonic() < deadline, "gateway never opened the port"
            time.sleep(0.01)
        time.sleep(0.2)
        t0 = time.monotonic()
        frames = [encode_frame(0, hello)] + [
            encode_frame(
                k + 1, Samples(round(k * 256 * 1e6 / RATE), samples[k * 256 : (k + 1) * 256])
            )
            for k in range(70)
        ]
        for k, data in enumerate(frames):  # in real time: 256 samples every 21.3 ms
            time.sleep(max(0.0, t0 + k * 256 / RATE - time.monotonic()))
            while data:
                data = data[link.write(data) :]
        while gw.link_reports()[0].frames["SAMPLES"] < 70:
            assert time.monotonic() < deadline + 30, "frames did not arrive"
            time.sleep(0.02)
    finally:
        report = gw.stop()
        link.close()

    want = Int8Scorer(bundle).score_windows(samples, scale=float(np.float32(0.001)))
    store = open_store(f"sqlite://{tmp_path}/s.db")
    got = store.query_scores("shadow-1", 0, 2**62)
    latest = store.latest_scores()["shadow-1"]
    store.close()
    assert report.scores == len(want) > 20
    np.testing.assert_array_equal(got.score, want.score.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(got.alarm, want.alarm)
    assert latest.model == sha.hex()[:12] + "@host"
    assert latest.threshold == pytest.approx(want.threshold)
    hop_ns = 1e9 * (want.sample_index[1] - want.sample_index[0]) / RATE
    np.testing.assert_allclose(np.diff(got.time_ns), hop_ns, atol=1e6)


def test_gateway_shadow_bad_bundle_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "monitor",
            "--port",
            str(tmp_path / "none"),
            "--bundle",
            str(tmp_path),
            "--store",
            f"sqlite://{tmp_path}/s.db",
            "--spool",
            str(tmp_path / "spool"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "shadow mode: cannot use bundle" in err[0]

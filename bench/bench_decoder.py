"""Decoder throughput: binary frames and ASCII lines, in MB/s of wire bytes on one core.

The stream is what a 1-axis sensor sends: SAMPLES frames of 256 int16 samples of a
simulator-like signal (a 30 Hz sine of 400 counts, noise, and decaying impacts at 107 Hz,
like a bearing defect). Small values have a zero high byte, so COBS has a code every few
bytes: the hard case for a decoder written in Python. Reads of 64 KiB are what a reader gets
when it falls behind a fast link (or replays a capture); 4 KiB is a typical serial read.

    python -m bench.bench_decoder [--quick]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from bench._table import Row, print_rows
from vibration.protocol import (
    AsciiDecoder,
    FrameDecoder,
    Samples,
    StreamDecoder,
    encode_frame,
    pack_frame,
)

TOPIC = "decoder"
SAMPLE_RATE = 12_800.0
FRAME_SAMPLES = 256
GOAL_MBPS = 20.0


def signal(n: int, axes: int = 1, seed: int = 0) -> np.ndarray:
    """Simulator-like vibration counts, int16 of shape (n, axes)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    out = np.empty((n, axes), dtype=np.int16)
    for a in range(axes):
        x = 400.0 * np.sin(2 * np.pi * 30.0 * t + a) + 150.0 * rng.standard_normal(n)
        phase = (t * 107.0) % 1.0  # impacts: a decaying 3 kHz ring every 1/107 s
        x += 1500.0 * np.exp(-phase * 60.0) * np.sin(2 * np.pi * 3000.0 * t)
        out[:, a] = np.clip(np.round(x), -32768, 32767)
    return out


def binary_stream(n_frames: int) -> tuple[bytes, float]:
    """Wire bytes of ``n_frames`` SAMPLES frames, and the mean zero bytes per raw frame."""
    x = signal(n_frames * FRAME_SAMPLES)
    wire = []
    zeros = 0
    for k in range(n_frames):
        body = Samples(
            round(k * FRAME_SAMPLES * 1e6 / SAMPLE_RATE),
            x[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES],
        )
        wire.append(encode_frame(k, body))
        if k < 200:
            zeros += pack_frame(k, body).count(0)
    return b"".join(wire), zeros / min(n_frames, 200)


def ascii_stream(n_lines: int, axes: int) -> bytes:
    """``n_lines`` lines of ``axes`` comma-separated integers, like an Arduino prints them."""
    x = signal(n_lines, axes)
    return b"".join(b",".join(b"%d" % v for v in row) + b"\n" for row in x.tolist())


def run(quick: bool = False) -> list[Row]:
    """Measure; returns one Row per figure."""
    n_frames = 1500 if quick else 8000
    repeats = 2 if quick else 5
    wire, zeros = binary_stream(n_frames)
    rows = [
        Row(TOPIC, "SAMPLES frame on the wire (256 x 1 axis)", len(wire) / n_frames, "bytes"),
        Row(TOPIC, "zero bytes per raw frame (COBS codes)", zeros, "bytes"),
    ]

    def binary(read: int, label: str, threshold: int | None = None, stream: bool = False) -> None:
        best = float("inf")
        for _ in range(repeats):
            decoder: FrameDecoder | StreamDecoder
            if stream:
                decoder = StreamDecoder(mode="binary")
            elif threshold is None:
                decoder = FrameDecoder()
            else:
                decoder = FrameDecoder(batch_threshold=threshold)
            chunks = [wire[i : i + read] for i in range(0, len(wire), read)]
            start = time.perf_counter()
            got = sum(len(decoder.feed(c)) for c in chunks)
            best = min(best, time.perf_counter() - start)
            if got != n_frames:
                raise RuntimeError(f"decoded {got} of {n_frames} frames")
        mbps = len(wire) / best / 1e6
        goal = f">= {GOAL_MBPS:g}" if label == "binary, 64 KiB reads" else ""
        met = (mbps >= GOAL_MBPS) if goal else None
        rows.append(Row(TOPIC, label, mbps, "MB/s", goal, met))

    binary(65536, "binary, 64 KiB reads")
    binary(4096, "binary, 4 KiB reads")
    binary(65536, "binary, scalar reference (per COBS block)", threshold=10**9)
    binary(65536, "binary, vectorised only", threshold=0)
    binary(65536, "StreamDecoder, binary, 64 KiB reads", stream=True)

    n_lines = 40_000 if quick else 200_000
    for axes in (1, 3):
        text = ascii_stream(n_lines, axes)
        best = float("inf")
        for _ in range(repeats):
            decoder = AsciiDecoder()
            chunks = [text[i : i + 4096] for i in range(0, len(text), 4096)]
            start = time.perf_counter()
            for k, chunk in enumerate(chunks):
                decoder.feed(chunk, k * 1e-3)
            best = min(best, time.perf_counter() - start)
        rows.append(Row(TOPIC, f"ascii, {axes} axis, 4 KiB reads", len(text) / best / 1e6, "MB/s"))
        rows.append(Row(TOPIC, f"ascii, {axes} axis, lines", n_lines / best / 1e3, "klines/s"))
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv[1:]))

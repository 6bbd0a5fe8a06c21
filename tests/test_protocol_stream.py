"""StreamDecoder: detecting binary or text, and giving the same kind of frames for both."""

from __future__ import annotations

import numpy as np
import pytest

from vibration.protocol import (
    MAX_ENCODED,
    AsciiDecoder,
    AsciiStats,
    DecoderStats,
    Frame,
    FrameDecoder,
    Hello,
    Samples,
    StreamDecoder,
    Text,
    encode_frame,
)

_FRAMES = [
    Frame(0, Hello(2, 3, 4, 1000.0, 0.5, "g", "dev", "1.0")),
    Frame(1, Samples(100, np.arange(8).reshape(4, 2))),
    Frame(2, Text(1, "12\n34\n")),  # text that looks like ASCII samples inside a frame
]
_WIRE = b"".join(encode_frame(f.seq, f.body) for f in _FRAMES)


@pytest.mark.parametrize("chunk", [1, 5, 10_000])
def test_stream_detects_binary(chunk):
    decoder = StreamDecoder()
    out = []
    for i in range(0, len(_WIRE), chunk):
        out += decoder.feed(_WIRE[i : i + chunk], float(i))
    assert decoder.mode == "binary"
    assert out == _FRAMES
    assert isinstance(decoder.decoder, FrameDecoder)
    assert isinstance(decoder.stats, DecoderStats) and decoder.stats.bytes_in == len(_WIRE)
    assert decoder.rate_estimate() is None


def test_stream_detects_ascii_and_replays_the_probe():
    decoder = StreamDecoder()
    assert decoder.feed(b"10,1\n", 0.0) == []  # one line: not decided yet
    assert decoder.mode is None
    assert decoder.stats == DecoderStats(bytes_in=5)
    out = decoder.feed(b"11,2\n12,3\n", 0.01)
    assert decoder.mode == "ascii"
    rows = [r for f in out for r in f.body.samples.tolist()]  # type: ignore[union-attr]
    assert rows == [[10, 1], [11, 2], [12, 3]]
    assert isinstance(decoder.decoder, AsciiDecoder) and isinstance(decoder.stats, AsciiStats)
    assert decoder.stats.lines == 3


def test_stream_ascii_frames_look_like_binary_samples_frames():
    decoder = StreamDecoder()
    frames = []
    for k in range(1, 201):
        frames += decoder.feed(b"%d\n%d\n" % (k, -k), k * 0.002)  # 1 kHz
    assert [f.seq for f in frames] == list(range(len(frames)))
    assert all(isinstance(f.body, Samples) for f in frames)
    bodies = [f.body for f in frames if isinstance(f.body, Samples)]
    assert all(b.samples.dtype == np.int16 and b.axes == 1 for b in bodies)
    t_us = [b.t_us for b in bodies]
    assert t_us == sorted(t_us)
    assert t_us[-1] == pytest.approx(397_000, abs=3000)  # sample 398 of a 1 kHz stream
    est = decoder.rate_estimate()
    assert est is not None and est.rate_hz == pytest.approx(1000.0, rel=1e-3)


def test_stream_long_text_without_newline_is_ascii():
    decoder = StreamDecoder()
    decoder.feed(b"x" * (MAX_ENCODED + 2), 0.0)
    assert decoder.mode == "ascii"
    assert decoder.stats.errors == 1  # type: ignore[union-attr]


def test_stream_garbage_text_does_not_decide_ascii_early():
    decoder = StreamDecoder()
    decoder.feed(b"booting...\nsensor ok\nhello\n", 0.0)
    assert decoder.mode is None


def test_stream_forced_modes():
    ascii_ = StreamDecoder(mode="ascii", axes=2)
    assert ascii_.mode == "ascii"
    (frame,) = ascii_.feed(b"1,2\n", 0.0)
    assert frame.body == Samples(0, np.array([[1, 2]], np.int16))
    binary = StreamDecoder(mode="binary")
    assert binary.feed(b"12\n34\n56\n") == []
    assert binary.stats.bytes_in == 9


def test_stream_without_arrival_time_reads_the_clock():
    decoder = StreamDecoder(mode="ascii")
    assert len(decoder.feed(b"1\n2\n")) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"mode": "text"}, "mode"), ({"axes": 0}, "axes"), ({"decimal_scale": -1.0}, "scale")],
)
def test_stream_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StreamDecoder(**kwargs)

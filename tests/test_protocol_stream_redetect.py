"""StreamDecoder: a stream first taken for text switches to binary at its first frame."""

from __future__ import annotations

import pytest

from vibration.protocol import Hello, Score, StreamDecoder, Text, encode_frame

_BOOT = b"".join(b"boot step %03d done\n" % k for k in range(120))  # > 2070 bytes, no 0x00


@pytest.mark.parametrize("cut", [1, 7, 20], ids=lambda c: f"frame-cut-at-{c}")
def test_stream_boot_text_then_binary_switches_at_the_first_frame(cut):
    hello = Hello(1, Hello.FLAG_SCORES, 0, 1000.0, 1.0, "g", "dev\n\n1", "fw")  # newlines
    wire = encode_frame(0, hello) + encode_frame(1, Score(5, 0.1, 1.0, 0.2, 3.0, False, False))
    decoder = StreamDecoder()
    assert decoder.feed(_BOOT, 0.0) == [] and decoder.mode == "ascii"
    out = decoder.feed(wire[:cut], 0.1)  # the first frame's start, no 0x00 yet
    out += decoder.feed(wire[cut:], 0.2)
    assert decoder.mode == "binary" and [f.seq for f in out] == [0, 1]
    assert out[0].body == hello and decoder.skipped_bytes == len(_BOOT)
    assert decoder.stats.crc_errors == 0 and decoder.stats.frames == 2


def test_stream_text_sensor_keeps_text_mode_after_its_first_sample():
    decoder = StreamDecoder()
    decoder.feed(_BOOT + b"12\n13\n", 0.0)
    frames = decoder.feed(b"\x00garbage\n14\n", 0.1)
    assert decoder.mode == "ascii" and decoder.skipped_bytes == 0
    assert [type(f.body).__name__ for f in frames] == ["Unknown", "Samples"]


def test_stream_forced_ascii_never_switches():
    decoder = StreamDecoder(mode="ascii")
    decoder.feed(_BOOT + encode_frame(0, Text(1, "hi")), 0.0)
    assert decoder.mode == "ascii" and decoder.skipped_bytes == 0

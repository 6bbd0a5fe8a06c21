"""FrameDecoder: streams cut anywhere, corrupted anyhow; frames, counters and memory."""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import bodies, samples_bodies
from vibration.protocol import (
    MAX_ENCODED,
    DecoderStats,
    Frame,
    FrameDecoder,
    Hello,
    Samples,
    Score,
    Text,
    Unknown,
    cobs_encode,
    crc32,
    encode_frame,
    pack_frame,
)

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=120)
CORRUPTION = settings(SETTINGS, max_examples=250)
SCALAR = 10**9  # a batch_threshold that never selects the vectorised path

_HELLO = Hello(1, 3, 256, 12800.0, 0.001, "g", "dev", "1.0")


def _frames(n: int, start_seq: int = 0) -> list[Frame]:
    rng = np.random.default_rng(n)
    out = []
    for k in range(n):
        seq = (start_seq + k) % 2**32
        if k % 5 == 4:
            body: object = Score(k, 0.5, 1.0, 0.125, 3.0, k % 2 == 0, False)
        else:
            body = Samples(k * 1000, rng.integers(-300, 300, size=(64, 1)).astype(np.int16))
        out.append(Frame(seq, body))  # type: ignore[arg-type]
    return out


def _wire(frames: list[Frame]) -> bytes:
    return b"".join(encode_frame(f.seq, f.body) for f in frames)


def _feed_chunks(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[Frame]:
    out: list[Frame] = []
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for a, b in itertools.pairwise(bounds):
        out += decoder.feed(data[a:b])
    return out


# -- clean streams --------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0, 32, SCALAR], ids=["batch", "default", "scalar"])
@pytest.mark.parametrize("chunk", [1, 7, 600, 100_000])
def test_decoder_clean_stream_any_chunk_size(threshold, chunk):
    frames = _frames(40)
    wire = _wire(frames)
    decoder = FrameDecoder(batch_threshold=threshold)
    out = []
    for i in range(0, len(wire), chunk):
        out += decoder.feed(wire[i : i + chunk])
    assert out == frames
    assert decoder.stats == DecoderStats(frames=40, bytes_in=len(wire))
    assert decoder.pending == 0


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), bodies), max_size=12), st.data())
def test_decoder_round_trips_random_frames_in_random_chunks(items, data):
    frames = [Frame(seq, body) for seq, body in items]
    wire = _wire(frames)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=20))
    decoder = FrameDecoder(batch_threshold=data.draw(st.sampled_from([0, SCALAR])))
    assert _feed_chunks(decoder, wire, cuts) == frames
    assert decoder.stats.frames == len(frames)
    assert decoder.stats.unknown == sum(isinstance(f.body, Unknown) for f in frames)
    assert decoder.stats.crc_errors == decoder.stats.resyncs == decoder.stats.oversize == 0


def test_decoder_ignores_idle_delimiters():
    frames = _frames(3)
    wire = b"\x00\x00" + b"\x00".join(encode_frame(f.seq, f.body) for f in frames) + b"\x00" * 5
    decoder = FrameDecoder()
    assert decoder.feed(wire) == frames
    assert decoder.stats == DecoderStats(frames=3, bytes_in=len(wire))


def test_decoder_samples_view_is_int16_with_shape():
    body = Samples(9, np.arange(-6, 6).reshape(4, 3))
    (frame,) = FrameDecoder().feed(encode_frame(0, body))
    assert isinstance(frame.body, Samples)
    assert frame.body.samples.dtype == np.int16 and frame.body.samples.shape == (4, 3)
    assert frame.body == body


# -- corrupted streams ----------------------------------------------------------------------

_GARBAGE = st.one_of(
    st.binary(min_size=1, max_size=80),
    st.binary(min_size=1, max_size=40).map(lambda b: b + b"\x00"),
    st.binary(min_size=2100, max_size=2600).map(lambda b: b.replace(b"\x00", b"\x55")),
)


@st.composite
def corrupted_streams(draw: st.DrawFn) -> tuple[list[Frame], list[bytes], list[bool]]:
    """Frames, the stream's pieces (frames, some damaged, and garbage), and which frames are
    expected back: undamaged pieces whose previous piece ends with 0x00 (or that come first).
    """
    n = draw(st.integers(1, 14))
    start = draw(st.sampled_from([0, 7, 2**32 - 5]))
    frames = []
    for k in range(n):
        kind = draw(st.sampled_from(["samples", "any", "samples"]))
        body = draw(samples_bodies() if kind == "samples" else bodies)
        frames.append(Frame((start + k) % 2**32, body))
    pieces: list[bytes] = []
    origin: list[int] = []  # index of the frame a piece carries intact, -1 otherwise
    for k, frame in enumerate(frames):
        if draw(st.integers(0, 5)) == 0:
            pieces.append(draw(_GARBAGE))
            origin.append(-1)
        wire = bytearray(encode_frame(frame.seq, frame.body))
        damage = draw(st.sampled_from(["none", "none", "flip", "delete", "insert", "cut", "drop"]))
        if damage == "drop":
            continue
        pos = draw(st.integers(0, len(wire) - 1))
        if damage == "flip":
            wire[pos] ^= 1 << draw(st.integers(0, 7))
        elif damage == "delete":
            del wire[pos]
        elif damage == "insert":
            wire.insert(pos, draw(st.integers(0, 255)))
        elif damage == "cut":
            del wire[pos:]
        pieces.append(bytes(wire))
        origin.append(k if damage == "none" else -1)
    expected = [False] * n
    for i, k in enumerate(origin):
        if k >= 0 and (i == 0 or pieces[i - 1].endswith(b"\x00")):
            expected[k] = True
    return frames, pieces, expected


def _chunk_census(stream: bytes) -> int:
    """Non-empty chunks the decoder must account for (the trailing one if oversize)."""
    chunks = stream.split(b"\x00")
    tail = chunks.pop()
    return sum(1 for c in chunks if c) + (len(tail) > MAX_ENCODED)


@CORRUPTION
@given(corrupted_streams(), st.data())
def test_decoder_corruption_never_raises_never_invents_and_recovers_intact_frames(case, data):
    frames, pieces, expected = case
    stream = b"".join(pieces)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=30))
    decoder = FrameDecoder(batch_threshold=data.draw(st.sampled_from([0, 4, SCALAR])))
    out = _feed_chunks(decoder, stream, cuts)

    sent = [pack_frame(f.seq, f.body) for f in frames]
    got = [pack_frame(f.seq, f.body) for f in out]
    positions = [sent.index(g) for g in got]  # raises if a frame was never sent
    assert positions == sorted(positions), "frames out of order"
    for k, want in enumerate(expected):
        if want:
            assert sent[k] in got, f"intact frame {k} not recovered"

    stats = decoder.stats
    assert stats.frames == len(out)
    assert stats.unknown == sum(isinstance(f.body, Unknown) for f in out)
    assert stats.bytes_in == len(stream)
    census = stats.frames + stats.crc_errors + stats.oversize + stats.wrong_version
    assert census == _chunk_census(stream)
    bad = stats.crc_errors + stats.oversize
    assert (stats.resyncs > 0) == (bad > 0) and stats.resyncs <= bad
    assert decoder.pending <= MAX_ENCODED


@CORRUPTION
@given(corrupted_streams())
def test_decoder_byte_by_byte_equals_all_at_once_and_batch_equals_scalar(case):
    _, pieces, _ = case
    stream = b"".join(pieces)
    whole = FrameDecoder(batch_threshold=0)
    out_whole = whole.feed(stream)
    scalar = FrameDecoder(batch_threshold=SCALAR)
    out_scalar = scalar.feed(stream)
    single = FrameDecoder()
    out_single = [f for i in range(len(stream)) for f in single.feed(stream[i : i + 1])]
    assert out_whole == out_scalar == out_single
    assert whole.stats == scalar.stats == single.stats


# -- sequence numbers -----------------------------------------------------------------------


def test_decoder_counts_dropped_frames_from_seq_gaps():
    frames = _frames(30)
    kept = [f for k, f in enumerate(frames) if k not in {3, 4, 5, 17, 29}]
    decoder = FrameDecoder()
    assert decoder.feed(_wire(kept)) == kept
    assert decoder.stats.dropped_frames == 4  # frame 29 was the last: its loss is unseen


def test_decoder_seq_wraps_modulo_2_pow_32():
    frames = _frames(6, start_seq=2**32 - 3)
    assert [f.seq for f in frames] == [2**32 - 3, 2**32 - 2, 2**32 - 1, 0, 1, 2]
    decoder = FrameDecoder()
    assert decoder.feed(_wire(frames)) == frames
    assert decoder.stats.dropped_frames == 0
    decoder.feed(_wire([frames[0]]))  # back to 2**32 - 3: a restart, not 2**32 - 6 losses
    assert decoder.stats.dropped_frames == 0 and decoder.stats.reboots == 1
    gap = [Frame(2**32 - 1, _HELLO), Frame(1, _HELLO)]
    decoder.feed(_wire(gap))
    assert decoder.stats.dropped_frames == 2  # 2**32-2 missing, then 0 missing


def test_decoder_hello_with_seq_zero_is_a_reboot_not_a_loss():
    decoder = FrameDecoder()
    decoder.feed(_wire(_frames(10, start_seq=1000)))
    decoder.feed(_wire([Frame(0, _HELLO), Frame(1, Text(1, "boot"))]))
    assert decoder.stats.dropped_frames == 0
    assert decoder.stats.reboots == 1
    decoder.feed(_wire([Frame(5, Text(1, "x"))]))  # 2, 3, 4 lost
    assert decoder.stats.dropped_frames == 3


def test_decoder_duplicate_seq_is_not_a_loss():
    decoder = FrameDecoder()
    decoder.feed(_wire([Frame(4, _HELLO), Frame(4, _HELLO)]))
    assert decoder.stats.dropped_frames == 0 and decoder.stats.reboots == 0


# -- bad chunks, one at a time --------------------------------------------------------------


def _raw_with_crc(raw: bytes) -> bytes:
    return raw + struct.pack("<I", crc32(raw))


def test_decoder_wrong_version_is_counted_and_skipped():
    raw = bytearray(pack_frame(3, Text(1, "v2")))
    raw[0] = 2
    wire = cobs_encode(_raw_with_crc(bytes(raw[:-4]))) + b"\x00"
    decoder = FrameDecoder()
    assert decoder.feed(wire + encode_frame(4, Text(1, "ok"))) == [Frame(4, Text(1, "ok"))]
    assert decoder.stats.wrong_version == 1
    assert decoder.stats.crc_errors == decoder.stats.resyncs == 0


def test_decoder_bad_payload_layout_with_good_crc_is_a_crc_error():
    raw = b"\x01\x02\x0c\x00\x05\x00\x00\x00" + struct.pack("<QHBB", 0, 3, 1, 0)  # n=3, no data
    decoder = FrameDecoder()
    assert decoder.feed(cobs_encode(_raw_with_crc(raw)) + b"\x00") == []
    assert decoder.stats.crc_errors == 1 and decoder.stats.resyncs == 1


def test_decoder_unknown_type_is_returned_and_counted():
    frame = Frame(8, Unknown(0x42, b"future"))
    decoder = FrameDecoder()
    assert decoder.feed(_wire([frame])) == [frame]
    assert decoder.stats.unknown == 1 and decoder.stats.frames == 1


def test_decoder_started_mid_frame_resyncs_at_next_delimiter():
    frames = _frames(5)
    wire = _wire(frames)
    decoder = FrameDecoder()
    out = decoder.feed(wire[10:])
    assert out == frames[1:]
    assert decoder.stats.crc_errors == 1 and decoder.stats.resyncs == 1


def test_decoder_burst_of_bad_chunks_is_one_resync():
    garbage = b"\x03\x01\x00\x09\x00\x02\xff\x00"  # three bad chunks in a row
    frames = _frames(4)
    stream = garbage + _wire(frames[:2]) + garbage + _wire(frames[2:])
    decoder = FrameDecoder()
    assert decoder.feed(stream) == frames
    assert decoder.stats.crc_errors == 6
    assert decoder.stats.resyncs == 2


@pytest.mark.parametrize("chunk", [1, 1000, 50_000])
def test_decoder_oversize_chunk_dropped_without_unbounded_buffering(chunk):
    rng = np.random.default_rng(7)
    noise = rng.integers(1, 256, size=50_000, dtype=np.uint8).tobytes()  # no delimiter
    frames = _frames(3)
    stream = noise + b"\x00" + _wire(frames)
    decoder = FrameDecoder()
    out = []
    for i in range(0, len(stream), chunk):
        out += decoder.feed(stream[i : i + chunk])
        assert decoder.pending <= MAX_ENCODED
    assert out == frames
    assert decoder.stats.oversize == 1 and decoder.stats.resyncs == 1
    assert decoder.stats.crc_errors == 0


def test_decoder_longest_frame_is_not_oversize():
    values = np.full((509, 2), 0x0101, np.int16)  # 1018 values without zero bytes
    frame = Frame(1, Samples(1, values))
    wire = _wire([frame])
    assert len(wire) == MAX_ENCODED + 1
    decoder = FrameDecoder()
    assert [f for i in range(0, len(wire), 100) for f in decoder.feed(wire[i : i + 100])] == [frame]
    assert decoder.stats.oversize == 0


def test_decoder_accepts_bytearray_and_memoryview():
    frames = _frames(2)
    wire = _wire(frames)
    decoder = FrameDecoder()
    assert decoder.feed(bytearray(wire[:50])) + decoder.feed(memoryview(wire)[50:]) == frames


def test_decoder_reset_forgets_partial_frame_and_counters():
    frames = _frames(3)
    wire = _wire(frames)
    decoder = FrameDecoder()
    decoder.feed(wire[:-20])
    decoder.reset()
    assert decoder.stats == DecoderStats() and decoder.pending == 0
    assert decoder.feed(wire) == frames


def test_decoder_stats_as_dict():
    stats = DecoderStats(frames=2, crc_errors=1)
    d = stats.as_dict()
    assert d["frames"] == 2 and d["crc_errors"] == 1 and set(d) >= {
        "frames", "crc_errors", "resyncs", "dropped_frames", "oversize", "unknown", "bytes_in",
    }  # fmt: skip


def test_decoder_rejects_negative_batch_threshold():
    with pytest.raises(ValueError, match="got -1"):
        FrameDecoder(batch_threshold=-1)

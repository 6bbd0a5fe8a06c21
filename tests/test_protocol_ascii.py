"""AsciiDecoder: parsing one-sample-per-line text, and estimating the sample rate."""

from __future__ import annotations

import itertools
import os
import select
import threading
import time
import tty

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibration.protocol import AsciiDecoder, AsciiStats, RateEstimate

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=100)


@pytest.mark.parametrize(
    "text",
    [b"1,-2,3\n", b"1 -2 3\n", b"1\t-2\t3\n", b"1;-2;3\n", b"1, -2, 3\r\n", b"  1,-2,3  \n"],
    ids=["comma", "space", "tab", "semicolon", "comma-space-crlf", "padded"],
)
def test_ascii_separators(text):
    decoder = AsciiDecoder()
    rows = decoder.feed(text, 0.0)
    assert rows.dtype == np.int16
    assert rows.tolist() == [[1, -2, 3]]
    assert decoder.axes == 3 and decoder.scale is None


def test_ascii_learns_axes_and_refuses_other_counts():
    decoder = AsciiDecoder()
    rows = decoder.feed(b"1,2\n3\n4,5,6\n7,8\n\n", 0.0)
    assert rows.tolist() == [[1, 2], [7, 8]]
    assert decoder.stats == AsciiStats(lines=2, errors=2, clipped=0, bytes_in=17)


def test_ascii_fixed_axes_refuses_first_line_of_wrong_width():
    decoder = AsciiDecoder(axes=1)
    assert decoder.feed(b"1,2\n3\n", 0.0).tolist() == [[3]]
    assert decoder.stats.errors == 1


@pytest.mark.parametrize(
    "line", [b"hello", b"1.2.3", b"nan", b"inf", b"0x10", b"1,,x", b"1 2 3 4 5 6 7 8 9"]
)
def test_ascii_refuses_garbage_lines(line):
    decoder = AsciiDecoder()
    assert decoder.feed(line + b"\n5\n", 0.0).tolist() == [[5]]
    assert decoder.stats.errors == 1 and decoder.stats.lines == 1


def test_ascii_clips_out_of_range_integers_and_counts_them():
    decoder = AsciiDecoder()
    rows = decoder.feed(b"40000,-1\n-99999999999999999999,7\n", 0.0)
    assert rows.tolist() == [[32767, -1], [-32768, 7]]
    assert decoder.stats.clipped == 2 and decoder.stats.errors == 2 and decoder.stats.lines == 2


def test_ascii_decimal_stream_is_scaled_and_stays_decimal():
    decoder = AsciiDecoder(decimal_scale=0.01)
    rows = decoder.feed(b"3\n0.25\n-1.5e-1\n1\n400\n", 0.0)
    # integer counts until the first decimal line, then every value is in units / 0.01
    assert rows.tolist() == [[3], [25], [-15], [100], [32767]]
    assert decoder.scale == 0.01
    assert decoder.stats.clipped == 1


def test_ascii_huge_decimal_is_clipped_not_raised():
    decoder = AsciiDecoder()
    assert decoder.feed(b"1e308\n-1.7e308\n", 0.0).tolist() == [[32767], [-32768]]
    assert decoder.stats.clipped == 2


def test_ascii_long_line_refused_without_buffering():
    decoder = AsciiDecoder(max_line=64)
    for _ in range(100):
        assert decoder.feed(b"1" * 1000, 0.0).shape[0] == 0
        assert decoder.pending <= 64
    assert decoder.feed(b"1\n5\n", 0.0).tolist() == [[5]]
    assert decoder.stats.errors == 1
    assert decoder.feed(b"9" * 100 + b"\n6\n", 0.0).tolist() == [[6]]
    assert decoder.stats.errors == 2


def test_ascii_empty_feed_shapes():
    decoder = AsciiDecoder()
    assert decoder.feed(b"", 0.0).shape == (0, 0)
    decoder.feed(b"1,2\n", 0.0)
    assert decoder.feed(b"3,", 0.0).shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"axes": 0}, "axes"),
        ({"axes": 9}, "axes"),
        ({"decimal_scale": 0.0}, "decimal_scale"),
        ({"decimal_scale": float("nan")}, "decimal_scale"),
        ({"rate_window_s": 0}, "rate_window_s"),
        ({"max_line": 0}, "max_line"),
    ],
)
def test_ascii_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AsciiDecoder(**kwargs)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.lists(st.integers(-40000, 40000), min_size=2, max_size=2).map(
                lambda v: b"%d,%d" % tuple(v)
            ),
            st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
        ),
        max_size=40,
    ),
    st.lists(st.integers(0, 2000), max_size=15),
)
def test_ascii_any_chunking_gives_the_same_rows(lines, cuts):
    text = b"\n".join(lines) + b"\n"
    whole = AsciiDecoder()
    expected = whole.feed(text, 0.0)
    pieces = AsciiDecoder()
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    got = [pieces.feed(text[a:b], 0.0) for a, b in itertools.pairwise(bounds)]
    rows = [r for block in got for r in block.tolist()]
    assert rows == expected.tolist()
    assert pieces.stats == whole.stats


# -- rate estimation ------------------------------------------------------------------------


def _synthetic_feed(decoder, rng, rate, sigma, n_lines, cut_mid_line):
    """Lines sent at ``rate``; each chunk arrives when its last line is complete, plus a
    latency and Gaussian noise; chunks of 1..20 lines, optionally cut inside a line."""
    lines = [b"%d\n" % v for v in rng.integers(-2000, 2000, size=n_lines)]
    text = b"".join(lines)
    offsets = np.cumsum([0] + [len(x) for x in lines])
    k = 0
    pos = 0
    while k < n_lines:
        k = min(n_lines, k + int(rng.integers(1, 21)))
        end = int(offsets[k])
        if cut_mid_line and k < n_lines:
            end += int(rng.integers(0, len(lines[k])))
        t = k / rate + 0.003 + rng.normal(0.0, sigma)
        decoder.feed(text[pos:end], t)
        pos = end
    decoder.feed(text[pos:], n_lines / rate + 0.003)


@pytest.mark.parametrize("rate", [100.0, 1000.0, 12000.0])
def test_ascii_rate_estimate_recovers_rate_and_jitter(rate):
    rng = np.random.default_rng(int(rate))
    sigma = 0.2 / rate  # a fifth of a sample period
    decoder = AsciiDecoder()
    _synthetic_feed(decoder, rng, rate, sigma, n_lines=4000, cut_mid_line=False)
    est = decoder.rate_estimate()
    assert est.n_lines == 4000
    assert est.rate_hz == pytest.approx(rate, rel=2e-3)
    assert est.jitter_s == pytest.approx(sigma, rel=0.25)


def test_ascii_rate_estimate_with_chunks_cut_inside_lines():
    rng = np.random.default_rng(11)
    decoder = AsciiDecoder()
    _synthetic_feed(decoder, rng, 2000.0, 1e-4, n_lines=6000, cut_mid_line=True)
    assert decoder.rate_estimate().rate_hz == pytest.approx(2000.0, rel=2e-3)


def test_ascii_rate_estimate_follows_a_rate_change_within_its_window():
    decoder = AsciiDecoder(rate_window_s=2.0)
    t = 0.0
    for rate in (500.0, 800.0):
        for _ in range(600):  # 6 s at 100 chunks per second
            t += 0.01
            decoder.feed(b"1\n" * round(rate * 0.01), t)
    assert decoder.rate_estimate().rate_hz == pytest.approx(800.0, rel=1e-6)


def test_ascii_rate_estimate_needs_two_chunk_times():
    decoder = AsciiDecoder()
    assert decoder.rate_estimate() == RateEstimate(None, None, 0)
    decoder.feed(b"1\n2\n", 5.0)
    assert decoder.rate_estimate() == RateEstimate(None, None, 2)
    decoder.feed(b"3\n", 5.5)
    est = decoder.rate_estimate()
    assert est.rate_hz == pytest.approx(2.0) and est.jitter_s is None


def test_ascii_block_times_follow_the_fit_and_never_decrease():
    decoder = AsciiDecoder()
    rng = np.random.default_rng(5)
    times = []
    k = 0
    for _ in range(300):
        m = int(rng.integers(1, 30))
        k += m
        decoder.feed(b"7\n" * m, k / 1000.0 + rng.normal(0, 2e-4))
        times.append((k - m, decoder.last_t_us))
    t_us = np.array([t for _, t in times])
    assert np.all(np.diff(t_us) >= 0)
    first_index = np.array([i for i, _ in times])
    late = slice(50, None)  # once the fit has settled: 1 ms per line, common offset
    offsets = t_us[late] - first_index[late] * 1000
    assert np.ptp(offsets) < 1500


def test_ascii_refused_lines_still_take_a_sample_slot():
    decoder = AsciiDecoder()
    decoder.feed(b"junk\n1\n2\nbad\n3\n", 0.0)
    assert decoder.rate_estimate().n_lines == 4  # junk before the first good line: no slot


# -- over a real pseudo-terminal ------------------------------------------------------------


def test_ascii_rate_estimate_over_a_real_pty():
    """A writer thread paces lines at 2 kHz (bursts of 10 every 5 ms, absolute schedule) into
    a pty; the reader timestamps each read like a serial reader would."""
    rate, burst, n_bursts = 2000.0, 10, 240
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    values = np.random.default_rng(3).integers(-1000, 1000, size=burst * n_bursts)
    text = [
        b"".join(b"%d\n" % v for v in values[i * burst : (i + 1) * burst]) for i in range(n_bursts)
    ]

    def write() -> None:
        start = time.monotonic()
        for i, chunk in enumerate(text):
            delay = start + i * burst / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            os.write(master, chunk)

    writer = threading.Thread(target=write)
    decoder = AsciiDecoder()
    rows = []
    try:
        writer.start()
        while decoder.stats.lines < len(values):
            ready, _, _ = select.select([slave], [], [], 5.0)
            assert ready, "the writer stalled for 5 s"
            data = os.read(slave, 65536)
            rows.append(decoder.feed(data, time.monotonic()))
    finally:
        writer.join()
        os.close(master)
        os.close(slave)
    assert np.concatenate(rows)[:, 0].tolist() == values.tolist()
    est = decoder.rate_estimate()
    assert est.n_lines == len(values)
    assert est.rate_hz == pytest.approx(rate, rel=0.1)
    assert est.jitter_s is not None and est.jitter_s < 0.05

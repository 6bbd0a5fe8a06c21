"""Talk to the reference sensor firmware: stream samples in, collect scores and figures.

The host side of ``mps2_an386/sensor_main.c`` (``docs/firmware-qemu.md``): the host sends
SAMPLES frames (after a HELLO carrying the samples' scale), the firmware answers each one
with its SCORE frames and a ``perf`` TEXT frame, which doubles as the acknowledgement the
host paces itself by; a SAMPLES frame with ``n == 0`` ends the run.

:class:`FirmwareLink` is the connection (one running QEMU), :func:`run_sensor_firmware`
the one-call version for a whole recording.
"""

from __future__ import annotations

import fcntl
import re
import struct
import termios
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from firmware_export.errors import ExportError
from vibration.protocol import (
    MAX_SAMPLE_VALUES,
    Body,
    FrameDecoder,
    Hello,
    Samples,
    Score,
    Text,
    encode_frame,
)
from vibration.validation import is_integer

from .qemu import QemuSensor

__all__ = [
    "FirmwareLink",
    "FirmwareRun",
    "PerfReport",
    "parse_report",
    "read_available",
    "run_sensor_firmware",
    "samples_frames",
]

_REPORT = re.compile(r"^(perf|stats)((?: [a-z_]+=\d+)+)$")
HOST_DEVICE_ID = "tinypdm-host"


@dataclass(frozen=True)
class PerfReport:
    """One ``perf`` TEXT frame: the cost of one ``tinypdm_pipeline_push`` call.

    Attributes
    ----------
    samples : int
        Samples per axis in the SAMPLES frame pushed.
    windows : int
        Windows that push completed (scored).
    ticks : int
        SysTick ticks (25 MHz) the call took in virtual time.
    instructions : int
        ``40 * ticks``: guest instructions under ``-icount shift=0`` (resolution 40).
    stack : int
        Stack high-water mark so far, bytes.
    """

    samples: int
    windows: int
    ticks: int
    instructions: int
    stack: int

    @property
    def instructions_per_window(self) -> float:
        """Instructions of the call divided by the windows it scored (NaN for none)."""
        return self.instructions / self.windows if self.windows else float("nan")

    @classmethod
    def from_fields(cls, values: Mapping[str, int]) -> PerfReport:
        return cls(
            samples=values["n"],
            windows=values["windows"],
            ticks=values["ticks"],
            instructions=values["insns"],
            stack=values["stack"],
        )


@dataclass(frozen=True)
class FirmwareRun:
    """Everything one run of the sensor firmware sent.

    Attributes
    ----------
    hello : Hello
        The boot HELLO.
    scores : tuple of Score
        One per scored window, in order.
    perf : tuple of PerfReport
        One per SAMPLES frame.
    stats : dict of str to int
        The final ``stats`` line (frames, crc_errors, dropped, windows, results_dropped,
        stack).
    texts : tuple of Text
        Every TEXT frame, ``perf`` and ``stats`` included.
    exit_status : int
        QEMU's (the firmware's) exit status; 0 after a clean end of stream.
    decoder_stats : dict of str to int
        The host decoder's counters for the firmware's output.
    console : str
        QEMU's stderr (semihosting console).
    """

    hello: Hello
    scores: tuple[Score, ...]
    perf: tuple[PerfReport, ...]
    stats: Mapping[str, int]
    texts: tuple[Text, ...]
    exit_status: int
    decoder_stats: Mapping[str, int] = field(default_factory=dict)
    console: str = ""

    @property
    def score_values(self) -> NDArray[np.float32]:
        """The scores as float32, shape (n_windows,)."""
        return np.array([s.score for s in self.scores], dtype=np.float32)

    @property
    def instructions_per_window(self) -> float:
        """Worst instructions per window over the pushes that scored one (with frames of
        ``hop`` samples: window + ingest of ``hop`` samples); NaN when none did."""
        values = [p.instructions_per_window for p in self.perf if p.windows]
        return float(max(values)) if values else float("nan")

    @property
    def stack_high_water(self) -> int:
        """Bytes of stack the firmware ever used (from its final ``stats`` line)."""
        return int(self.stats.get("stack", max((p.stack for p in self.perf), default=0)))


def parse_report(text: str) -> tuple[str, dict[str, int]] | None:
    """Parse a ``perf``/``stats`` TEXT line: ``"perf n=512 windows=1 ..."``.

    Returns
    -------
    (kind, fields) or None
        None for any other text.
    """
    match = _REPORT.match(text)
    if match is None:
        return None
    fields = dict(item.split("=", 1) for item in match.group(2).split())
    return match.group(1), {key: int(value) for key, value in fields.items()}


def _as_2d_int16(samples: ArrayLike) -> NDArray[np.int16]:
    arr = np.asarray(samples)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"samples must have shape (n,) or (n, axes), got {arr.shape!r}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"samples must be int16 counts, got dtype {arr.dtype!r}")
    if arr.size and (arr.min() < -32768 or arr.max() > 32767):
        raise ValueError("samples must fit int16")
    return np.ascontiguousarray(arr, dtype=np.int16)


def samples_frames(
    samples: ArrayLike,
    *,
    sample_rate: float,
    frame_samples: int = 512,
    t0_us: int = 0,
    first_seq: int = 0,
) -> Iterator[bytes]:
    """Wire bytes of SAMPLES frames carrying ``samples``, then the end-of-stream frame.

    Parameters
    ----------
    samples : array_like of int16, shape (n,) or (n, axes)
    sample_rate : float
        Hz; the frame starting at sample ``i`` has ``t_us = t0_us + round(i * 1e6 / rate)``.
    frame_samples : int
        Samples per axis per frame (the last may be shorter).
    t0_us : int
        Device time of the first sample.
    first_seq : int
        ``seq`` of the first frame; +1 per frame.

    Yields
    ------
    bytes
        One encoded frame each; the last is ``Samples(n=0)``, the end of the stream.
    """

    x = _as_2d_int16(samples)
    axes = x.shape[1]
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")
    if not is_integer(frame_samples) or not 1 <= frame_samples <= MAX_SAMPLE_VALUES // axes:
        raise ValueError(
            f"frame_samples must be in 1..{MAX_SAMPLE_VALUES // axes} for {axes} axes, "
            f"got {frame_samples!r}"
        )
    seq = first_seq
    for start in range(0, x.shape[0], frame_samples):
        t_us = t0_us + round(start * 1e6 / sample_rate)
        yield encode_frame(seq, Samples(t_us, x[start : start + frame_samples]))
        seq += 1
    t_end = t0_us + round(x.shape[0] * 1e6 / sample_rate)
    yield encode_frame(seq, Samples(t_end, np.zeros((0, axes), dtype=np.int16)))


def read_available(port: Any) -> bytes:
    """Read what has arrived (waiting up to the port's timeout for the first byte).

    pyserial's ``socket://`` ``read(n)`` drops the bytes it already received when the peer
    closes before ``n`` arrived; asking only for what the kernel holds (``FIONREAD``)
    keeps the last bytes QEMU sent before it exited.
    """
    try:
        raw = fcntl.ioctl(port.fileno(), termios.FIONREAD, b"\0\0\0\0")
        available = int(struct.unpack("i", raw)[0])
    except (OSError, AttributeError, NotImplementedError):
        available = 0
    return bytes(port.read(max(1, available)))


class FirmwareLink:
    """A running sensor firmware in QEMU and the host end of its UART.

    Parameters
    ----------
    elf : path
        ``build_firmware(..., target="sensor").elf``.
    timeout : float
        Seconds any one wait (boot HELLO, an acknowledgement, the exit) may take.
    max_in_flight : int
        SAMPLES frames sent ahead of their acknowledgement (2 keeps QEMU busy while the
        next frame travels).

    Examples
    --------
    >>> with FirmwareLink("build/fw/sensor.elf") as fw:      # doctest: +SKIP
    ...     fw.set_scale(0.001, axes=1, sample_rate=12000.0)
    ...     bodies = fw.push(samples_block, t_us=0)
    ...     stats = fw.finish()
    """

    def __init__(self, elf: str | Path, *, timeout: float = 30.0, max_in_flight: int = 2) -> None:
        if not is_integer(max_in_flight) or not 1 <= max_in_flight <= 8:
            raise ValueError(f"max_in_flight must be in 1..8, got {max_in_flight!r}")
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.sensor = QemuSensor(elf)
        self._hello: Hello | None = None
        self.exit_status: int | None = None
        self.texts: list[Text] = []
        self._port: Any = None
        self._decoder = FrameDecoder()
        self._seq = 0
        self._in_flight = 0
        self._received: deque[Body] = deque()
        self._closed_by_peer = False

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FirmwareLink:
        """Boot the firmware and wait for its HELLO.

        Raises
        ------
        ExportError
            QEMU failed, or no HELLO within ``timeout``.
        """
        self.sensor.start()
        try:
            self._port = self.sensor.open_serial(timeout=0.05)
            deadline = time.monotonic() + self.timeout
            while self._hello is None:
                self._pump(deadline, "the boot HELLO")
                for body in self._drain():
                    if isinstance(body, Hello) and self._hello is None:
                        self._hello = body
                    else:
                        self._received.append(body)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop QEMU (if still running) and close the UART. Idempotent."""
        self.sensor.close()
        self._port = None

    def __enter__(self) -> FirmwareLink:
        return self if self._port is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def hello(self) -> Hello:
        """The firmware's boot HELLO."""
        if self._hello is None:
            raise ExportError("the firmware link is not started")
        return self._hello

    @property
    def decoder_stats(self) -> dict[str, int]:
        """The host decoder's counters for what the firmware sent."""
        return dict(self._decoder.stats.as_dict())

    # -- traffic ---------------------------------------------------------------------
    def _pump(self, deadline: float, waiting_for: str) -> None:
        """Read what arrived into the decoder; raise when the deadline passed."""
        import serial

        if time.monotonic() > deadline:
            raise ExportError(f"the firmware did not send {waiting_for} within {self.timeout} s")
        if self._closed_by_peer:
            raise ExportError(
                f"the firmware exited (status {self.sensor.returncode}) before {waiting_for}"
            )
        try:
            data = read_available(self._port)
        except serial.SerialException:
            self._closed_by_peer = True
            return
        for frame in self._decoder.feed(data):
            self._received.append(frame.body)

    def _drain(self) -> list[Body]:
        out = list(self._received)
        self._received.clear()
        return out

    def _send(self, frame: bytes) -> None:
        if self._port is None:
            raise ExportError("the firmware link is not started")
        self._port.write(frame)
        self._seq += 1

    def set_scale(self, scale: float, *, axes: int, sample_rate: float) -> None:
        """Send a host HELLO: the samples that follow are in units of ``scale`` per LSB."""
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be finite and > 0, got {scale!r}")
        hello = Hello(
            axes=axes,
            flags=Hello.FLAG_STREAMS,
            samples_per_frame=0,
            sample_rate_hz=float(sample_rate),
            scale=float(scale),
            units="",
            device_id=HOST_DEVICE_ID,
            firmware_version="",
        )
        self._send(encode_frame(self._seq, hello))

    def _collect_ack(self, deadline: float, out: list[Body]) -> None:
        """Wait for the next ``perf`` acknowledgement; bodies received on the way go to out."""
        while True:
            while self._received:
                body = self._received.popleft()
                out.append(body)
                if isinstance(body, Text):
                    self.texts.append(body)
                    parsed = parse_report(body.text)
                    if parsed is not None and parsed[0] == "perf":
                        self._in_flight -= 1
                        return
            self._pump(deadline, "the acknowledgement of a SAMPLES frame")

    def wait_all(self) -> list[Body]:
        """Wait until every SAMPLES frame in flight is acknowledged; return what came back."""
        out: list[Body] = []
        deadline = time.monotonic() + self.timeout
        while self._in_flight > 0:
            self._collect_ack(deadline, out)
        return out

    def push(self, samples: ArrayLike, t_us: int, *, wait: bool = True) -> list[Body]:
        """Send one SAMPLES frame; return the frames the firmware sent back meanwhile.

        Parameters
        ----------
        samples : array_like of int16, shape (n,) or (n, axes), 1 <= n * axes <= 1018
        t_us : int
            Device time of the first sample.
        wait : bool
            Wait for every frame in flight to be acknowledged (else only until fewer than
            ``max_in_flight`` are).

        Returns
        -------
        list of frame bodies
            SCORE frames and TEXT frames (``perf`` acknowledgements included), in order.
        """
        block = _as_2d_int16(samples)
        if block.shape[0] == 0:
            raise ValueError("push needs at least one sample; finish() ends the stream")
        out: list[Body] = []
        deadline = time.monotonic() + self.timeout
        while self._in_flight >= self.max_in_flight:
            self._collect_ack(deadline, out)
        self._send(encode_frame(self._seq, Samples(int(t_us), block)))
        self._in_flight += 1
        while wait and self._in_flight > 0:
            self._collect_ack(deadline, out)
        return out

    def finish(self) -> tuple[list[Body], dict[str, int]]:
        """End the stream (``SAMPLES n=0``), read to the end, wait for the exit.

        Returns
        -------
        (bodies, stats)
            Frames received after the last :meth:`push`, and the ``stats`` line's fields.
        """
        import serial

        axes = max(1, int(self.hello.axes))
        self._send(encode_frame(self._seq, Samples(0, np.zeros((0, axes), dtype=np.int16))))
        deadline = time.monotonic() + self.timeout
        while not self._closed_by_peer:
            if time.monotonic() > deadline:
                raise ExportError(f"the firmware did not exit within {self.timeout} s")
            try:
                data = read_available(self._port)
            except serial.SerialException:
                break
            for frame in self._decoder.feed(data):
                self._received.append(frame.body)
        self._closed_by_peer = True
        self.exit_status = self.sensor.wait(self.timeout)
        bodies = self._drain()
        stats: dict[str, int] = {}
        for body in bodies:
            if isinstance(body, Text):
                self.texts.append(body)
                parsed = parse_report(body.text)
                if parsed is not None and parsed[0] == "stats":
                    stats = parsed[1]
        self._in_flight = 0
        return bodies, stats


def run_sensor_firmware(
    elf: str | Path,
    samples: ArrayLike,
    *,
    sample_rate: float,
    scale: float | None = None,
    frame_samples: int = 512,
    t0_us: int = 0,
    timeout: float = 60.0,
) -> FirmwareRun:
    """Run the sensor firmware in QEMU on recorded samples and collect what it sends.

    Parameters
    ----------
    elf : path
        ``build_firmware(..., target="sensor").elf``.
    samples : array_like of int16, shape (n,) or (n, axes)
        The recording, in sensor counts.
    sample_rate : float
        Hz of the recording (sets the SAMPLES ``t_us``).
    scale : float, optional
        Physical units per LSB; sent in a host HELLO before the samples. None keeps the
        firmware's built-in ``TINYPDM_SAMPLE_SCALE``.
    frame_samples : int
        Samples per axis per SAMPLES frame; the model's ``hop`` gives one window per frame.
    t0_us : int
        Device time of the first sample.
    timeout : float
        Seconds any one wait may take.

    Returns
    -------
    FirmwareRun

    Raises
    ------
    ExportError
        QEMU failed, no HELLO came, or the firmware stopped answering.
    """

    x = _as_2d_int16(samples)
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")

    if not is_integer(frame_samples) or not 1 <= frame_samples <= MAX_SAMPLE_VALUES // x.shape[1]:
        raise ValueError(
            f"frame_samples must be in 1..{MAX_SAMPLE_VALUES // x.shape[1]}, got {frame_samples!r}"
        )
    bodies: list[Body] = []
    with FirmwareLink(elf, timeout=timeout) as link:
        bodies += link._drain()  # what came with the HELLO (the ready TEXT)
        if scale is not None:
            link.set_scale(scale, axes=x.shape[1], sample_rate=sample_rate)
        for start in range(0, x.shape[0], frame_samples):
            t_us = t0_us + round(start * 1e6 / sample_rate)
            bodies += link.push(x[start : start + frame_samples], t_us, wait=False)
        tail, stats = link.finish()
        bodies += tail
        console = link.sensor.console
        hello = link.hello
        status = link.exit_status
        decoder_stats = link.decoder_stats
    texts = tuple(b for b in bodies if isinstance(b, Text))
    perf = []
    for text in texts:
        parsed = parse_report(text.text)
        if parsed is not None and parsed[0] == "perf":
            perf.append(PerfReport.from_fields(parsed[1]))
    return FirmwareRun(
        hello=hello,
        scores=tuple(b for b in bodies if isinstance(b, Score)),
        perf=tuple(perf),
        stats=stats,
        texts=texts,
        exit_status=-1 if status is None else status,
        decoder_stats=decoder_stats,
        console=console,
    )

"""A crafted sensor for tests: writes given byte chunks to a real pty on a schedule."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from vibration.acquisition.serial_link import PtyLink


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

"""The gateway itself: :class:`Gateway` (one reader thread per port, one writer thread
committing batches and checkpoints to the spool) and :func:`run_gateway`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vibration.telemetry.gateway.config import GatewayConfig, _legacy_spool_dir, default_spool_dir
from vibration.telemetry.gateway.link import FRAME_KINDS, LinkServices, _Link
from vibration.telemetry.gateway.report import GatewayReport, GatewayStatus
from vibration.telemetry.gateway.shadow import ShadowFactory
from vibration.telemetry.stores.base import Store
from vibration.telemetry.stores.batcher import PointBatcher
from vibration.telemetry.stores.factory import open_store
from vibration.telemetry.stores.spool import SpooledStore, SpoolFull

__all__ = ["Gateway", "run_gateway"]

log = logging.getLogger("tinypdm.gateway")

_STATE_VERSION = 1


class Gateway:
    """Read ``config.ports``, write points to ``config.store_url`` through a spool.

    Parameters
    ----------
    config : GatewayConfig
    shadow : ShadowFactory, optional
        Builds host-side scorers for sensors that stream raw samples.
    open_port : callable, optional
        ``url -> open serial port`` (default :func:`vibration.acquisition.serial_link.open_port`).
    store : Store, optional
        Use this store instead of opening ``config.store_url`` (owned by the gateway).

    Use :meth:`start` / :meth:`stop` (returns the :class:`GatewayReport`), or :meth:`run`.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        shadow: ShadowFactory | None = None,
        open_port: Callable[[str], Any] | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.shadow = shadow
        self._open_port = open_port
        self._inner = store
        self.batcher = PointBatcher(config.batch_points, config.batch_interval_s)
        self.store: SpooledStore | None = None
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._started = 0.0
        self._lost = 0
        self._last_error = ""
        self._rate_mark = (0.0, 0)

    def open_port(self, url: str) -> Any:
        if self._open_port is not None:
            return self._open_port(url)
        from vibration.acquisition.serial_link import open_port

        return open_port(url, baudrate=self.config.baudrate, timeout=self.config.read_timeout_s)

    def start(self) -> Gateway:
        """Open the store and spool, then start the writer and one reader per port.

        Raises
        ------
        StoreError
            The store URL is bad or the spool cannot be used (e.g. locked by another
            gateway). An unreachable store is fine: points are spooled.
        """
        cfg = self.config
        inner = self._inner if self._inner is not None else open_store(cfg.store_url)
        spool_dir = Path(cfg.spool_dir) if cfg.spool_dir else default_spool_dir(cfg.store_url)
        legacy = _legacy_spool_dir(cfg.store_url)
        if not cfg.spool_dir and legacy != spool_dir and (legacy / "spool.db").exists():
            log.warning(
                "an older spool keyed on the URL's text is at %s; if its points belong to "
                "this store, deliver them with --spool %s",
                legacy,
                legacy,
            )
        try:
            self.store = SpooledStore(inner, spool_dir, max_bytes=cfg.spool_max_bytes)
        except BaseException:
            inner.close()
            raise
        state = self.store.spool.load_state() or {}
        saved_links = state.get("links", {}) if state.get("version") == _STATE_VERSION else {}
        services = LinkServices(cfg, self.batcher, self.open_port, self.shadow)
        self._links = [_Link(services, url, saved_links.get(url)) for url in cfg.ports]
        self._started = time.monotonic()
        self._rate_mark = (self._started, 0)
        writer = threading.Thread(target=self._write_loop, name="gateway-writer", daemon=True)
        writer.start()
        self._writer = writer
        for link in self._links:
            t = threading.Thread(
                target=link.run, args=(self._stop,), name=f"port {link.url}", daemon=True
            )
            t.start()
            self._threads.append(t)
        return self

    def _write_loop(self) -> None:
        assert self.store is not None
        while True:
            item = self.batcher.take(timeout=0.5)
            if item is None:
                if self.batcher.closed:
                    return
                continue
            batch, links = item
            try:
                self.store.commit(batch, {"version": _STATE_VERSION, "links": links})
            except SpoolFull as exc:  # counted in the spool's lost_total (stats)
                self._last_error = str(exc)
                log.error("%s", exc)
            except Exception as exc:  # the spool's disk failed: count, never hide
                self._lost += len(batch)
                self._last_error = str(exc)
                log.error("cannot commit %d points: %s", len(batch), exc)

    def status(self) -> GatewayStatus:
        """A snapshot of the counters (thread-safe)."""
        assert self.store is not None
        reports = [lk.report() for lk in self._links]
        st = self.store.stats()
        now = time.monotonic()
        scores = sum(r.scores for r in reports)
        t0, s0 = self._rate_mark
        rate = (scores - s0) / (now - t0) if now > t0 else 0.0
        if now - t0 >= 1.0:
            self._rate_mark = (now, scores)
        return GatewayStatus(
            elapsed_s=now - self._started,
            sensors=sum(1 for r in reports if r.sensor is not None),
            connected=sum(1 for r in reports if r.connected),
            ports=len(reports),
            scores=scores,
            scores_per_s=rate,
            queued=self.batcher.pending,
            spool_pending=st.pending_points,
            points_written=st.written_total,
            spooled=st.spooled_total,
            lost=self._lost + st.lost_total + st.rejected_total + self.batcher.overflowed,
            crc_errors=sum(r.crc_errors for r in reports),
            dropped_frames=sum(r.dropped_frames for r in reports),
            store_error=st.last_error,
            not_understood=sum(r.line_errors + r.skipped_bytes for r in reports),
        )

    def stop(self) -> GatewayReport:
        """Stop reading, commit what is buffered, give the spool ``drain_timeout_s`` to reach
        the store, close everything and report."""
        assert self.store is not None
        self._stop.set()
        for t in self._threads:
            t.join()
        for link in self._links:  # frames still waiting for a HELLO: name them now
            link.give_up_waiting()
        for link in self._links:  # scores still waiting for the clock to settle
            link.flush()
        for link in self._links:  # a last status with the final counters
            final = link.final_status()
            if final is not None:
                self.batcher.add(link.url, link.checkpoint(), statuses=[final])
        self.batcher.close()
        self._writer.join()
        if self.config.drain_timeout_s > 0:
            try:
                self.store.drain(self.config.drain_timeout_s)
            except Exception as exc:  # the spool's disk failed: what is left stays pending
                self._last_error = str(exc)
                log.error("cannot drain the spool: %s", exc)
        elapsed = time.monotonic() - self._started
        links = tuple(lk.report() for lk in self._links)
        st = self.store.stats()
        self.store.close()
        frames = {k: sum(lk.frames[k] for lk in links) for k in FRAME_KINDS}
        return GatewayReport(
            seconds=elapsed,
            frames=frames,
            scores=sum(lk.scores for lk in links),
            points_written=st.written_total,
            spooled=st.spooled_total,
            lost=self._lost + st.lost_total + st.rejected_total + self.batcher.overflowed,
            rejected=st.rejected_total,
            invalid=sum(lk.invalid for lk in links),
            spool_pending=st.pending_points,
            crc_errors=sum(lk.crc_errors for lk in links),
            dropped_frames=sum(lk.dropped_frames for lk in links),
            reconnects=sum(lk.reconnects for lk in links),
            links=links,
            store=self.store.url,
            last_error=self._last_error or st.last_error,
        )

    def run(
        self,
        seconds: float | None = None,
        *,
        stop_event: threading.Event | None = None,
        on_status: Callable[[GatewayStatus], None] | None = None,
        status_every_s: float = 0.5,
    ) -> GatewayReport:
        """Start, run for ``seconds`` (None: until ``stop_event`` is set), stop, report."""
        stop = stop_event if stop_event is not None else threading.Event()
        self.start()
        try:
            deadline = None if seconds is None else self._started + seconds
            while not stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wait = status_every_s if deadline is None else min(status_every_s, deadline - now)
                if stop.wait(max(0.0, wait)):
                    break
                if on_status is not None:
                    on_status(self.status())
        finally:
            report = self.stop()
        return report


def run_gateway(
    config: GatewayConfig,
    seconds: float | None = None,
    *,
    stop_event: threading.Event | None = None,
    on_status: Callable[[GatewayStatus], None] | None = None,
    shadow: ShadowFactory | None = None,
) -> GatewayReport:
    """Run a :class:`Gateway` (the library form of ``tinypdm monitor``)."""
    gw = Gateway(config, shadow=shadow)
    return gw.run(seconds, stop_event=stop_event, on_status=on_status)

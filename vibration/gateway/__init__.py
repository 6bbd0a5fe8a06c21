"""The gateway: many sensors' serial links in, score points out (``tinypdm monitor``).

One thread per port reads bytes (ports opened with ``serial.serial_for_url(url,
do_not_open=True)``, so paths, ptys, ``socket://`` and ``loop://`` all work), decodes frames
(:class:`~vibration.protocol.StreamDecoder`) and turns them into points:

* HELLO -> the sensor's identity and a :class:`~vibration.stores.SensorStatus`;
* SCORE -> a :class:`~vibration.stores.ScorePoint`, its device time mapped to wall time
  (:class:`~vibration.devtime.ClockMapper`), plus ``alarm`` / ``alarm_cleared`` events on
  alarm transitions;
* SAMPLES -> "shadow mode": when a :class:`ShadowScorer` is available for the sensor, the
  gateway scores the raw stream itself (model tag ``<hash>@host``);
* TEXT -> the log (warnings and errors also become ``note`` events).

A port that disappears (pty closed, USB unplugged) is reopened with exponential backoff while
the other ports carry on. Points go into a :class:`~vibration.stores.batcher.PointBatcher`;
one writer thread commits each batch, together with every link's checkpoint (last sequence
number accounted for, cumulative counters), to the spool of a
:class:`~vibration.stores.spool.SpooledStore`, which delivers it to the store and keeps it
through outages.

Accounting: every frame a sensor numbers ends up either in the store or in
``dropped_frames`` (a ``seq`` gap), also across a gateway killed with SIGKILL: the
checkpoint is committed atomically with the points, and a restarted gateway resumes from it,
counting frames that were read but not committed as dropped.

Modules: :mod:`~vibration.gateway.config` (:class:`GatewayConfig`),
:mod:`~vibration.gateway.shadow` (host-side "shadow" scoring),
:mod:`~vibration.gateway.link` (one port's reader and accounting),
:mod:`~vibration.gateway.report` (status and run reports),
:mod:`~vibration.gateway.core` (:class:`Gateway`, :func:`run_gateway`).
"""

from __future__ import annotations

from vibration.gateway.config import GatewayConfig, default_spool_dir
from vibration.gateway.core import Gateway, run_gateway
from vibration.gateway.link import FRAME_KINDS
from vibration.gateway.report import GatewayReport, GatewayStatus, LinkReport, format_status
from vibration.gateway.shadow import (
    PipelineShadowScorer,
    ShadowFactory,
    ShadowResult,
    ShadowScorer,
    load_shadow_factory,
)

__all__ = [
    "FRAME_KINDS",
    "Gateway",
    "GatewayConfig",
    "GatewayReport",
    "GatewayStatus",
    "LinkReport",
    "PipelineShadowScorer",
    "ShadowFactory",
    "ShadowResult",
    "ShadowScorer",
    "default_spool_dir",
    "format_status",
    "load_shadow_factory",
    "run_gateway",
]

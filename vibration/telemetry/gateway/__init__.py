"""The gateway: many sensors' serial links in, score points out (``tinypdm monitor``).

One thread per port reads bytes (ports opened with ``serial.serial_for_url(url,
do_not_open=True)``, so paths, ptys, ``socket://`` and ``loop://`` all work), decodes frames
(:class:`~vibration.protocol.StreamDecoder`) and turns them into points:

* HELLO -> the sensor's identity and a :class:`~vibration.telemetry.stores.SensorStatus`;
* SCORE -> a :class:`~vibration.telemetry.stores.ScorePoint`, its device time mapped to wall time
  (:class:`~vibration.telemetry.devtime.ClockMapper`), plus ``alarm`` / ``alarm_cleared`` events on
  alarm transitions;
* SAMPLES -> "shadow mode": when a :class:`ShadowScorer` is available for the sensor, the
  gateway scores the raw stream itself (model tag ``<hash>@host``);
* TEXT -> the log (warnings and errors also become ``note`` events).

A port that disappears (pty closed, USB unplugged) is reopened with exponential backoff while
the other ports carry on. Points go into a
:class:`~vibration.telemetry.stores.batcher.PointBatcher`;
one writer thread commits each batch, together with every link's checkpoint (last sequence
number accounted for, cumulative counters), to the spool of a
:class:`~vibration.telemetry.stores.spool.SpooledStore`, which delivers it to the store and keeps it
through outages.

Accounting: every frame a sensor numbers ends up either in the store or in
``dropped_frames`` (a ``seq`` gap), also across a gateway killed with SIGKILL: the
checkpoint is committed atomically with the points, and a restarted gateway resumes from it,
counting frames that were read but not committed as dropped.

Modules: :mod:`~vibration.telemetry.gateway.config` (:class:`GatewayConfig`),
:mod:`~vibration.telemetry.gateway.shadow` (host-side "shadow" scoring),
:mod:`~vibration.telemetry.gateway.link` (one port's reader and accounting),
:mod:`~vibration.telemetry.gateway.report` (status and run reports),
:mod:`~vibration.telemetry.gateway.core` (:class:`Gateway`, :func:`run_gateway`).
"""

from __future__ import annotations

from vibration.telemetry.gateway.config import GatewayConfig, default_spool_dir
from vibration.telemetry.gateway.core import Gateway, run_gateway
from vibration.telemetry.gateway.link import FRAME_KINDS
from vibration.telemetry.gateway.report import (
    GatewayReport,
    GatewayStatus,
    LinkReport,
    format_status,
)
from vibration.telemetry.gateway.shadow import (
    PipelineShadowScorer,
    ShadowFactory,
    ShadowResult,
    ShadowScorer,
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
    "run_gateway",
]

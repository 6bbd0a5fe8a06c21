"""``tinypdm demo``: the whole loop, end to end, on built-in defaults.

1. **dataset**: virtual sensors stream healthy vibration over ptys; ``capture`` records
   them into a dataset.
2. **model**: the autoencoder is trained on that dataset and evaluated against simulated
   faults of rising severity.
3. **bundle**: the model is exported to an int8 firmware bundle; the parity ladder runs.
4. **fleet**: a small fleet of sensors scores on board with the bundle (the Cortex-M4
   firmware in QEMU where installed, the same C on the host otherwise); one bearing
   develops an outer-race fault. The gateway stores the scores (SQLite by default).
5. **dashboard** (full mode): Streamlit on the demo's store.

Every stage writes under one output directory, atomically where it matters (recordings,
model directory, bundle), so Ctrl-C at any point leaves nothing half-written behind.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibration.errors import TinyPdmError
from vibration.telemetry.stores.base import redact_url

__all__ = ["DemoConfig", "Tick", "run_demo"]

#: ``tick(stage, done, total, note)``: progress of a stage (``total`` 0: indeterminate).
Tick = Callable[[str, float, float, str], None]

FAULTY_SENSOR = "pump-1"
_SEVERITIES = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs; the defaults are the full demo (``quick`` shortens it).

    Attributes
    ----------
    out : Path
        Everything goes here: ``dataset/``, ``faults/``, ``model/``, ``bundle/``,
        ``scores.db``, ``report/``, ``spool/``, ``links/``.
    quick : bool
        Short mode (about a minute): fewer, shorter sensors, fewer epochs, no dashboard.
    store_url : str or None
        Where the fleet's scores go; None: ``sqlite:///<out>/scores.db``.
    engine : {"auto", "qemu", "host"}
        How fleet sensors score on board (see :mod:`firmware_export.onboard`): ``"auto"``
        runs the first ``qemu_sensors`` sensors (the faulty pump-1 first) as the Cortex-M4
        firmware in QEMU where it is installed and the others as the same C on the host;
        ``"qemu"`` and ``"host"`` run every sensor one way.
    qemu_sensors : int
        With ``engine="auto"``: how many sensors run in QEMU. Each emulated Cortex-M4
        takes most of a core to keep up with 12 kHz in real time.
    sample_rate : float
        Hz of every sensor.
    seed : int
    capture_sensors, capture_seconds
        Healthy sensors recorded for training, and for how long.
    fleet_sensors, fleet_seconds
        Size of the monitored fleet and how long it runs (pump-1 develops the fault).
    epochs : int or None
        Training epochs; None: the detector's default.
    """

    out: Path
    quick: bool = False
    store_url: str | None = None
    engine: str = "auto"
    qemu_sensors: int = 2
    sample_rate: float = 12000.0
    seed: int = 0
    capture_sensors: int = 2
    capture_seconds: float | None = None
    fleet_sensors: int | None = None
    fleet_seconds: float | None = None
    epochs: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        defaults = {
            "capture_seconds": 8.0 if self.quick else 20.0,
            "fleet_sensors": 3 if self.quick else 4,
            "fleet_seconds": 30.0 if self.quick else 120.0,
            "epochs": 60 if self.quick else None,
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.capture_sensors < 1 or (self.fleet_sensors or 0) < 2:
            raise ValueError(
                f"need >= 1 capture sensor and >= 2 fleet sensors, got "
                f"{self.capture_sensors!r} and {self.fleet_sensors!r}"
            )
        for name in ("capture_seconds", "fleet_seconds", "sample_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{(self.out / 'scores.db').resolve()}"


def _noop(stage: str, done: float, total: float, note: str) -> None:
    pass


def _sensor_thread(target: Callable[[], Any], box: dict[str, Any], key: str) -> threading.Thread:
    def run() -> None:
        try:
            box[key] = target()
        except BaseException as exc:  # reported by the caller after join
            box[key] = exc

    thread = threading.Thread(target=run, name=key, daemon=True)
    thread.start()
    return thread


def _wait_for(path: Path, stop: threading.Event, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if stop.is_set() or time.monotonic() > deadline:
            raise TinyPdmError(f"virtual sensor link {str(path)!r} did not appear")
        time.sleep(0.02)


def _raise_first(box: dict[str, Any]) -> None:
    for value in box.values():
        if isinstance(value, BaseException):
            raise value


def capture_healthy(cfg: DemoConfig, stop: threading.Event, tick: Tick) -> dict[str, Any]:
    """Stage 1: healthy virtual sensors on ptys, captured into ``out/dataset``."""
    from vibration.acquisition.capture import CaptureConfig, capture
    from vibration.acquisition.serial_link import open_port
    from vibration.acquisition.virtual_sensor import (
        RunOptions,
        SimulatedSource,
        VirtualSensor,
        VirtualSensorConfig,
        run_on_pty,
    )
    from vibration.data.dataset import dataset_info
    from vibration.data.simulator import SimulatorConfig

    dataset = cfg.out / "dataset"
    links = cfg.out / "links"
    links.mkdir(parents=True, exist_ok=True)
    seconds = float(cfg.capture_seconds or 0)
    options = RunOptions(seconds=seconds, stop_event=stop, wait_reader=0.2)
    box: dict[str, Any] = {}
    threads = []
    for i in range(cfg.capture_sensors):
        name = f"healthy-{i + 1}"
        sim = SimulatorConfig(
            sample_rate=cfg.sample_rate, rpm=1797.0 - 25.0 * i, seed=cfg.seed + 100 + i
        )
        sensor = VirtualSensor(
            VirtualSensorConfig(sensor_id=name, seed=cfg.seed + i), SimulatedSource(sim)
        )
        link = links / name

        def stream(link: Path = link, sensor: VirtualSensor = sensor) -> Any:
            return run_on_pty(link, sensor, options)

        threads.append(_sensor_thread(stream, box, f"sensor {name}"))
        _wait_for(link, stop)

        def record(link: Path = link, name: str = name) -> Any:
            port = open_port(str(link), timeout=0.05)
            try:
                conf = CaptureConfig(out=dataset, name=name, label="normal")
                return capture(port, seconds + 10.0, conf, stop_event=stop)
            finally:
                port.close()

        threads.append(_sensor_thread(record, box, f"capture {name}"))
    start = time.monotonic()
    while any(t.is_alive() for t in threads):
        tick("dataset", min(seconds, time.monotonic() - start), seconds, "capturing")
        time.sleep(0.2)
    _raise_first(box)
    tick("dataset", seconds, seconds, "captured")
    info = dataset_info(dataset)
    info["path"] = str(dataset)
    return info


def train_and_evaluate(cfg: DemoConfig, tick: Tick) -> dict[str, Any]:
    """Stage 2: train on the captured dataset; evaluate on faults of rising severity."""
    from vibration.data.simulator import SimulatorConfig, simulate_recording
    from vibration.learning.evaluation import evaluate_model
    from vibration.learning.model_dir import load_model_dir
    from vibration.learning.training import train_model

    faults = cfg.out / "faults"
    if not faults.exists():
        tmp = cfg.out / "faults.part"
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        simulate_recording(
            tmp, "healthy-unseen", SimulatorConfig(sample_rate=cfg.sample_rate, seed=77), 10.0
        )
        for kind in ("outer", "inner"):
            for sev in _SEVERITIES:
                conf = SimulatorConfig(
                    sample_rate=cfg.sample_rate, fault=kind, severity=sev, seed=int(sev * 100)
                )
                simulate_recording(tmp, f"{kind}-{sev:g}", conf, 5.0)
        tmp.rename(faults)

    def on_start(n_epochs: int, summary: Any) -> None:
        tick("model", 0, n_epochs, "training")

    def on_epoch(epoch: int, logs: Any) -> None:
        tick("model", epoch + 1, 0, f"loss {float(logs.get('loss', 0.0)):.3f}")

    summary = train_model(
        [cfg.out / "dataset"],
        cfg.out / "model",
        epochs=cfg.epochs,
        seed=cfg.seed,
        on_start=on_start,
        on_epoch=on_epoch,
    )
    tick("model", 1, 1, "evaluating")
    evaluation = evaluate_model(load_model_dir(cfg.out / "model", keras=False), [faults])
    rows = evaluation.to_dict()["recordings"]
    return {
        "path": str(cfg.out / "model"),
        "threshold": summary.get("threshold"),
        "windows_train": summary.get("n_windows_train"),
        "windows_held_out": summary.get("n_windows_held_out"),
        "parameters": summary.get("n_parameters"),
        "detection": {r["name"]: r["detection_rate"] for r in rows},
        "false_alarm_rate": next(
            (r["false_alarm_rate"] for r in rows if r["name"] == "healthy-unseen"), None
        ),
    }


def export_and_verify(cfg: DemoConfig, tick: Tick) -> dict[str, Any]:
    """Stage 3: the int8 firmware bundle, with the parity ladder."""
    from firmware_export.exporter.bundle import ExportOptions, export_bundle
    from firmware_export.firmware import qemu_available, toolchain_available

    measure = qemu_available() and toolchain_available()

    def say(message: str) -> None:
        tick("bundle", 0, 0, message)

    manifest = export_bundle(
        cfg.out / "model",
        cfg.out / "bundle",
        data=[cfg.out / "faults"],
        options=ExportOptions(measure=measure),
        progress=say,
    )
    parity = manifest.get("parity", [])
    passed = bool(parity) and all(bool(r.get("passed")) for r in parity)
    tick("bundle", 1, 1, "parity passed" if passed else "parity FAILED")
    return {
        "path": str(cfg.out / "bundle"),
        "model_sha256": manifest.get("model", {}).get("sha256"),
        "sizes": manifest.get("sizes"),
        "instructions_per_window": manifest.get("instructions_per_window"),
        "parity": parity,
        "parity_passed": passed,
    }


def run_fleet(cfg: DemoConfig, stop: threading.Event, tick: Tick) -> dict[str, Any]:
    """Stage 4: on-board scoring sensors -> gateway -> store; pump-1 develops a fault."""
    from firmware_export.onboard import choose_engine, run_onboard_sensor
    from vibration.acquisition.virtual_sensor import (
        DevelopingFaultSource,
        RunOptions,
        SimulatedSource,
        VirtualSensorConfig,
    )
    from vibration.data.simulator import SimulatorConfig
    from vibration.telemetry.gateway import Gateway, GatewayConfig
    from vibration.telemetry.stores import open_store

    engine = choose_engine(cfg.engine)
    engines = [
        "host" if cfg.engine == "auto" and i >= cfg.qemu_sensors else engine
        for i in range(int(cfg.fleet_sensors or 0))
    ]
    seconds = float(cfg.fleet_seconds or 0)
    options = RunOptions(seconds=seconds, stop_event=stop, wait_reader=0.2)
    links = cfg.out / "links"
    links.mkdir(parents=True, exist_ok=True)
    box: dict[str, Any] = {}
    threads = []
    ports = []
    for i in range(int(cfg.fleet_sensors or 0)):
        name = f"pump-{i + 1}"
        sim = SimulatorConfig(
            sample_rate=cfg.sample_rate,
            rpm=1797.0 - 10.0 * i,
            fault="outer" if name == FAULTY_SENSOR else "none",
            seed=cfg.seed + 200 + i,
        )
        source: Any
        if name == FAULTY_SENSOR:
            source = DevelopingFaultSource(
                sim, onset_s=0.25 * seconds, ramp_s=0.45 * seconds, final_severity=0.8
            )
        else:
            source = SimulatedSource(sim)
        link = links / name
        ports.append(str(link))
        config = VirtualSensorConfig(sensor_id=name, seed=cfg.seed + i)

        def stream(
            link: Path = link, source: Any = source, config: Any = config, engine: str = engines[i]
        ) -> Any:
            return run_onboard_sensor(
                cfg.out / "bundle",
                link,
                source,
                engine=engine,
                config=config,
                options=options,
            )

        threads.append(_sensor_thread(stream, box, name))
    for port in ports:
        _wait_for(Path(port), stop, timeout=120.0)
    gateway = Gateway(
        GatewayConfig(
            ports=tuple(ports),
            store_url=cfg.store,
            asset="demo-line",
            spool_dir=str(cfg.out / "spool"),
            hello_wait_s=5.0,
        )
    ).start()
    start = time.monotonic()
    # Sensors that end their run close their ptys: the gateway would warn about each lost
    # port and its reconnect attempts. Expected here, so quiet it once the first one ends.
    gateway_log = logging.getLogger("tinypdm.gateway")
    level = gateway_log.level
    try:
        while any(t.is_alive() for t in threads):
            if not all(t.is_alive() for t in threads):
                gateway_log.setLevel(logging.ERROR)
            status = gateway.status()
            tick(
                "fleet",
                min(seconds, time.monotonic() - start),
                seconds,
                f"{status.scores} scores, {status.points_written} stored",
            )
            time.sleep(0.25)
    finally:
        for t in threads:
            t.join(30)
        gateway_log.setLevel(logging.ERROR)
        report = gateway.stop()
        gateway_log.setLevel(level)
    _raise_first(box)
    store = open_store(cfg.store)
    try:
        points = store.count_scores()
        events = store.events(0, time.time_ns() + 1)
        names = [f"pump-{i + 1}" for i in range(int(cfg.fleet_sensors or 0))]
        alarms = {
            name: sum(1 for e in events if e.kind == "alarm" and e.sensor == name) for name in names
        }
    finally:
        store.close()
    tick("fleet", seconds, seconds, f"{points} scores stored")
    return {
        "engine": engine,
        "store": report.store,
        "sensors": {
            name: {
                "engine": r.extra.get("engine"),
                "windows": r.extra.get("windows"),
                "samples": r.samples_sent,
            }
            for name, r in box.items()
        },
        "scores_received": report.scores,
        "points_written": report.points_written,
        "points_stored": points,
        "lost": report.lost,
        "alarms": alarms,
    }


def run_demo(
    cfg: DemoConfig,
    *,
    stop: threading.Event | None = None,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Run stages 1-4 and return the summary (the JSON of ``tinypdm demo --json``).

    Keys: ``dataset``, ``model``, ``bundle``, ``parity_passed``, ``fleet``,
    ``points_stored``, ``alarms`` (alarm onsets per fleet sensor), ``store``,
    ``seconds`` (wall time per stage).

    Raises
    ------
    TinyPdmError
        A stage failed (its message says which and why); parity failing is reported in
        the summary, not raised.
    """
    stop = stop or threading.Event()
    tick = tick or _noop
    cfg.out.mkdir(parents=True, exist_ok=True)
    for stale in ("model", "bundle", "dataset", "scores.db", "spool"):
        path = cfg.out / stale
        if path.exists() and any(path.iterdir() if path.is_dir() else [path]):
            raise TinyPdmError(
                f"{str(cfg.out)!r} holds an earlier demo ({stale}): choose another --out "
                "or remove it"
            )
    seconds: dict[str, float] = {}
    summary: dict[str, Any] = {"out": str(cfg.out), "store": redact_url(cfg.store)}

    def timed(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if stop.is_set():
            raise KeyboardInterrupt
        t0 = time.monotonic()
        result = fn()
        seconds[name] = round(time.monotonic() - t0, 1)
        return result

    summary["dataset"] = timed("dataset", lambda: capture_healthy(cfg, stop, tick))
    summary["model"] = timed("model", lambda: train_and_evaluate(cfg, tick))
    summary["bundle"] = timed("bundle", lambda: export_and_verify(cfg, tick))
    summary["parity_passed"] = summary["bundle"]["parity_passed"]
    fleet = timed("fleet", lambda: run_fleet(cfg, stop, tick))
    summary["fleet"] = fleet
    summary["points_stored"] = fleet["points_stored"]
    summary["alarms"] = fleet["alarms"]
    summary["faulty_sensor"] = FAULTY_SENSOR
    summary["seconds"] = seconds
    return summary


def replace(cfg: DemoConfig, **changes: Any) -> DemoConfig:
    """A copy of ``cfg`` with ``changes`` (defaults recomputed for fields set to None)."""
    return dataclasses.replace(cfg, **changes)

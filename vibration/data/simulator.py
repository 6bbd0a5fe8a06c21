"""A physics-based, streaming vibration signal of a rolling-element bearing.

The signal (``docs/simulator.md`` has the details and the reasoning) is the sum of

* shaft harmonics 1x, 2x, 3x at the current shaft speed (unbalance, misalignment);
* a structural resonance (a damped two-pole oscillator) excited by
  - bearing defect impacts: a train at BPFO (outer race), BPFI (inner race, modulated by the
    load zone once per shaft turn) or 2 x BSF (ball, alternately hitting both races,
    modulated by the load zone once per cage turn), each impact period jittered by slip,
    each impact amplitude scaled by ``severity``;
  - a weak random forcing (distributed race roughness), present in healthy bearings too;
* broadband sensor noise.

Speed and load follow slow, seeded Ornstein-Uhlenbeck random walks; defect frequencies
follow the *current* speed. The simulator works on fixed internal blocks and keeps all state
(shaft and defect phases, the time of the next impact, the resonator's state, the random
walks, the random generators) between calls, so ``generate(a)`` then ``generate(b)``
returns exactly ``generate(a + b)`` of a fresh simulator with the same seed.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from vibration.data.bearing import BearingGeometry
from vibration.validation import is_finite_real, is_int, is_integer

if TYPE_CHECKING:
    from vibration.data.dataset import Recording

__all__ = ["BearingGeometry", "BearingSimulator", "SimulatorConfig", "simulate_recording"]

Fault = Literal["none", "inner", "outer", "ball"]
_FAULTS = ("none", "inner", "outer", "ball")
_BLOCK = 1024  # samples per internal block (the chunk size never shows in the output)
_RESONANCE_MAX_FRAC = 0.3  # the resonance is kept below 0.3 * fs (features stop at 0.4 * fs)
# Per-axis sensitivity and phase (radians) of the structural paths; cycled beyond 4 axes.
_AXIS_GAIN = (1.0, 0.8, 0.55, 0.7)
_AXIS_PHASE = (0.0, 1.2, 2.3, 0.6)


def _finite(name: str, value: float, lo: float, hi: float, *, lo_open: bool = False) -> None:
    ok = is_finite_real(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name} must be in {bracket}{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that defines a simulated sensor. Defaults resemble CWRU's 0 hp normal data.

    Attributes
    ----------
    sample_rate : float
        Hz, 100 .. 1e6.
    axes : int
        1..8; axis 0 is the main (radial, load direction) axis.
    rpm : float
        Nominal shaft speed, rev/min.
    fault : {"none", "inner", "outer", "ball"}
        Which race or element carries the defect.
    severity : float
        0..1, scales the defect impacts (0 = healthy whatever ``fault``).
    seed : int
        Seeds every random source (>= 0).
    scale : float
        Physical units per LSB for :meth:`BearingSimulator.generate_int16` (16 g full scale).
    units : str
        Physical unit of the output.
    geometry : BearingGeometry
        Bearing geometry (default SKF 6205-2RS).
    resonance_hz : float
        Structural resonance excited by impacts; used as ``min(resonance_hz, 0.3 * fs)``.
    damping : float
        Damping ratio of the resonance (0, 0.5].
    noise_g : float
        RMS of broadband sensor noise per axis, g.
    roughness_g : float
        RMS of the resonance's response to random race roughness, g (healthy bearings too).
    harmonics : tuple of float
        Amplitudes (g) of the shaft harmonics 1x, 2x, 3x, ...
    fault_amplitude_g : float
        Peak of the resonance ringing from one defect impact at severity 1, g.
    speed_variation : float
        Standard deviation of the relative speed random walk (0.002 = 0.2 %).
    load_variation : float
        Standard deviation of the relative load random walk (scales impacts and harmonics).
    variation_time_s : float
        Correlation time of the speed and load random walks, seconds.
    slip : float
        Standard deviation of each impact period relative to its nominal value (0.01 = 1 %).
    impact_jitter : float
        Standard deviation of each impact's amplitude relative to its nominal value.
    """

    sample_rate: float = 12000.0
    axes: int = 1
    rpm: float = 1797.0
    fault: Fault = "none"
    severity: float = 0.0
    seed: int = 0
    scale: float = 16.0 / 32768
    units: str = "g"
    geometry: BearingGeometry = field(default_factory=BearingGeometry)
    resonance_hz: float = 3000.0
    damping: float = 0.02
    noise_g: float = 0.04
    roughness_g: float = 0.045
    harmonics: tuple[float, ...] = (0.045, 0.02, 0.006)
    fault_amplitude_g: float = 2.0
    speed_variation: float = 0.002
    load_variation: float = 0.05
    variation_time_s: float = 2.0
    slip: float = 0.01
    impact_jitter: float = 0.1

    def __post_init__(self) -> None:
        _finite("sample_rate", self.sample_rate, 100.0, 1e6)
        if not is_int(self.axes) or not 1 <= self.axes <= 8:
            raise ValueError(f"axes must be an integer in 1..8, got {self.axes!r}")
        _finite("rpm", self.rpm, 0.0, 100_000.0, lo_open=True)
        if self.fault not in _FAULTS:
            raise ValueError(f"fault must be one of {_FAULTS}, got {self.fault!r}")
        _finite("severity", self.severity, 0.0, 1.0)
        if not is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        _finite("scale", self.scale, 0.0, 1e6, lo_open=True)
        if not isinstance(self.units, str) or not self.units:
            raise ValueError(f"units must be a non-empty string, got {self.units!r}")
        if not isinstance(self.geometry, BearingGeometry):
            raise ValueError(f"geometry must be a BearingGeometry, got {self.geometry!r}")
        _finite("resonance_hz", self.resonance_hz, 0.0, 1e6, lo_open=True)
        _finite("damping", self.damping, 0.0, 0.5, lo_open=True)
        _finite("noise_g", self.noise_g, 0.0, 1e3)
        _finite("roughness_g", self.roughness_g, 0.0, 1e3)
        if not isinstance(self.harmonics, tuple) or len(self.harmonics) > 16:
            raise ValueError(
                f"harmonics must be a tuple of <= 16 amplitudes, got {self.harmonics!r}"
            )
        for amp in self.harmonics:
            _finite("each harmonic amplitude", amp, 0.0, 1e3)
        _finite("fault_amplitude_g", self.fault_amplitude_g, 0.0, 1e4)
        _finite("speed_variation", self.speed_variation, 0.0, 0.2)
        _finite("load_variation", self.load_variation, 0.0, 0.5)
        _finite("variation_time_s", self.variation_time_s, 0.0, 1e6, lo_open=True)
        _finite("slip", self.slip, 0.0, 0.1)
        _finite("impact_jitter", self.impact_jitter, 0.0, 0.5)

    @property
    def shaft_hz(self) -> float:
        """Nominal shaft speed in Hz."""
        return self.rpm / 60.0

    @property
    def effective_resonance_hz(self) -> float:
        """The resonance actually simulated: ``min(resonance_hz, 0.3 * sample_rate)``."""
        return min(self.resonance_hz, _RESONANCE_MAX_FRAC * self.sample_rate)

    def fault_frequencies(self) -> dict[str, float]:
        """Defect frequencies at the nominal speed (:meth:`BearingGeometry.fault_frequencies`)."""
        return self.geometry.fault_frequencies(self.shaft_hz)


def _load_zone(angle: float) -> float:
    """Relative impact strength at an angle (radians) from the centre of the load zone."""
    c = math.cos(angle)
    return 0.25 + 0.75 * (c**1.5 if c > 0 else 0.0)


class BearingSimulator:
    """Stream a bearing's vibration, block by block, reproducibly.

    Parameters
    ----------
    config : SimulatorConfig

    Examples
    --------
    >>> sim = BearingSimulator(SimulatorConfig(fault="outer", severity=0.5, seed=1))
    >>> x = sim.generate(12000)          # one second, float64 (12000, 1), g
    >>> q = sim.generate_int16(1024)     # the next 1024 samples as int16 codes
    """

    def __init__(self, config: SimulatorConfig) -> None:
        if not isinstance(config, SimulatorConfig):
            raise ValueError(f"config must be a SimulatorConfig, got {config!r}")
        self.config = config
        fs = config.sample_rate
        streams = np.random.SeedSequence(config.seed).spawn(5)
        self._rng_walk = np.random.default_rng(streams[0])
        self._rng_impact = np.random.default_rng(streams[1])
        self._rng_rough = np.random.default_rng(streams[2])
        self._rng_noise = np.random.default_rng(streams[3])
        rng_init = np.random.default_rng(streams[4])

        # Defect kinematics: cycles of the impact train and of the modulating rotation,
        # per shaft revolution.
        per_rev = config.geometry.fault_frequencies(1.0)
        self._impact_ratio = {
            "none": 0.0,
            "outer": per_rev["bpfo"],
            "inner": per_rev["bpfi"],
            "ball": 2.0 * per_rev["bsf"],
        }[config.fault]
        self._cage_ratio = per_rev["ftf"]
        self._severity = float(config.severity)
        self._impact_amp = self._severity * config.fault_amplitude_g

        # Resonator: poles r e^{+-jw}; numerator per axis gives g r^n sin((n+1) w + phi).
        f_r = config.effective_resonance_hz
        w = 2 * math.pi * f_r / fs
        r = math.exp(-config.damping * w)
        self._a = np.array([1.0, -2 * r * math.cos(w), r * r])
        self._b: list[np.ndarray] = []
        for k in range(config.axes):
            gain, phi = _AXIS_GAIN[k % 4], _AXIS_PHASE[k % 4] + 0.37 * (k // 4)
            self._b.append(gain * np.array([math.sin(w + phi), -r * math.sin(phi)]))
        # Energy of the unit impulse response (axis 0) -> roughness forcing level.
        n = np.arange(int(40 / max(1e-9, 1 - r)) + 64)
        h = r**n * np.sin((n + 1) * w)
        self._rough_in = config.roughness_g / math.sqrt(float(np.sum(h * h)))
        self._zi = [np.zeros(2) for _ in range(config.axes)]

        # Slow random walks (Ornstein-Uhlenbeck), one step per block.
        dt = _BLOCK / fs
        self._walk_a = math.exp(-dt / config.variation_time_s)
        self._walk_sd = np.array([config.speed_variation, config.load_variation])
        self._walk = np.zeros(2)  # relative speed and load deviations at the block start

        # Phases in cycles: shaft, impact train, cage. Next impact at this impact-cycle count.
        self._shaft = float(rng_init.uniform())
        self._train = 0.0
        self._cage = float(rng_init.uniform())
        self._next_impact = float(rng_init.uniform())
        self._impacts = 0  # impacts so far (ball faults alternate races)
        self._carry = 0.0  # impulse share spilling into the next block's first sample
        self._harm_phase = [
            (float(rng_init.uniform(0, 2 * math.pi)), float(rng_init.uniform(0, 2 * math.pi)))
            for _ in config.harmonics
        ]
        self._buffer = np.empty((0, config.axes))
        self._produced = 0

    @property
    def samples_generated(self) -> int:
        """Samples per axis returned so far."""
        return self._produced

    @property
    def severity(self) -> float:
        """The fault severity in force now (0..1)."""
        return self._severity

    def set_severity(self, severity: float) -> None:
        """Change the fault severity for the samples not yet generated: a developing fault.

        Takes effect at the next internal block (a few hundred samples), so a slow ramp
        is smooth. The fault kind stays the one of the configuration.
        """
        _finite("severity", severity, 0.0, 1.0)
        self._severity = float(severity)
        self._impact_amp = self._severity * self.config.fault_amplitude_g

    def generate(self, n: int) -> np.ndarray:
        """The next ``n`` samples in physical units.

        Parameters
        ----------
        n : int
            Samples per axis, >= 0.

        Returns
        -------
        ndarray of float64, shape (n, axes)
        """
        if not is_integer(n) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        n = int(n)
        blocks = [self._buffer]
        have = len(self._buffer)
        while have < n:
            block = self._block()
            blocks.append(block)
            have += len(block)
        data = np.concatenate(blocks) if len(blocks) > 1 else self._buffer
        out, self._buffer = data[:n], data[n:]
        self._produced += n
        return np.array(out, dtype=np.float64, copy=True)

    def generate_int16(self, n: int) -> np.ndarray:
        """The next ``n`` samples as int16 codes: ``round(x / scale)``, clipped.

        Returns
        -------
        ndarray of int16, shape (n, axes)
        """
        x = self.generate(n)
        return np.clip(np.rint(x / self.config.scale), -32768, 32767).astype(np.int16)

    # ------------------------------------------------------------------ internals

    def _block(self) -> np.ndarray:
        cfg = self.config
        fs = cfg.sample_rate
        m = _BLOCK

        # Slow variations: linear between this block's start and end values (no steps).
        start = self._walk.copy()
        step = self._rng_walk.standard_normal(2)
        self._walk = start * self._walk_a + math.sqrt(1 - self._walk_a**2) * self._walk_sd * step
        ramp = np.arange(m) / m
        speed = 1.0 + start[0] + (self._walk[0] - start[0]) * ramp
        load = np.maximum(0.1, 1.0 + start[1] + (self._walk[1] - start[1]) * ramp)

        # Shaft revolutions at each sample (cycles, relative to the block start).
        inc = cfg.shaft_hz * speed / fs
        rev = np.empty(m + 1)
        rev[0] = 0.0
        np.cumsum(inc, out=rev[1:])
        shaft = self._shaft + rev  # absolute shaft cycles at samples 0..m

        excitation = np.zeros(m + 1)
        excitation[0] = self._carry
        if self._impact_amp > 0 and self._impact_ratio > 0:
            self._add_impacts(excitation, rev, shaft, load)
        self._carry = float(excitation[m])

        rough = self._rng_rough.standard_normal(m) * self._rough_in
        forcing = excitation[:m] + rough

        out = np.empty((m, cfg.axes))
        harmonic = np.zeros(m)
        phase = 2 * math.pi * shaft[:m]
        for k, axis_b in enumerate(self._b):
            ringing, self._zi[k] = _resonate(axis_b, self._a, forcing, self._zi[k])
            harmonic[:] = 0.0
            gain = _AXIS_GAIN[k % 4]
            for h, amp in enumerate(cfg.harmonics, start=1):
                if amp > 0:
                    phi = self._harm_phase[h - 1][0] + k * self._harm_phase[h - 1][1]
                    harmonic += amp * np.sin(h * phase + phi)
            out[:, k] = ringing + gain * load * harmonic
        out += self._rng_noise.standard_normal((m, cfg.axes)) * cfg.noise_g

        # Carry phases, reduced to [0, 1) cycles to keep precision.
        self._shaft = float(shaft[m] % 1.0)
        train_end = self._train + self._impact_ratio * rev[m]
        whole = math.floor(train_end)
        self._train = train_end - whole
        self._next_impact -= whole
        self._cage = float((self._cage + self._cage_ratio * rev[m]) % 1.0)
        return out

    def _add_impacts(
        self, excitation: np.ndarray, rev: np.ndarray, shaft: np.ndarray, load: np.ndarray
    ) -> None:
        """Place this block's defect impacts (fractional sample times) into ``excitation``."""
        cfg = self.config
        m = _BLOCK
        train = self._train + self._impact_ratio * rev  # impact cycles at samples 0..m
        end = train[m]
        if self._next_impact < train[0]:
            # Impacts were off (severity 0) and the fault now starts: resume at the next
            # impact cycle instead of replaying the missed ones.
            self._next_impact = train[0] + (self._next_impact - train[0]) % 1.0
        while self._next_impact < end:
            target = self._next_impact
            j = int(np.searchsorted(train, target, side="right"))  # train[j-1] <= target < ...
            j = max(1, min(j, m))
            frac = (target - train[j - 1]) / (train[j] - train[j - 1])
            pos = j - 1 + frac  # fractional sample index of the impact
            rev_at = rev[j - 1] + frac * (rev[j] - rev[j - 1])
            if cfg.fault == "inner":
                # The defect turns with the shaft through the load zone once per revolution.
                zone = _load_zone(2 * math.pi * (self._shaft + rev_at))
                race = 1.0
            elif cfg.fault == "ball":
                # The ball (with the cage) passes the load zone once per cage turn; its defect
                # hits outer and inner race in turn, the inner hit reaching the sensor weaker.
                zone = _load_zone(2 * math.pi * (self._cage + self._cage_ratio * rev_at))
                race = 1.0 if self._impacts % 2 == 0 else 0.6
            else:
                zone, race = 1.0, 1.0  # outer race defect fixed in the load zone
            jitter = 1.0 + cfg.impact_jitter * float(
                np.clip(self._rng_impact.standard_normal(), -3, 3)
            )
            amp = self._impact_amp * zone * race * jitter * load[min(j - 1, m - 1)]
            i = int(pos)
            share = pos - i
            excitation[i] += amp * (1 - share)
            excitation[i + 1] += amp * share
            slip = cfg.slip * float(np.clip(self._rng_impact.standard_normal(), -3, 3))
            self._next_impact = target + 1.0 + slip
            self._impacts += 1


def _resonate(
    b: np.ndarray, a: np.ndarray, x: np.ndarray, zi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two-pole IIR (direct form II transposed) with state carried between blocks."""
    from scipy.signal import lfilter  # scipy.signal is slow to import: only when simulating

    y, zf = lfilter(b, a, x, zi=zi)
    return np.asarray(y), np.asarray(zf)


def simulate_recording(
    dataset_dir: str | os.PathLike[str],
    name: str,
    config: SimulatorConfig,
    seconds: float,
    *,
    label: str | None = None,
) -> Recording:
    """Write ``seconds`` of simulated signal as a recording (int16 at ``config.scale``).

    Parameters
    ----------
    dataset_dir : path
    name : str
        Recording name.
    config : SimulatorConfig
    seconds : float
        Duration, > 0.
    label : str, optional
        Defaults to ``"normal"`` when healthy (fault "none" or severity 0), else the fault.

    Returns
    -------
    Recording
        Complete; ``source`` is ``"simulator"`` and ``extra`` holds the whole config.
    """
    from vibration.data.dataset import RecordingWriter, open_recording

    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
    if label is None:
        label = "normal" if config.fault == "none" or config.severity == 0 else config.fault
    total = max(1, round(seconds * config.sample_rate))
    sim = BearingSimulator(config)
    settings = asdict(config)
    settings["harmonics"] = list(config.harmonics)
    extra = {"rpm": config.rpm, "simulator": settings}
    writer = RecordingWriter(
        dataset_dir,
        name,
        sample_rate=config.sample_rate,
        axes=config.axes,
        scale=config.scale,
        units=config.units,
        label=label,
        sensor_id=f"sim-{config.seed}",
        source="simulator",
        extra=extra,
    )
    try:
        done = 0
        while done < total:
            n = min(65536, total - done)
            writer.append(sim.generate_int16(n))
            done += n
        path = writer.close()
    except BaseException:
        writer.abort()
        raise
    return open_recording(path)

"""Accuracy of the tachless speed estimator on the shared data sets (docs/features.md).

``python -m bench.speed_accuracy [DATA_DIR]`` (default ``/work/shared/data``) prints, per
recording, the median and 95th percentile of the relative error of the reported speed
(the running median, after warm-up) against

* UESTC: the nominal rpm of the file name and the 1x line of the whole file's spectrum
  (the strongest peak within +-15 % of nominal; the rig's nominal speed is off by up to
  7 %);
* CWRU: the manifest rpm (the rig's tachometer), generic 300-3600 rpm search and the
  nameplate range of its 4-pole 60 Hz motor (900-1860 rpm);
* FEMTO: the test rig's nominal speed; its 0.1 s snapshots are shorter than one buffer,
  so the estimator never reports on a single snapshot (NaN); this table runs it over
  snapshots concatenated in time order, which is NOT what the device sees.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from vibration.learning.features import FeatureConfig
from vibration.learning.speed import SpeedConfig, speed_track


def _errors(
    x: np.ndarray, fs: float, rpm_ref: float, speed: SpeedConfig
) -> tuple[float, float, int]:
    config = FeatureConfig.for_rate(fs)
    _, _, reported = speed_track(x, config, speed)
    rep = reported[np.isfinite(reported)]
    if rep.size == 0:
        return float("nan"), float("nan"), 0
    err = np.abs(rep / rpm_ref - 1.0) * 100.0
    return float(np.median(err)), float(np.percentile(err, 95)), int(rep.size)


def _line_1x(x: np.ndarray, fs: float, rpm_nom: float) -> float:
    n = x.shape[0]
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(n)))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    sel = np.abs(f - rpm_nom / 60.0) < 0.15 * rpm_nom / 60.0
    return float(f[sel][np.argmax(spec[sel])] * 60.0)


def main(root: Path) -> None:
    import scipy.io

    speed = SpeedConfig()
    print("## UESTC (20 kHz, generic 300-3600 rpm)")
    print("| file | nominal | 1x line | median % vs nominal | p95 | median % vs 1x | p95 | n |")
    for f in sorted((root / "uestc").glob("*.mat")):
        x = np.asarray(scipy.io.loadmat(f)["Data"], dtype=np.float64).ravel()
        nom = float(f.stem.split("_")[1])
        line = _line_1x(x, 20000.0, nom)
        m1, p1, n = _errors(x, 20000.0, nom, speed)
        m2, p2, _ = _errors(x, 20000.0, line, speed)
        cells = f"{m1:.2f} | {p1:.2f} | {m2:.2f} | {p2:.2f} | {n}"
        print(f"| {f.stem} | {nom:.0f} | {line:.0f} | {cells} |")

    print("\n## CWRU (drive end; manifest rpm)")
    print("| file | rpm | fs | generic median % | p95 | nameplate 900-1860 median % | p95 |")
    nameplate = SpeedConfig(rpm_min=900.0, rpm_max=1860.0)
    with open(root / "cwru" / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        m = scipy.io.loadmat(root / "cwru" / r["file"])
        key = next(k for k in m if k.endswith("_DE_time"))
        x = np.asarray(m[key], dtype=np.float64).ravel()
        fs, rpm = float(r["fs_hz"]), float(r["rpm"])
        m1, p1, _ = _errors(x, fs, rpm, speed)
        m2, p2, _ = _errors(x, fs, rpm, nameplate)
        print(f"| {r['file']} | {rpm:.0f} | {fs:.0f} | {m1:.2f} | {p1:.2f} | {m2:.2f} | {p2:.2f} |")

    print("\n## FEMTO (25.6 kHz, 0.1 s snapshots concatenated: not the device's view)")
    print("| bearing | nominal | median % | p95 | n |")
    for f in sorted((root / "femto").glob("*.npz")):
        z = np.load(f, allow_pickle=False)
        x = np.asarray(z["horiz"], dtype=np.float64).reshape(-1)
        nom = {"1": 1800.0, "2": 1650.0, "3": 1500.0}[f.stem[7]]
        m1, p1, n = _errors(x, 25600.0, nom, speed)
        print(f"| {f.stem} | {nom:.0f} | {m1:.2f} | {p1:.2f} | {n} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data"))

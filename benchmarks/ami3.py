"""calwebb_ami3 from raw ramps: calibrated closure phases of a point source, binary recovery, and time.

Runs the chain of tests/streamcal/pipelines/test_ami3_chain.py (NIS_AMI raw ramps → calwebb_detector1 →
calwebb_image2 → calwebb_ami3) over several noise seeds and prints what the tests assert on:

    .venv/bin/python -m benchmarks.ami3

Point source: the reduced χ² of its 35 normalised closure phases against 0 with their errors (issue: 0.5–2;
35 closure phases hold 15 independent ones, so one seed scatters by ≈ ±0.4), the same for the raw (uncalibrated)
closure phases, and the worst |V² − 1| after calibration. Binaries: separation, PA and contrast fitted to the
normalised V² and closure phases (``streamcal.kernels.ami.fit_binary`` with ``hole_diameter``: modelling how the
fringe fit's envelope sees the companion) against the injected ones (issue: 5 % / 2° / 10 %), and the contrast
error without that model. Time: ami_analyze seconds per integration (SUB80). There is no jwst baseline offline (its
ami_analyze needs the CRDS ``nrm`` and ``throughput`` references), so the figures are absolute.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from stdatamodels.jwst import datamodels as dm

from streamcal.datamodels import read_header
from streamcal.kernels.ami import HOLE_DIAMETER, fit_binary
from streamcal.simulate.ami import AmiBinary
from tests.streamcal.pipelines.test_ami3_chain import associate, run_ami3, simulate_calints

SEEDS = (1, 2, 3, 4, 5)
NINTS = 12
BINARIES = (AmiBinary(separation_mas=200.0, pa_deg=60.0, contrast=0.1),
            AmiBinary(separation_mas=150.0, pa_deg=200.0, contrast=0.05),
            AmiBinary(separation_mas=300.0, pa_deg=330.0, contrast=0.2))


def _open(products: tuple[Path, ...], suffix: str) -> dm.AmiOIModel:
    [path] = [p for p in products if p.name.endswith(f"_{suffix}.fits")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dm.open(path)


def main() -> None:
    rows, fits, per_int = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEEDS:
            root = Path(tmp) / f"seed{seed}"
            cal, _ = simulate_calints(root, exposure=9, is_psf=True, binary=None, seed=100 + seed, nints=NINTS)
            for n, binary in enumerate((None, *BINARIES)):
                science, truth = simulate_calints(root, exposure=n + 1, is_psf=False, binary=binary,
                                                  seed=200 + 10 * seed + n, nints=NINTS)
                asn = associate([science, cal], f"case{n}")
                started = time.perf_counter()
                result = run_ami3(asn, root / "refs", root / f"case{n}")
                per_int.append((time.perf_counter() - started) / (2 * NINTS))
                with _open(result.products, "aminorm-oi") as norm, _open(result.products, "ami-oi") as raw:
                    cp, err = np.asarray(norm.t3["T3PHI"]), np.asarray(norm.t3["T3PHIERR"])
                    if binary is None:
                        raw_chi2 = float(np.mean((raw.t3["T3PHI"] / raw.t3["T3PHIERR"]) ** 2))
                        rows.append((seed, float(np.mean((cp / err) ** 2)), raw_chi2,
                                     float(np.max(np.abs(norm.vis2["VIS2DATA"] - 1.0)))))
                        continue
                    v2, t3 = norm.vis2, norm.t3
                    columns = (v2["VIS2DATA"], v2["VIS2ERR"], v2["UCOORD"], v2["VCOORD"], cp, err,
                               t3["U1COORD"], t3["V1COORD"], t3["U2COORD"], t3["V2COORD"])
                    wavelength = float(norm.wavelength["EFF_WAVE"][0])
                    fit = fit_binary(*columns, wavelength=wavelength, hole_diameter=HOLE_DIAMETER)
                    seen = fit_binary(*columns, wavelength=wavelength).contrast
                head = read_header(truth)
                fits.append((seed, head, fit, seen))
    print(f"point source, {NINTS} integrations per exposure (target and calibrator)")
    print(f"{'seed':>4s} {'χ²r cal':>8s} {'χ²r raw':>8s} {'max|V²-1|':>9s}")
    for seed, chi2, raw_chi2, v2 in rows:
        print(f"{seed:4d} {chi2:8.2f} {raw_chi2:8.1f} {v2:9.4f}")
    chi = np.array([r[1] for r in rows])
    print(f"mean χ²r {chi.mean():.2f}, in 0.5–2: {int(np.sum((chi >= 0.5) & (chi <= 2.0)))}/{chi.size}")
    print("\nbinaries (normalised V² and closure phases)")
    print(f"{'seed':>4s} {'sep':>5s} {'PA':>5s} {'c':>5s} {'sep err':>8s} {'PA err':>7s} {'c err':>7s} {'χ²r':>6s} "
          f"{'c err, no envelope model':>24s}")
    worst = np.zeros(3)
    for seed, head, fit, seen in fits:
        errs = (fit.separation_mas / head["BINSEP"] - 1.0, (fit.pa_deg - head["BINPA"] + 180.0) % 360.0 - 180.0,
                fit.contrast / head["BINCON"] - 1.0)
        worst = np.maximum(worst, np.abs(errs))
        print(f"{seed:4d} {head['BINSEP']:5.0f} {head['BINPA']:5.0f} {head['BINCON']:5.2f} {errs[0]:8.2%} "
              f"{errs[1]:7.2f} {errs[2]:7.2%} {fit.chi2_reduced:6.2f} {seen / head['BINCON'] - 1.0:24.2%}")
    print(f"worst: separation {worst[0]:.2%}, PA {worst[1]:.2f}°, contrast {worst[2]:.2%} (issue: 5 % / 2° / 10 %)")
    print(f"\nami3 seconds per integration (SUB80, analyze + normalize + write): median {np.median(per_int):.3f}")


if __name__ == "__main__":
    main()

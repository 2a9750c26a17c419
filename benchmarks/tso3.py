"""calwebb_tso3: the transit recovered from raw ramps, against the injected one and the photon-noise limit.

Runs the chain of tests/streamcal/pipelines/test_tso3_chain.py (a TSO exposure in two segments with a 1 %
limb-darkened transit → calwebb_detector1 → calwebb_image2/spec2 → a tso3 association by the header rules →
calwebb_tso3) for NRC_TSIMAGE (``_phot.ecsv``) and NRS_BRIGHTOBJ (``_whtlt.ecsv``), several noise seeds each, and
fits each light curve with the simulator's model (duration, impact parameter, limb darkening fixed):

    .venv/bin/python -m benchmarks.tso3

Columns: seed, integrations, fitted depth ± 1σ (ppm) and its distance from the truth in σ, the mid-time error and
its 1σ (s), the reduced χ², the per-integration scatter of the residuals against the photon-noise limit
``1/sqrt(electrons collected first to last read in the aperture, source + sky)`` (ppm, and their ratio), the
depth error that limit would allow, and seconds of calwebb_tso3 alone. Then the pull distribution over the seeds,
and a chromatic transit (NRS_BRIGHTOBJ, depth slope 0.002 per µm): the depths of four wavelength bins of the
``_x1dints`` against the injected ones, and the slope fitted to them.
No jwst baseline offline (CRDS references), so the figures are absolute.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from streamcal.simulate.transit import Transit
from tests.streamcal.pipelines.test_tso3_chain import CASES, run_chain, score, spectral_depths

SEEDS = (40, 140, 240, 340, 440)


def main() -> None:
    print(f"{'EXP_TYPE':14s} {'seed':>4s} {'N':>3s} {'depth ppm':>17s} {'Δ/σ':>6s} {'Δt0 s':>7s} {'σt0 s':>6s} "
          f"{'χ²ν':>5s} {'rms ppm':>8s} {'photon':>7s} {'ratio':>6s} {'σ_ph ppm':>8s} {'tso3 s':>6s}")
    with tempfile.TemporaryDirectory() as tmp:
        for exp_type, (nints, ngroups, brightness) in CASES.items():
            pulls = []
            for seed in SEEDS:
                chain = run_chain(Path(tmp) / f"{exp_type.lower()}-{seed}", exp_type, nints, ngroups, brightness,
                                  seed=seed)
                f = score(chain)
                pulls.append(f["pull"])
                print(f"{exp_type:14s} {seed:4d} {int(f['nints']):3d} {f['depth'] * 1e6:8.0f} ± "
                      f"{f['depth_err'] * 1e6:6.0f} {f['pull']:+6.2f} {f['t0_error_s']:+7.3f} {f['t0_err_s']:6.3f} "
                      f"{f['chi2']:5.2f} {f['scatter_ppm']:8.0f} {f['photon_ppm']:7.0f} "
                      f"{f['scatter_ppm'] / f['photon_ppm']:6.2f} {f['photon_depth_err'] * 1e6:8.0f} "
                      f"{chain.result.seconds:6.2f}")
            print(f"{exp_type:14s} depth pulls over {len(SEEDS)} seeds: mean {np.mean(pulls):+.2f}, "
                  f"std {np.std(pulls):.2f} (truth {chain.transit['DEPTH'] * 1e6:.0f} ppm, T14 "
                  f"{chain.transit['T14_S']:.1f} s, u1 {chain.transit['LD_U1']}, u2 {chain.transit['LD_U2']})")
        chromatic(Path(tmp) / "chromatic")


def chromatic(root: Path) -> None:
    """The chromatic section (module docstring)."""
    nints, ngroups, brightness = CASES["NRS_BRIGHTOBJ"]
    slope = 0.002
    chain = run_chain(root, "NRS_BRIGHTOBJ", nints, ngroups, brightness, transit=Transit(depth_slope=slope))
    wave, depth, err = spectral_depths(chain, 4)
    truth = chain.transit["DEPTH"] + slope * (wave - chain.transit["WAVEREF"])
    print(f"\nchromatic transit, NRS_BRIGHTOBJ, depth {chain.transit['DEPTH'] * 1e6:.0f} ppm at "
          f"{chain.transit['WAVEREF']} µm + {slope * 1e6:.0f} ppm/µm")
    print(f"{'λ µm':>6s} {'depth ppm':>17s} {'truth':>6s} {'Δ/σ':>6s}")
    for w, d, e, t in zip(wave, depth, err, truth, strict=True):
        print(f"{w:6.3f} {d * 1e6:8.0f} ± {e * 1e6:6.0f} {t * 1e6:6.0f} {(d - t) / e:+6.2f}")
    coeffs, cov = np.polyfit(wave, depth, 1, w=1 / err, cov="unscaled")
    print(f"fitted slope {coeffs[0] * 1e6:.0f} ± {np.sqrt(cov[0, 0]) * 1e6:.0f} ppm/µm (injected {slope * 1e6:.0f})")


if __name__ == "__main__":
    main()

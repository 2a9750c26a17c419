"""calwebb_spec3 on the single-trace modes: accuracy of the combined spectrum against the injected one, its depth
against a single member's, outlier rejection, and time.

Runs the sets of tests/streamcal/pipelines/test_spec3_chain.py (raw ramps → calwebb_detector1 → calwebb_spec2 →
an association by the header rules → calwebb_spec3) and prints per EXP_TYPE what the tests assert on:

    .venv/bin/python -m benchmarks.spec3

Columns: members, the share of the band at S/N > 50 with a complete aperture, median flux / truth there, pull
width (statistical errors), worst emission-line offset in resolution elements (2 px), the combined x1d's median
S/N over the members' (expected √N), the c1d's flux / truth and pull width, and seconds of calwebb_spec3 alone.
Then the outlier test on the NRS_FIXEDSLIT set: a cosmic ray in one member's ``_cal``, the combined flux's pull
against truth there with and without outlier_detection.

Then the IFU sets of tests/streamcal/pipelines/test_spec3_ifu.py (MIR_MRS and NRS_IFU, a 4-point dither of
half-pixel and half-slice steps, raw → detector1 → spec2 → association → spec3's combined cube and x1d): the same
columns, the source found in the combined cube minus the truth (spaxels, alpha and beta), and the outlier test
on each (a hit of 20× the PSF core on three pixels of one member's ``_cal``; the pixels flagged with and without
it). No jwst baseline offline (CRDS references), so the figures are absolute.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from tests.streamcal.pipelines import test_spec3_ifu as ifu3
from tests.streamcal.pipelines.test_spec3_chain import SETS, outlier_figures, score, score_c1d, simulate_set


def main() -> None:
    print(f"{'EXP_TYPE':18s} {'N':>2s} {'S/N>50':>7s} {'flux/true':>9s} {'pull std':>8s} {'line off':>8s} "
          f"{'S/N gain':>8s} {'√N':>5s} {'c1d f/t':>8s} {'c1d pull':>8s} {'spec3 s':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        nrs = None
        for exp_type, (ngroups, brightness, n) in SETS.items():
            chain = simulate_set(Path(tmp) / exp_type.lower(), exp_type, ngroups, brightness, n)
            nrs = chain if exp_type == "NRS_FIXEDSLIT" else nrs
            f = score(chain.result.product("x1d"), chain.truth, chain.lines)
            single = float(np.mean([score(x, chain.truth, chain.lines)["median_snr"] for x in chain.member_x1d]))
            c = score_c1d(chain)
            print(f"{exp_type:18s} {n:2d} {f['snr50']:7.1%} {f['flux_ratio']:9.4f} {f['pull_std']:8.3f} "
                  f"{f['line_offset_resel']:8.3f} {f['median_snr'] / single:8.3f} {np.sqrt(n):5.3f} "
                  f"{c['flux_ratio']:8.4f} {c['pull_std']:8.3f} {chain.result.seconds:7.2f}")
        assert nrs is not None
        o = outlier_figures(nrs, Path(tmp) / "outlier")
        print(f"\noutlier_detection (NRS_FIXEDSLIT, 3 members, a 3-pixel hit of 20x the trace core in one): "
              f"{int(o['n_flagged'])} pixels flagged; combined flux there {o['pull_with']:+.2f} σ from truth with it, "
              f"{o['pull_without']:+.1f} σ without")
        ifu_sets(Path(tmp) / "ifu")


def ifu_sets(tmp: Path) -> None:
    """The IFU section (module docstring)."""
    print(f"\n{'EXP_TYPE':10s} {'N':>2s} {'S/N>50':>7s} {'flux/true':>9s} {'pull std':>8s} {'line off':>8s} "
          f"{'S/N gain':>8s} {'√N':>5s} {'src Δα':>7s} {'src Δβ':>7s} {'spec3 s':>7s}")
    outliers = {}
    for exp_type, (ngroups, brightness) in ifu3.SETS.items():
        ifu = ifu3.simulate_set(tmp / exp_type.lower(), exp_type, ngroups, brightness)
        f = ifu3.score(ifu.result.product("x1d"), ifu.spectrum)
        single = float(np.mean([ifu3.score(x, ifu.spectrum)["median_snr"] for x in ifu.member_x1d]))
        da, db = ifu3.source_offset(ifu)
        n = len(ifu.cals)
        print(f"{exp_type:10s} {n:2d} {f['snr50']:7.1%} {f['flux_ratio']:9.4f} {f['pull_std']:8.3f} "
              f"{f['line_offset_resel']:8.3f} {f['median_snr'] / single:8.3f} {np.sqrt(n):5.3f} {da:+7.3f} {db:+7.3f} "
              f"{ifu.result.seconds:7.2f}")
        outliers[exp_type] = ifu3.outlier_figures(ifu, tmp / f"{exp_type.lower()}_outlier")
    for exp_type, o in outliers.items():
        print(f"outlier_detection ({exp_type}, 4 members, a 3-pixel hit of 20x the PSF core in one): "
              f"{int(o['n_flagged'])} pixels flagged ({int(o['n_flagged_clean'])} without the hit); combined flux "
              f"there {o['pull_with']:+.2f} σ from truth with it, {o['pull_without']:+.1f} σ without")


if __name__ == "__main__":
    main()

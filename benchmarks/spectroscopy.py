"""calwebb_spec2 on every single-trace mode: accuracy of the x1d against the injected spectrum, and time.

Runs the cases of tests/streamcal/pipelines/test_spectral_chain.py (raw ramps → calwebb_detector1 →
calwebb_spec2 → x1d) and prints per EXP_TYPE what the tests assert on:

    .venv/bin/python -m benchmarks.spectroscopy

Columns: the share of the band at S/N > 50 with a complete aperture, median flux / truth there, the pull width
(statistical errors), the worst emission-line centre offset in resolution elements (2 px), the points of the
spectrum and seconds for simulation + detector1 + spec2. There is no jwst baseline offline (its spec2 steps
need CRDS references), so the figures are absolute.

The time-series table runs the TSOVISIT=T cases (``_rateints`` → ``_calints``/``_x1dints``): the worst
integration's median flux / (truth × light curve), the pull width over all integrations, and the white-light
transit depth against the injected 1 % with its error.

The IFU table runs the cases of tests/streamcal/pipelines/test_ifu_chain.py (→ ``_s3d`` → x1d from the cube) at
the tests' small size and at full frame (NRS_IFU: all 30 slices): the worst wavelength error of the ``_cal``'s
pixels (px), then the columns above, a point being a cube plane.

The MOS table runs the case of tests/streamcal/pipelines/test_mos_chain.py (NRS_MSASPEC, six 1×3 slitlets on
NRS1, five sources and an empty one; MSA metadata → MultiSlitModel ``_cal``/``_s2d`` → an x1d per source) at the
tests' small size (ALLSLITS, 10 groups) and at full frame (5 groups): per source the worst wavelength error (px),
then the columns above; seconds are per exposure.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.streamcal.pipelines.test_ifu_chain import CASES as IFU_CASES
from tests.streamcal.pipelines.test_ifu_chain import run_case as run_ifu_case
from tests.streamcal.pipelines.test_ifu_chain import score as ifu_score
from tests.streamcal.pipelines.test_mos_chain import NGROUPS as MOS_NGROUPS
from tests.streamcal.pipelines.test_mos_chain import run_case as run_mos_case
from tests.streamcal.pipelines.test_mos_chain import score as mos_score
from tests.streamcal.pipelines.test_spectral_chain import (
    CASES,
    TSO_CASES,
    TSO_NINTS,
    run_case,
    run_tso_case,
    score,
    tso_score,
)


def main() -> None:
    print(f"{'EXP_TYPE':18s} {'S/N>50':>7s} {'flux/true':>9s} {'pull std':>8s} {'line off':>8s} {'points':>6s} "
          f"{'seconds':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for exp_type, (ngroups, brightness) in CASES.items():
            started = time.perf_counter()
            case = run_case(Path(tmp) / exp_type.lower(), exp_type, ngroups, brightness)
            seconds = time.perf_counter() - started
            f = score(case)
            print(f"{exp_type:18s} {f['snr50']:7.1%} {f['flux_ratio']:9.4f} {f['pull_std']:8.3f} "
                  f"{f['line_offset_resel']:8.3f} {int(f['points']):6d} {seconds:7.1f}")
        print(f"\ntime series ({TSO_NINTS} integrations)")
        print(f"{'EXP_TYPE':18s} {'S/N>50':>7s} {'worst int':>9s} {'pull std':>8s} {'depth':>8s} {'± σ':>8s} "
              f"{'true':>6s} {'seconds':>7s}")
        for exp_type, (ngroups, brightness) in TSO_CASES.items():
            started = time.perf_counter()
            tso = run_tso_case(Path(tmp) / f"{exp_type.lower()}_tso", exp_type, ngroups, brightness)
            seconds = time.perf_counter() - started
            t = tso_score(tso)
            print(f"{exp_type:18s} {t['snr50']:7.1%} {t['worst_ratio']:9.4f} {t['pull_std']:8.3f} "
                  f"{t['depth']:8.5f} {t['depth_err']:8.5f} {t['true_depth']:6.3f} {seconds:7.1f}")
        print("\nIFU (cube → x1d)")
        print(f"{'EXP_TYPE':18s} {'size':>5s} {'wave px':>7s} {'S/N>50':>7s} {'flux/true':>9s} {'pull std':>8s} "
              f"{'line off':>8s} {'points':>6s} {'seconds':>7s}")
        for exp_type, (ngroups, brightness) in IFU_CASES.items():
            for size in ("small", "full"):
                started = time.perf_counter()
                ifu = run_ifu_case(Path(tmp) / f"{exp_type.lower()}_{size}", exp_type, ngroups, brightness,
                                   size=size)
                seconds = time.perf_counter() - started
                g = ifu_score(ifu)
                print(f"{exp_type:18s} {size:>5s} {g['wave_error_px']:7.3f} {g['snr50']:7.1%} {g['flux_ratio']:9.4f} "
                      f"{g['pull_std']:8.3f} {g['line_offset_resel']:8.3f} {int(g['points']):6d} {seconds:7.1f}")
        print("\nMOS (NRS_MSASPEC, one x1d spectrum per source)")
        print(f"{'SOURCEID':18s} {'size':>5s} {'wave px':>7s} {'S/N>50':>7s} {'flux/true':>9s} {'pull std':>8s} "
              f"{'line off':>8s} {'points':>6s} {'seconds':>7s}")
        for size, ngroups in (("small", MOS_NGROUPS), ("full", 5)):
            started = time.perf_counter()
            mos = run_mos_case(Path(tmp) / f"mos_{size}", ngroups=ngroups, size=size)
            seconds = time.perf_counter() - started
            for source_id, m in sorted(mos_score(mos).items()):
                print(f"{'NRS_MSASPEC ' + str(source_id):18s} {size:>5s} {m['wave_error_px']:7.3f} {m['snr50']:7.1%} "
                      f"{m['flux_ratio']:9.4f} {m['pull_std']:8.3f} {m['line_offset_resel']:8.3f} "
                      f"{int(m['points']):6d} {seconds:7.1f}")


if __name__ == "__main__":
    main()

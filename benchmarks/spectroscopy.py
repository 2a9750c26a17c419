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

    wfss_table()
    wfss_spec3_table()
    mos_spec3_table()
    lamps_table()
    pathloss_table()


def wfss_table() -> None:
    """The WFSS table: the chain of tests/streamcal/pipelines/wfss_chain.py per EXP_TYPE (two dithered direct
    images → image2 → image3's catalogue; both grisms' exposures → a level-2 ASN each → spec2), full frame. Per
    grism exposure and source: worst wavelength error (px, at the same detector pixel), share at S/N > 50,
    median flux / truth, pull width (the source's ~70–840 points, and pooled over the exposure in the last
    row), line-centre offset (resolution elements); seconds for the whole chain."""
    import numpy as np

    from tests.streamcal.pipelines.test_wfss_chain import figures
    from tests.streamcal.pipelines.wfss_chain import run_chain

    print("\nWFSS (one x1d row per source; catalogue from calwebb_image3 of the direct images)")
    print(f"{'EXP_TYPE':9s} {'grism':>12s} {'src':>4s} {'wave px':>7s} {'S/N>50':>7s} {'flux/true':>9s} "
          f"{'pull std':>8s} {'line off':>8s} {'points':>6s} {'seconds':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for exp_type in ("NIS_WFSS", "NRC_WFSS"):
            started = time.perf_counter()
            chain = run_chain(Path(tmp) / exp_type, exp_type)
            seconds = time.perf_counter() - started
            for result, truth in zip(chain.results, chain.truths, strict=True):
                from streamcal.datamodels import read_header

                head = read_header(result.product("cal"))
                grism = f"{head.get('FILTER')}/{head.get('PUPIL')}"
                per_source, pooled = figures(result.product("x1d"), truth, exp_type)
                for sid, f in sorted(per_source.items()):
                    print(f"{exp_type:9s} {grism:>12s} {sid:4d} {f['wave_error_px']:7.3f} {f['snr50']:7.1%} "
                          f"{f['flux_ratio']:9.4f} {f['pull_std']:8.3f} {f['line_offset_resel']:8.3f} "
                          f"{int(f['points']):6d} {seconds:7.1f}")
                worst = max(abs(f["flux_ratio"] - 1) for f in per_source.values())
                print(f"{exp_type:9s} {grism:>12s} {'all':>4s} "
                      f"{max(f['wave_error_px'] for f in per_source.values()):7.3f} {'':7s} "
                      f"{1 + worst if np.isfinite(worst) else worst:9.4f} {pooled:8.3f}")



def wfss_spec3_table() -> None:
    """The WFSS spec3 table: the set of tests/streamcal/pipelines/test_spec3_wfss.py per EXP_TYPE (both grisms of
    one blocking filter, raw → detector1 → spec2 with the truth's catalogue → one spec3 association of both
    ``_cal``, and one per grism as jwst groups them). Per source of the ``_c1d``: worst wavelength error (px,
    the grid placed on each member's detector pixels), share at S/N > 50, median flux / truth, line-centre offset
    (resolution elements), points (those both grisms cover); per EXP_TYPE the pooled pull width, the noise gain
    of both grisms over one (√2 = 1.414 for equal errors; linear interpolation onto the grid lowers the moved
    member's variance, so a little more), seconds for the chain and for calwebb_spec3 of both alone."""
    from streamcal.calibrate import calibrate
    from tests.streamcal.pipelines.test_spec3_wfss import _spec3_asn, c1d_figures, noise_gain, simulate_spec3

    print("\nWFSS spec3 (both grisms combined per source into one _c1d)")
    print(f"{'EXP_TYPE':9s} {'src':>4s} {'wave px':>7s} {'S/N>50':>7s} {'flux/true':>9s} {'line off':>8s} "
          f"{'points':>6s} {'both':>5s} {'pull std':>8s} {'gain':>6s} {'chain s':>7s} {'spec3 s':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for exp_type in ("NIS_WFSS", "NRC_WFSS"):
            started = time.perf_counter()
            case = simulate_spec3(Path(tmp) / exp_type, exp_type)
            chain = time.perf_counter() - started
            started = time.perf_counter()
            calibrate(_spec3_asn(case.root / "out", list(case.cals), "again"), pipeline_alias="calwebb_spec3",
                      refs_dir=case.root / "refs", out_dir=Path(tmp) / f"{exp_type}_again")
            alone = time.perf_counter() - started
            per_source, pooled = c1d_figures(case, case.both, (0, 1))
            gain = noise_gain(case)
            for sid, f in sorted(per_source.items()):
                print(f"{exp_type:9s} {sid:4d} {f['wave_error_px']:7.3f} {f['snr50']:7.1%} {f['flux_ratio']:9.4f} "
                      f"{f['line_offset_resel']:8.3f} {f['points']:6d} {f['overlap']:5d}")
            print(f"{exp_type:9s} {'all':>4s} {'':7s} {'':7s} {'':9s} {'':8s} {'':6s} {'':5s} {pooled:8.3f} "
                  f"{gain:6.3f} {chain:7.1f} {alone:7.1f}")


def mos_spec3_table() -> None:
    """The MOS spec3 table: the set of tests/streamcal/pipelines/test_spec3_mos.py (three NRS_MSASPEC exposures
    of the 3-shutter-slitlet nod, raw → detector1 → spec2 → an association by the header rules → calwebb_spec3,
    one s2d/x1d/c1d per source). Per source: worst wavelength error (px), share at S/N > 50 with a complete
    aperture, median flux / truth, pull width, line-centre offset (resolution elements), the combined x1d's
    median S/N over one member's spec2 x1d (√3 = 1.732 expected), the c1d's median flux / truth; seconds for the
    chain and for calwebb_spec3 alone."""
    from tests.streamcal.pipelines.test_spec3_mos import run_spec3, simulate_nods
    from tests.streamcal.pipelines.test_spec3_mos import score as mos3_score

    print("\nMOS spec3 (NRS_MSASPEC, 3-shutter nod, one product set per source)")
    print(f"{'SOURCEID':18s} {'wave px':>7s} {'S/N>50':>7s} {'flux/true':>9s} {'pull std':>8s} {'line off':>8s} "
          f"{'S/N gain':>8s} {'c1d/true':>8s} {'chain s':>7s} {'spec3 s':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        mos = simulate_nods(Path(tmp) / "mos3")
        chain = time.perf_counter() - started
        started = time.perf_counter()
        run_spec3(mos.asn_path, mos.root / "refs", Path(tmp) / "again")
        alone = time.perf_counter() - started
        for source_id, f in sorted(mos3_score(mos).items()):
            print(f"{'NRS_MSASPEC ' + str(source_id):18s} {f['wave_error_px']:7.3f} {f['snr50']:7.1%} "
                  f"{f['flux_ratio']:9.4f} {f['pull_std']:8.3f} {f['line_offset_resel']:8.3f} "
                  f"{f['snr_gain']:8.3f} {f['c1d_flux_ratio']:8.4f} {chain:7.1f} {alone:7.1f}")


def lamps_table() -> None:
    """The lamps table: the cases of tests/streamcal/pipelines/test_lamp_chain.py (NIRSpec lamps on NRS1, G395H,
    raw → detector1 → spec2) at the tests' small size (ALLSLITS). Line lamps: per slit the worst line-centre
    error of the x1d against the LINE3 list, in px and in resolution elements (2 px), and the lines measured;
    flat lamps: the worst per-slit median of the flat-fielded ``_cal`` / the true lamp rate (NRS_AUTOFLAT is not
    flat-fielded, as jwst, so its ratio shows the detector response left in); seconds for the whole chain."""
    from tests.streamcal.pipelines.test_lamp_chain import flat_ratio, line_figures
    from tests.streamcal.pipelines.test_lamp_chain import run_case as run_lamp_case

    print("\nNIRSpec lamps (G395H on NRS1; line lamps: x1d per slit in DN/s; flat lamps: _cal only)")
    print(f"{'EXP_TYPE':13s} {'LAMP':>5s} {'OPMODE':>9s} {'slit':>7s} {'line px':>7s} {'line resel':>10s} "
          f"{'lines':>5s} {'flat ratio':>10s} {'seconds':>7s}")
    cases = (("NRS_LAMP", "LINE3", "FIXEDSLIT"), ("NRS_AUTOWAVE", "LINE3", "MSASPEC"),
             ("NRS_LAMP", "FLAT3", "FIXEDSLIT"), ("NRS_LAMP", "FLAT3", "MSASPEC"), ("NRS_AUTOFLAT", "FLAT3", "MSASPEC"))
    with tempfile.TemporaryDirectory() as tmp:
        for i, (exp_type, lamp, opmode) in enumerate(cases):
            started = time.perf_counter()
            case = run_lamp_case(Path(tmp) / f"lamp{i}", exp_type, optics=(("LAMP", lamp), ("OPMODE", opmode)))
            seconds = time.perf_counter() - started
            if lamp.startswith("LINE"):
                for slit, f in sorted(line_figures(case).items()):
                    print(f"{exp_type:13s} {lamp:>5s} {opmode:>9s} {slit:>7s} {f['line_px']:7.3f} "
                          f"{f['line_resel']:10.3f} {int(f['lines']):5d} {'':>10s} {seconds:7.1f}")
            else:
                print(f"{exp_type:13s} {lamp:>5s} {opmode:>9s} {'all':>7s} {'':>7s} {'':>10s} {'':>5s} "
                      f"{flat_ratio(case):10.4f} {seconds:7.1f}")


def pathloss_table() -> None:
    """The pathloss table: the cases of tests/streamcal/pipelines/test_pathloss.py (NRS_FIXEDSLIT, the point source
    at x = 0, +0.3, −0.3 of the slit width by the dither offset XOFFSET): the simulator's median slit loss, the
    x1d's median flux / truth with pathloss and without it (a store without PATHLOSS), the pull width with it."""
    from tests.streamcal.pipelines.test_pathloss import POSITIONS, run_position

    print("\npathloss (NRS_FIXEDSLIT S200A1, point source decentred across the slit)")
    print(f"{'x (width)':>9s} {'loss':>6s} {'flux/true with':>14s} {'without':>8s} {'pull std':>8s} {'seconds':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, x in enumerate(POSITIONS):
            started = time.perf_counter()
            f = run_position(Path(tmp) / f"pathloss{i}", x)
            print(f"{x:+9.2f} {f['loss']:6.3f} {f['ratio_with']:14.4f} {f['ratio_without']:8.4f} "
                  f"{f['pull_std']:8.3f} {time.perf_counter() - started:7.1f}")


if __name__ == "__main__":
    main()

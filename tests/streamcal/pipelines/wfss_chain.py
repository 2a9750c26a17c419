"""The WFSS chain the tests and ``benchmarks/spectroscopy.py`` share (issue 11): a field of compact sources
observed by direct images (two dithers) and by both grisms of one blocking filter, from raw ramps through
calwebb_detector1 → (direct images) calwebb_image2 → calwebb_image3 (the source catalogue) → a level-2 WFSS
association per grism exposure → calwebb_spec2 → a spec3 association of the two ``_cal`` → calwebb_spec3."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamcal.associations import build_asn, write_asn
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_header
from streamcal.pipelines.plan import PipelineResult
from streamcal.simulate import ExposureSpec, Target, simulate_exposure, write_reference_set
from streamcal.simulate.wfss import WfssScene, default_wfss_scene

#: exp_type → (direct-image EXP_TYPE, its optics, grism optics per exposure, detector, NGROUPS of the grism)
SETUPS = {
    "NIS_WFSS": ("NIS_IMAGE", (("FILTER", "CLEAR"), ("PUPIL", "F150W")),
                 ((("FILTER", "GR150R"), ("PUPIL", "F150W")), (("FILTER", "GR150C"), ("PUPIL", "F150W"))), "NIS", 6),
    "NRC_WFSS": ("NRC_IMAGE", (("FILTER", "F356W"), ("PUPIL", "CLEAR")),
                 ((("FILTER", "F356W"), ("PUPIL", "GRISMR")), (("FILTER", "F356W"), ("PUPIL", "GRISMC"))),
                 "NRCALONG", 6),
}


@dataclass(frozen=True)
class WfssChain:
    exp_type: str
    root: Path
    refs: Path
    out: Path
    catalog: Path
    grisms: tuple[Path, ...]  # the grism exposures' _rate
    truths: tuple[Path, ...]
    asns: tuple[Path, ...]  # their level-2 associations
    results: tuple[PipelineResult, ...]  # their spec2 runs


def level2_asn(folder: Path, rate: Path, image3_product: str, *, name: str | None = None) -> Path:
    """The level-2 WFSS association the services write (the fixed contract of calwebb_spec2 for WFSS)."""
    root = rate.name.removesuffix("_rate.fits")
    doc = {"asn_type": "spec2", "asn_rule": "Asn_Lv2WFSSNIS", "asn_id": "o001", "program": "01234",
           "asn_pool": "streamcal", "products": [{"name": root, "members": [
               {"expname": rate.name, "exptype": "science"},
               {"expname": f"{image3_product}_i2d.fits", "exptype": "direct_image"},
               {"expname": f"{image3_product}_cat.ecsv", "exptype": "sourcecat"},
               {"expname": f"{image3_product}_segm.fits", "exptype": "segmap"}]}]}
    path = folder / (name or f"{root}_spec2_asn.json")
    path.write_text(json.dumps(doc, indent=2))
    return path


def run_chain(root: Path, exp_type: str = "NIS_WFSS", *, ngroups: int | None = None) -> WfssChain:
    direct_type, direct_optics, grism_optics, detector, default_ngroups = SETUPS[exp_type]
    refs, raw, out = root / "refs", root / "raw", root / "out"
    write_reference_set(refs, only=[(detector, "FULL")])
    target = Target()
    cals = []
    for i, dither in enumerate(((0.0, 0.0), (3.5, 2.5)), start=1):
        spec = ExposureSpec(exp_type=direct_type, size="full", ngroups=3, observation=10, exposure=i,
                            detector=detector, optics=direct_optics, dither=dither, numdthpt=2, patt_num=i,
                            nexposur=2, expcount=i, patttype="NONE", target=target,
                            wfss_scene=_scene(exp_type, detector, target))
        exposure = simulate_exposure(spec, raw, rng_seed=100 + i)
        rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=refs,
                         out_dir=out).product("rate")
        cals.append(calibrate(rate, pipeline_alias="calwebb_image2", refs_dir=refs, out_dir=out).product("cal"))
    asn = build_asn("image3", [(c.name, read_header(c)) for c in cals])
    asn_path = write_asn(asn, out / f"{asn.products[0].name}_image3_asn.json")
    image3 = calibrate(asn_path, pipeline_alias="calwebb_image3", refs_dir=refs, out_dir=out)
    product = asn.products[0].name
    catalog = out / f"{product}_cat.ecsv"
    grisms, truths, asns, results = [], [], [], []
    for j, optics in enumerate(grism_optics, start=1):
        spec = ExposureSpec(exp_type=exp_type, size="full", ngroups=ngroups or default_ngroups, observation=10,
                            visit=1, activity="02", exposure=j, optics=optics, target=target, detector=detector)
        exposure = simulate_exposure(spec, raw, rng_seed=200 + j)
        rate = calibrate(exposure.path, pipeline_alias="calwebb_detector1", refs_dir=refs,
                         out_dir=out).product("rate")
        level2 = level2_asn(out, rate, product)
        results.append(calibrate(level2, pipeline_alias="calwebb_spec2", refs_dir=refs, out_dir=out))
        grisms.append(rate)
        truths.append(exposure.truth_path)
        asns.append(level2)
    del image3
    return WfssChain(exp_type, root, refs, out, catalog, tuple(grisms), tuple(truths), tuple(asns), tuple(results))


def _scene(exp_type: str, detector: str, target: Target) -> WfssScene:
    blocking = "F150W" if exp_type == "NIS_WFSS" else "F356W"
    return default_wfss_scene(detector, blocking, ra=target.ra, dec=target.dec, roll=target.roll)


def truth_tables(path: Path) -> dict[int, Any]:
    """The EXTRACTED truth per SOURCEID of a grism exposure's truth file."""
    from astropy.io import fits

    out = {}
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.name == "EXTRACTED":
                out[int(hdu.header["SOURCEID"])] = np.array(hdu.data)
    return out


def wfss_rows(x1d: Path) -> list[tuple[dict[str, np.ndarray], dict[str, object]]]:
    """Each source's spectrum of a WFSS x1d (every EXTRACT1D table's rows, cut to N_ALONGDISP)."""
    from astropy.io import fits

    out = []
    with fits.open(x1d) as hdul:
        for hdu in hdul:
            if hdu.name != "EXTRACT1D":
                continue
            for row in hdu.data:
                n = int(row["N_ALONGDISP"])
                cols = {c: np.asarray(row[c])[:n] for c in hdu.columns.names if np.ndim(row[c]) == 1}
                meta = {"SOURCEID": int(row["SOURCE_ID"]), **dict(hdu.header)}
                meta.update({c: row[c] for c in ("EXTRACT2D_XSTART", "EXTRACT2D_YSTART", "SOURCE_RA", "SOURCE_DEC")})
                out.append((cols, meta))
    return out


def _centroid(wave: np.ndarray, flux: np.ndarray, centre_um: float, fwhm: float, ok: np.ndarray) -> float | None:
    near = ok & (np.abs(wave - centre_um) < 2 * fwhm)
    side = ok & (np.abs(wave - centre_um) > 3 * fwhm) & (np.abs(wave - centre_um) < 5 * fwhm)
    if near.sum() < 3 or side.sum() < 3:
        return None
    excess = flux[near] - np.polyval(np.polyfit(wave[side], flux[side], 1), wave[near])
    return float(np.sum(wave[near] * excess) / np.sum(excess))


def score_source(table: dict[str, np.ndarray], meta: dict[str, object], truth: np.ndarray,
                 lines: list[tuple[float, float]]) -> dict[str, Any]:
    """One source's figures: worst wavelength error (px of the local dispersion) over the points, matched to the
    truth by detector pixel; share at S/N > 50 with a complete aperture, median flux / truth and pull width
    there; worst emission-line offset (resolution elements of 2 px) between the line's centroid in the x1d and in
    the truth on the same pixels (the test spectrum's lines are close on a ~70-pixel NIRISS trace, so a centroid
    window holds a neighbour's wing: comparing like with like measures the pipeline's shift)."""
    start = int(str(meta["EXTRACT2D_XSTART" if int(str(meta["DISPAXIS"])) == 1 else "EXTRACT2D_YSTART"]))
    d = start - 1 + np.arange(table["WAVELENGTH"].size)
    common, mine, theirs = np.intersect1d(d, truth["d"], return_indices=True)
    assert common.size >= 0.9 * d.size, (common.size, d.size)
    wave, flux, error = (table[c][mine] for c in ("WAVELENGTH", "FLUX", "FLUX_ERROR"))
    statistical = np.sqrt(table["FLUX_VAR_POISSON"] + table["FLUX_VAR_RNOISE"])[mine]
    true_wave, true = truth["WAVELENGTH"][theirs], truth["FLUX"][theirs]
    dispersion = np.abs(np.gradient(true_wave))
    wave_px = float(np.max(np.abs(wave - true_wave) / dispersion))
    complete = np.isfinite(flux) & (table["DQ"][mine] == 0) & (table["NPIXELS"][mine] >= 8.0 - 1e-9)
    good = complete & (flux / error > 50)
    pulls = (flux[good] - true[good]) / statistical[good]
    resolution = 2 * float(np.median(dispersion))
    worst = 0.0
    for centre_um, fwhm in lines:
        found, expected = (_centroid(wave, flux, centre_um, fwhm, complete),
                           _centroid(true_wave, true, centre_um, fwhm, complete))
        if found is not None and expected is not None:
            worst = max(worst, abs(found - expected) / resolution)
    return {"wave_error_px": wave_px, "snr50": float(good.mean()),
            "flux_ratio": float(np.median(flux[good] / true[good])) if good.any() else float("nan"),
            "pull_std": float(np.std(pulls)) if good.any() else float("nan"), "line_offset_resel": worst,
            "points": float(flux.size), "pulls": pulls}

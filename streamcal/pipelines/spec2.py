"""calwebb_spec2 for the single-trace, IFU and MOS modes: assign_wcs → (extract_2d → srctype →) flat_field →
photom → (resample_spec → cube_build →) extract_1d (``jwst_spec.md`` §1.5, issue 11).

The input is one ``_rate`` file of a mode with a SPECWCS reference (NRS_FIXEDSLIT, NRS_BRIGHTOBJ,
MIR_LRS-FIXEDSLIT, MIR_LRS-SLITLESS, NRC_GRISM, NRC_TSGRISM, NIS_SOSS order 1), or a time series' ``_rateints``
(TSOVISIT=T, NRS_BRIGHTOBJ and NRC_TSGRISM always). Products: ``<root>_cal.fits`` (the calibrated image, MJy per
pixel, provenance of the steps before extract_1d) and ``<root>_x1d.fits`` (jwst's MultiSpecModel layout) with its
quick-look ``<root>_x1d.png`` (flux against wavelength, ±1σ band); from a ``_rateints``, ``<root>_calints.fits``
and ``<root>_x1dints.fits`` (TSOMultiSpecModel: a row per integration with its times), both carrying the
INT_TIMES table, and ``<root>_x1dints.png`` (the mean spectrum). The IFU modes (MIR_MRS, NRS_IFU: an IFUSLICES
SPECWCS) run assign_wcs → flat_field → photom (MJy/sr) → cube_build → extract_1d from the cube and also write
``<root>_s3d.fits`` (IFUCubeModel) and ``<root>_s3d.png`` (:mod:`streamcal.pipelines.spec2_ifu`); cube_build is
SKIPPED for the other modes (:mod:`streamcal.steps.spec.spec2_steps`). NIRSpec MOS (NRS_MSASPEC: an MSAQUADS
SPECWCS and the MSA metadata file MSAMETFL names, read here before the steps) runs assign_wcs → extract_2d (a
cutout per open slitlet) → srctype → flat_field → photom → resample_spec → extract_1d per source and writes the
``_cal`` and ``_s2d`` as MultiSlitModel (:mod:`streamcal.pipelines.spec2_mos`) and one x1d EXTRACT1D per source;
extract_2d and srctype are SKIPPED for the other modes. resample_spec also rectifies the trace of NRS_FIXEDSLIT
and MIR_LRS-FIXEDSLIT (not time series, as jwst) into ``<root>_s2d.fits`` (SlitModel, MJy) and is SKIPPED for the
rest; their extract_1d reads the calibrated trace itself, which holds the same flux (the rectification is
flux-conserving). pathloss (between flat_field and photom, as jwst's) divides NRS_FIXEDSLIT's point source
and each NRS_MSASPEC slit by its slit loss at the source's place in the aperture
(:mod:`streamcal.steps.spec.pathloss`) and is SKIPPED where the store has no PATHLOSS reference. The other jwst
steps of the parameter file (barshadow, master_background_mos among them) are recorded SKIPPED "not implemented
in streamcal".

NIS_WFSS and NRC_WFSS come as a level-2 association (``*.json``: the rate, the direct image's catalogue) and run
assign_wcs → extract_2d → srctype → flat_field → photom → extract_1d per source and order, writing the ``_cal``
(MultiSlitModel, DN/s) and the ``_x1d`` (WFSSMultiSpecModel, Jy) (:mod:`streamcal.pipelines.spec2_wfss`).

The NIRSpec lamps (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT; OPMODE FIXEDSLIT, BRIGHTOBJ or MSASPEC) run as jwst
runs them (:mod:`streamcal.steps.spec.lamp`): assign_wcs (the lit fixed slits or MSA shutters) → extract_2d →
srctype (UNKNOWN) → flat_field (not NRS_AUTOFLAT) → photom SKIPPED → resample_spec and extract_1d for line lamps;
products ``_cal`` (MultiSlitModel, DN/s) and, for line lamps, ``_s2d`` and ``_x1d`` (DN/s per slit)
(:mod:`streamcal.pipelines.spec2_lamp`). Another OPMODE (IFU, GRATING-ONLY) is a BadKeywordValueError.

The services send it only the exposures it takes (:data:`streamcal.pipelines.PARTIAL`); the other spectroscopic
work waits in ``streamcal.pending.calwebb_spec2``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamcal.datamodels import split_suffix
from streamcal.datamodels.combined import write_s2d
from streamcal.datamodels.products import read_product
from streamcal.datamodels.quicklook import render_spectrum
from streamcal.datamodels.spectra import Spectrum1D, write_x1d, write_x1dints
from streamcal.errors import BadDataShapeError
from streamcal.models.image import ImageData, read_image, write_image
from streamcal.models.lamp import LAMP_EXP_TYPES
from streamcal.pipelines.plan import Outputs, Pipeline, PipelineResult, Plan, RunRequest
from streamcal.pipelines.runner import run_plan
from streamcal.pipelines.spec2_ifu import write_ifu_products
from streamcal.pipelines.spec2_lamp import write_lamp_products
from streamcal.pipelines.spec2_mos import read_msa_configuration, write_mos_products
from streamcal.pipelines.spec2_wfss import WFSS_EXP_TYPES, run_wfss
from streamcal.references import ReferenceStore
from streamcal.routing import RunSpec
from streamcal.steps.base import Context
from streamcal.steps.spec import (
    CubeBuildStep,
    MultiSpectrum,
    Spec2AssignWcsStep,
    Spec2Extract1dStep,
    Spec2Extract2dStep,
    Spec2FlatFieldStep,
    Spec2PhotomStep,
    Spec2SrctypeStep,
    Spectrum,
    TraceImage,
)
from streamcal.steps.spec.lamp import LampSpectrum
from streamcal.steps.spec.mos import Spec2ResampleSpecStep
from streamcal.steps.spec.pathloss import Spec2PathlossStep
from streamcal.steps.spec.single_trace import S2D_EXP_TYPES, RectifiedTrace

__all__ = ["IFU_EXP_TYPES", "MOS_EXP_TYPES", "NOT_IMPLEMENTED", "SPEC2", "WFSS_EXP_TYPES", "Spec2Params"]

log = logging.getLogger(__name__)

#: jwst Spec2Pipeline steps streamcal records as SKIPPED for now.
NOT_IMPLEMENTED = (
    "badpix_selfcal", "msa_flagging", "clean_flicker_noise", "imprint_subtract", "bkg_subtract",
    "master_background_mos", "wavecorr", "targ_centroid", "straylight", "fringe", "barshadow", "wfss_contam",
    "residual_fringe", "adaptive_trace_model", "pixel_replace",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec2Params:
    """calwebb_spec2's own parameter (jwst's): write the background-subtracted image. No effect until
    bkg_subtract is implemented."""

    save_bsub: bool = False


def _run(request: RunRequest, plan: Plan) -> PipelineResult:
    started = time.perf_counter()
    source = request.input_path
    if source.suffix.lower() == ".json":  # a level-2 association: WFSS (science rate + direct-image catalogue)
        return run_wfss(request, plan)
    root, _ = split_suffix(source)
    image = read_image(source).replace(root=root)
    int_times = _int_times(source) if image.is_cube else None
    store = ReferenceStore.open(request.refs_dir)
    ctx = Context(header=image.primary, refs=store.for_exposure(image.primary), source=source.name,
                  msa=read_msa_configuration(image.primary, source))
    run = run_plan(image, plan, ctx)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    ints = "ints" if image.is_cube else ""
    written: list[Path] = []
    traced = run.last(TraceImage)
    if traced is not None:
        cal = traced.image
        primary = {**cal.primary, **run.recorder.keywords(before="extract_1d")}
        unit = str(cal.sci_header.get("BUNIT", "")) or None  # MJy after photom (a point source), else DN/s
        written.append(write_image(request.out_dir / f"{root}_cal{ints}.fits", cal.replace(primary=primary),
                                   bunit=unit, tables=None if int_times is None else {"INT_TIMES": int_times}))
    written.extend(write_ifu_products(run, request.out_dir, root))  # MIR_MRS, NRS_IFU: _cal and _s3d
    written.extend(write_mos_products(run, request.out_dir, root))  # NRS_MSASPEC: _cal and _s2d (MultiSlitModel)
    written.extend(write_lamp_products(run, request.out_dir, root))  # NRS lamps: _cal (and _s2d), DN/s
    rectified = run.last(RectifiedTrace)  # NRS_FIXEDSLIT, MIR_LRS-FIXEDSLIT: the rectified trace (SlitModel)
    if rectified is not None:
        head = rectified.image.primary
        slit = {"SLTNAME": str(head.get("FXD_SLIT", "") or head.get("SUBARRAY", "")), "SOURCEID": 1,
                "SRCTYPE": "POINT"}
        written.append(write_s2d(request.out_dir / f"{root}_s2d.fits", rectified.planes, slit=slit,
                                 primary={**head, **run.recorder.keywords(before="extract_1d")}))
    spectrum = run.last(LampSpectrum) or run.last(MultiSpectrum) or run.last(Spectrum)  # by exact kind
    if spectrum is not None:
        primary = {**spectrum.primary, **run.recorder.keywords()}
        spectra = (list(spectrum.spectra) if isinstance(spectrum, MultiSpectrum)  # MOS: one per source
                   else [Spectrum1D(c, m) for c, m in spectrum.spectra] if isinstance(spectrum, LampSpectrum)
                   else [Spectrum1D(spectrum.columns, spectrum.meta)])
        units = spectrum.units if isinstance(spectrum, LampSpectrum) else None  # a lamp's: DN/s
        x1d = (write_x1dints(request.out_dir / f"{root}_x1dints.fits", spectra, primary=primary,
                             int_times=int_times) if spectrum.is_ints
               else write_x1d(request.out_dir / f"{root}_x1d.fits", spectra, primary=primary, units=units))
        written.append(x1d)
        written.extend(_quicklook(spectrum, primary, x1d))
    return PipelineResult(plan.pipeline, root, tuple(written), time.perf_counter() - started,
                          run.recorder.records())


def _int_times(source: Path) -> np.ndarray | None:
    """The INT_TIMES table of a ``_rateints`` (None when it has none)."""
    return read_product(source, extensions=("INT_TIMES",)).arrays.get("INT_TIMES")


def _quicklook(spectrum: Spectrum, primary: dict[str, object], x1d: Path) -> list[Path]:
    """The x1d's PNG (flux against wavelength, ±1σ band; of an x1dints, the mean over the integrations). A
    courtesy: a spectrum it cannot draw does not fail the products."""
    columns = spectrum.columns
    try:
        return [render_spectrum(columns["WAVELENGTH"], columns["FLUX"], columns["FLUX_ERROR"], primary,
                                x1d.with_suffix(".png"), title=x1d.name)]
    except BadDataShapeError as exc:
        log.warning("%s: no quick look: %s", x1d.name, exc)
        return []


#: The EXP_TYPEs whose spec2 builds a cube (``_s3d``).
IFU_EXP_TYPES = frozenset({"MIR_MRS", "NRS_IFU"})
#: The EXP_TYPEs whose spec2 writes rectified slits (``_s2d``).
MOS_EXP_TYPES = frozenset({"NRS_MSASPEC"})


def _outputs(root: str, spec: RunSpec) -> Outputs:
    ints = "ints" if spec.route.stage2_input == "rateints" else ""
    exp_type = str(spec.route.exp_type).upper()
    if exp_type in LAMP_EXP_TYPES:  # a line lamp adds _s2d and _x1d; the header (LAMP), not the route, says
        return Outputs((f"{root}_cal.fits",), member=f"{root}_cal.fits")
    if exp_type in WFSS_EXP_TYPES:  # from a level-2 association named after the exposure
        return Outputs((f"{root}_cal.fits", f"{root}_x1d.fits"), member=f"{root}_cal.fits")
    cube = (f"{root}_s3d.fits",) if exp_type in IFU_EXP_TYPES else ()
    s2d = (f"{root}_s2d.fits",) if exp_type in MOS_EXP_TYPES or (exp_type in S2D_EXP_TYPES and not ints) else ()
    return Outputs((f"{root}_cal{ints}.fits", *s2d, *cube, f"{root}_x1d{ints}.fits"), member=f"{root}_cal{ints}.fits")


SPEC2 = Pipeline(alias="calwebb_spec2", input=ImageData,
                 steps=(Spec2AssignWcsStep, Spec2Extract2dStep, Spec2SrctypeStep, Spec2FlatFieldStep,
                        Spec2PathlossStep, Spec2PhotomStep, Spec2ResampleSpecStep, CubeBuildStep, Spec2Extract1dStep),
                 not_implemented=NOT_IMPLEMENTED, parameters=Spec2Params, run=_run, outputs=_outputs,
                 requires=("extract_1d",))

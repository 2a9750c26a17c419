"""calwebb_guider: dq_init → guider_cds → flat_field for FGS guiding data (jwst_spec.md §1.3, §4.12).

Guider ramps are small (8² to 2048² pixels, 2–8 groups), so they are read whole. The product is ``_cal``
(GuiderCalModel layout: SCI/ERR (nints', ny, nx) in DN/s, DQ (ny, nx)); the flat field divides SCI and adds
the flat's relative error in quadrature (guider products carry no VAR arrays).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from streamcal.datamodels import ExposureName, open_raw, write_product
from streamcal.dq import Pixel
from streamcal.kernels.ramp.dq_init import initialize_dq
from streamcal.kernels.ramp.guider_cds import guider_cds, guider_mode
from streamcal.models.keywords import header_float
from streamcal.pipelines.provenance import provenance_keywords
from streamcal.pipelines.result import PipelineResult
from streamcal.references import ReferenceStore, RefType
from streamcal.steps import StepRecord, StepStatus

__all__ = ["run_guider"]


def _flat_field(rate: np.ndarray, err: np.ndarray, flat: np.ndarray, flat_err: np.ndarray | None,
                dq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    good = np.isfinite(flat) & (flat > 0)
    safe = np.where(good, flat, 1.0).astype(np.float32)
    out = rate / safe
    rel = np.zeros_like(flat) if flat_err is None else np.where(good, flat_err / safe, 0.0)
    out_err = np.sqrt((err / safe) ** 2 + (out * rel) ** 2)
    bad = (~good).astype(np.uint32) * np.uint32(Pixel.NO_FLAT_FIELD | Pixel.DO_NOT_USE)
    return np.where(good, out, np.nan).astype(np.float32), out_err.astype(np.float32), dq | bad


def run_guider(alias: str, raw_path: str | os.PathLike[str], *, refs_dir: str | os.PathLike[str],
               out_dir: str | os.PathLike[str]) -> PipelineResult:
    """Calibrate one guider exposure into ``<root>_cal.fits``.

    Raises
    ------
    InvalidInputError subclasses, MissingReferenceError
        Not retriable. ReferenceUnavailableError is retriable.
    """
    started = time.perf_counter()
    path = Path(raw_path)
    store = ReferenceStore.open(refs_dir)
    records = []
    with open_raw(path) as raw:
        header, sci_header = raw.primary, raw.sci_header
        name = ExposureName.from_header(header, source=path.name)
        refs = store.for_exposure(header)
        t0 = time.perf_counter()
        mask = refs.require(RefType.MASK)
        init = initialize_dq(np.zeros(raw.shape[2:], np.uint32), np.zeros(raw.shape, np.uint8), mask=mask["DQ"])
        records.append(StepRecord("dq_init", StepStatus.COMPLETE, time.perf_counter() - t0,
                                  ((RefType.MASK, mask.name),)))
        t0 = time.perf_counter()
        gain, rn = refs.require(RefType.GAIN), refs.require(RefType.READNOISE)
        cds = guider_cds(raw.read_ramp(), mode=guider_mode(str(header.get("EXP_TYPE", ""))),
                         group_time=header_float(header, "TGROUP"), gain=gain["SCI"], readnoise=rn["SCI"])
        records.append(StepRecord("guider_cds", StepStatus.COMPLETE, time.perf_counter() - t0,
                                  ((RefType.GAIN, gain.name), (RefType.READNOISE, rn.name))))
    t0 = time.perf_counter()
    flat = refs.get(RefType.FLAT)
    rate, err, dq = cds.rate, cds.err, init.pixeldq
    if flat is not None:
        rate, err, dq = _flat_field(rate, err, flat["SCI"], flat.arrays.get("ERR"), dq)
        records.append(StepRecord("flat_field", StepStatus.COMPLETE, time.perf_counter() - t0,
                                  ((RefType.FLAT, flat.name),)))
    else:
        records.append(StepRecord("flat_field", StepStatus.SKIPPED, note="no flat reference"))
    primary = {**header, **provenance_keywords(records, alias=alias), "DATAMODL": "GuiderCalModel"}
    product = write_product(Path(out_dir) / name.filename("cal"), {"SCI": rate, "ERR": err, "DQ": dq},
                            primary=primary, sci_header={**sci_header, "BUNIT": "DN/s"}, suffix="guider_cal")
    return PipelineResult(alias, name.root, (product,), time.perf_counter() - started, tuple(records))

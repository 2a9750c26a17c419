"""PRIMARY and SCI headers of simulated raw exposures (``jwst_spec.md`` §7, §6.2).

The pointing/WCS keywords go to the SCI extension, as in real Level-1b files; everything the router and
the association rules read (EXP_TYPE, TSOVISIT, PATTTYPE, ACT_ID, …) is in PRIMARY.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from streamcal.simulate.spec import ExposurePlan

__all__ = ["mjd_to_datetime", "primary_header", "sci_header"]

_MJD0 = datetime(1858, 11, 17)


def mjd_to_datetime(mjd: float) -> datetime:
    """MJD (UTC) → naive UTC datetime."""
    return _MJD0 + timedelta(days=mjd)


def _identity(plan: ExposurePlan) -> dict[str, object]:
    spec = plan.spec
    program, obs, visit = f"{spec.program:05d}", f"{spec.observation:03d}", f"{spec.visit:03d}"
    return {
        "PROGRAM": program, "OBSERVTN": obs, "VISIT": visit, "VISITGRP": f"{spec.visit_group:02d}",
        "SEQ_ID": str(spec.parallel_seq), "ACT_ID": plan.name.activity, "EXPOSURE": f"{spec.exposure:05d}",
        # the visit and activity, as in real files (V01234001001P0000000002101): every exposure of an activity
        # shares it (jwst's WFS&C rule groups by it)
        "OBS_ID": f"V{program}{obs}{visit}P00000000{spec.visit_group:02d}{spec.parallel_seq}{plan.name.activity}",
        "VISIT_ID": f"{program}{obs}{visit}", "TEMPLATE": "SIMULATED", "OBSLABEL": f"streamcal {plan.mode.exp_type}",
    }


#: FGS FINEGUIDE reads 4 groups at the start of an integration and 4 at its end; jwst's guider_cds divides the
#: difference of their means by TGROUP, so TGROUP is the time between the two sets (issue 14: the raw files said
#: one read's spacing and the calibrated rates came out 4× the truth).
_CDS_SET = {"FINEGUIDE": 4}


def _tgroup(plan: ExposurePlan) -> float:
    """TGROUP: (NFRAMES + GROUPGAP)·TFRAME, or for FINEGUIDE the interval between its 4 first and 4 last reads
    (they are consecutive here: the 4 reads of a set apart)."""
    return plan.timing.tgroup * _CDS_SET.get(plan.readpatt, 1)


def _readout(plan: ExposurePlan) -> dict[str, object]:
    t = plan.timing
    effinttm = (t.ngroups - 1) * t.tgroup
    return {
        "READPATT": plan.readpatt, "NINTS": plan.nints_total, "NGROUPS": t.ngroups, "NFRAMES": t.nframes,
        "GROUPGAP": t.groupgap, "FRMDIVSR": t.nframes, "NSAMPLES": 1, "TSAMPLE": 10.0,
        "TFRAME": t.tframe, "TGROUP": _tgroup(plan), "EFFINTTM": effinttm, "EFFEXPTM": effinttm * plan.nints_total,
        "DURATION": plan.duration, "NRSTSTRT": 1, "NRESETS": 1,
        "ZEROFRAM": plan.detector.instrument == "NIRCAM",
        "SUBARRAY": plan.subarray.name, "SUBSTRT1": plan.subarray.substrt1, "SUBSTRT2": plan.subarray.substrt2,
        "SUBSIZE1": plan.subarray.nx, "SUBSIZE2": plan.subarray.ny, "FASTAXIS": plan.detector.fastaxis,
        "SLOWAXIS": plan.detector.slowaxis, "NOUTPUTS": plan.subarray.noutputs,
        "EXSEGNUM": plan.spec.segment or 1, "EXSEGTOT": plan.spec.nsegments,
        "INTSTART": plan.intstart, "INTEND": plan.intend,
    }


def _times(plan: ExposurePlan) -> dict[str, object]:
    start = mjd_to_datetime(plan.spec.expstart)
    end = mjd_to_datetime(plan.expend)
    return {
        "DATE": end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "DATE-OBS": start.strftime("%Y-%m-%d"), "TIME-OBS": start.strftime("%H:%M:%S.%f")[:-3],
        "DATE-BEG": start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "DATE-END": end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "EXPSTART": plan.spec.expstart, "EXPMID": (plan.spec.expstart + plan.expend) / 2.0, "EXPEND": plan.expend,
    }


def primary_header(plan: ExposurePlan) -> dict[str, object]:
    """The PRIMARY header of the raw file.

    Parameters
    ----------
    plan : ExposurePlan

    Returns
    -------
    dict
        Keyword → value (str, int, float or bool); ``None`` values are not written.
    """
    spec, mode, det = plan.spec, plan.mode, plan.detector
    visitype = spec.visitype or ("PRIME_WFSC_ROUTINE" if spec.patttype == "WFSC" else "PRIME_TARGETED_FIXED")
    head: dict[str, object] = {
        "TELESCOP": "JWST", "ORIGIN": "STREAMCAL", "DATAMODL": "GuiderRawModel" if mode.guider else "Level1bModel",
        "FILENAME": plan.name.filename("uncal"), "SDP_VER": "streamcal-sim",
        "INSTRUME": det.instrument, "DETECTOR": det.name, "EXP_TYPE": str(mode.exp_type),
        **{k: v for k, v in mode.optics.items()},
        **_identity(plan),
        "VISITYPE": visitype, "TSOVISIT": plan.tsovisit, "NEXPOSUR": spec.nexposur, "EXPCOUNT": spec.expcount,
        "EXPRIPAR": "PRIME" if spec.parallel_seq == 1 else "PARALLEL",
        "PNTGTYPE": mode.pntgtype, "IS_PSF": spec.is_psf, "IS_IMPRT": False, "BKGDTARG": spec.bkgdtarg,
        "TARGETID": spec.target.targetid, "TARGPROP": spec.target.name, "TARGNAME": spec.target.name,
        "TARGTYPE": "FIXED", "TARG_RA": spec.target.ra, "TARG_DEC": spec.target.dec,
        "PROP_RA": spec.target.ra, "PROP_DEC": spec.target.dec,
        "PATTTYPE": spec.patttype, "NUMDTHPT": spec.numdthpt, "PATT_NUM": spec.patt_num,
        "PATTSTRT": 1, "PRIDTPTS": spec.numdthpt, "SUBPXPTS": 1,
        "XOFFSET": spec.dither[0] * det.pixel_scale, "YOFFSET": spec.dither[1] * det.pixel_scale,
        "APERNAME": f"{det.name}_{plan.subarray.name}", "PPS_APER": f"{det.name}_{plan.subarray.name}",
        **_readout(plan),
        **_times(plan),
    }
    if det.instrument == "NIRCAM":
        head["MODULE"] = det.name[3]
        head["CHANNEL"] = "LONG" if det.name.endswith("LONG") else "SHORT"
    if mode.dispaxis and mode.scene.value in {"trace", "multi_trace", "lines"}:
        head["DISPAXIS"] = mode.dispaxis
    return head


def sci_header(plan: ExposurePlan) -> dict[str, object]:
    """The SCI extension header: pointing and WCS keywords (RA_REF … YREF_SCI, PC matrix), times, BUNIT.

    The pointing is the one the observatory reports (``plan.header_wcs``), which differs from the true one
    by ``spec.pointing_error``.
    """
    w, det = plan.header_wcs, plan.detector
    return {
        "BUNIT": "DN",
        "RA_REF": w.ra_ref, "DEC_REF": w.dec_ref, "ROLL_REF": w.roll_ref, "V2_REF": det.v2_ref,
        "V3_REF": det.v3_ref, "V3I_YANG": det.v3i_yang, "VPARITY": det.vparity,
        "XREF_SCI": w.crpix1, "YREF_SCI": w.crpix2, "PA_V3": w.roll_ref, "PA_APER": w.roll_ref,
        "RA_V1": w.ra_ref, "DEC_V1": w.dec_ref, "VA_SCALE": 1.0,
        **w.header(),
        "MJD-BEG": plan.spec.expstart, "MJD-AVG": (plan.spec.expstart + plan.expend) / 2.0, "MJD-END": plan.expend,
    }

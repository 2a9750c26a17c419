"""Exposure types, instruments and association types, spelled exactly as JWST headers spell them.

The 62 EXP_TYPE values of the "Pipelines vs. Exposure Type" table in the jwst documentation
(``docs/jwst/pipeline/main.rst``, our seed ``pipeline_stages.rst``), and the 7 the JWST data model accepts but
the table does not list (:data:`EXTENSION_EXP_TYPES`; routed as jwst's own code routes them, see
``configs/routing.yaml``). Member names replace ``-`` by ``_`` because Python identifiers cannot hold a dash;
the *values* keep the header spelling (``ExpType.FGS_ID_STACK == "FGS_ID-STACK"``).
"""

from __future__ import annotations

import enum

__all__ = ["EXTENSION_EXP_TYPES", "AsnType", "ExpType", "Instrument", "instrument_of"]


class ExpType(enum.StrEnum):
    """Every EXP_TYPE the routing table knows, valued as in the FITS header."""

    # FGS
    FGS_DARK = "FGS_DARK"
    FGS_SKYFLAT = "FGS_SKYFLAT"
    FGS_INTFLAT = "FGS_INTFLAT"
    FGS_FOCUS = "FGS_FOCUS"
    FGS_IMAGE = "FGS_IMAGE"
    FGS_ID_STACK = "FGS_ID-STACK"
    FGS_ID_IMAGE = "FGS_ID-IMAGE"
    FGS_ACQ1 = "FGS_ACQ1"
    FGS_ACQ2 = "FGS_ACQ2"
    FGS_TRACK = "FGS_TRACK"
    FGS_FINEGUIDE = "FGS_FINEGUIDE"
    # MIRI
    MIR_DARKIMG = "MIR_DARKIMG"
    MIR_DARKMRS = "MIR_DARKMRS"
    MIR_FLATIMAGE = "MIR_FLATIMAGE"
    MIR_FLATIMAGE_EXT = "MIR_FLATIMAGE-EXT"
    MIR_FLATMRS = "MIR_FLATMRS"
    MIR_FLATMRS_EXT = "MIR_FLATMRS-EXT"
    MIR_TACQ = "MIR_TACQ"
    MIR_CORONCAL = "MIR_CORONCAL"
    MIR_IMAGE = "MIR_IMAGE"
    MIR_LRS_FIXEDSLIT = "MIR_LRS-FIXEDSLIT"
    MIR_LRS_SLITLESS = "MIR_LRS-SLITLESS"
    MIR_MRS = "MIR_MRS"
    MIR_LYOT = "MIR_LYOT"
    MIR_4QPM = "MIR_4QPM"
    # NIRCam
    NRC_DARK = "NRC_DARK"
    NRC_FLAT = "NRC_FLAT"
    NRC_LED = "NRC_LED"
    NRC_GRISM = "NRC_GRISM"
    NRC_TACQ = "NRC_TACQ"
    NRC_TACONFIRM = "NRC_TACONFIRM"
    NRC_FOCUS = "NRC_FOCUS"
    NRC_IMAGE = "NRC_IMAGE"
    NRC_CORON = "NRC_CORON"
    NRC_WFSS = "NRC_WFSS"
    NRC_TSIMAGE = "NRC_TSIMAGE"
    NRC_TSGRISM = "NRC_TSGRISM"
    # NIRISS
    NIS_DARK = "NIS_DARK"
    NIS_LAMP = "NIS_LAMP"
    NIS_EXTCAL = "NIS_EXTCAL"
    NIS_TACQ = "NIS_TACQ"
    NIS_TACONFIRM = "NIS_TACONFIRM"
    NIS_FOCUS = "NIS_FOCUS"
    NIS_IMAGE = "NIS_IMAGE"
    NIS_AMI = "NIS_AMI"
    NIS_WFSS = "NIS_WFSS"
    NIS_SOSS = "NIS_SOSS"
    # NIRSpec
    NRS_DARK = "NRS_DARK"
    NRS_AUTOWAVE = "NRS_AUTOWAVE"
    NRS_AUTOFLAT = "NRS_AUTOFLAT"
    NRS_LAMP = "NRS_LAMP"
    NRS_IMAGE = "NRS_IMAGE"
    NRS_WATA = "NRS_WATA"
    NRS_MSATA = "NRS_MSATA"
    NRS_TACONFIRM = "NRS_TACONFIRM"
    NRS_CONFIRM = "NRS_CONFIRM"
    NRS_FOCUS = "NRS_FOCUS"
    NRS_MIMF = "NRS_MIMF"
    NRS_FIXEDSLIT = "NRS_FIXEDSLIT"
    NRS_IFU = "NRS_IFU"
    NRS_MSASPEC = "NRS_MSASPEC"
    NRS_BRIGHTOBJ = "NRS_BRIGHTOBJ"
    # Beyond the seed table: in stdatamodels' EXP_TYPE enumeration (keyword_exptype.schema.yaml) and routed by
    # jwst's code (associations/lib/dms_base.py), not listed in the pipeline documentation's table.
    MIR_DARKALL = "MIR_DARKALL"
    MIR_TACONFIRM = "MIR_TACONFIRM"
    MIR_WFSS = "MIR_WFSS"
    NRC_WFSC = "NRC_WFSC"
    NRS_TACQ = "NRS_TACQ"
    NRS_TASLIT = "NRS_TASLIT"
    NRS_VERIFY = "NRS_VERIFY"


#: The EXP_TYPEs the seed table does not list (routing.yaml rows marked ``extension``).
EXTENSION_EXP_TYPES = frozenset({ExpType.MIR_DARKALL, ExpType.MIR_TACONFIRM, ExpType.MIR_WFSS, ExpType.NRC_WFSC,
                                 ExpType.NRS_TACQ, ExpType.NRS_TASLIT, ExpType.NRS_VERIFY})


class Instrument(enum.StrEnum):
    """The INSTRUME header values."""

    NIRCAM = "NIRCAM"
    NIRSPEC = "NIRSPEC"
    MIRI = "MIRI"
    NIRISS = "NIRISS"
    FGS = "FGS"


class AsnType(enum.StrEnum):
    """Association types (``asn_type`` of an ASN file, jwst_spec §6.1)."""

    IMAGE2 = "image2"
    SPEC2 = "spec2"
    TSO_IMAGE2 = "tso-image2"
    TSO_SPEC2 = "tso-spec2"
    NRSLAMP_SPEC2 = "nrslamp-spec2"
    IMAGE3 = "image3"
    SPEC3 = "spec3"
    CORON3 = "coron3"
    AMI3 = "ami3"
    TSO3 = "tso3"
    WFS_IMAGE3 = "wfs-image3"

    @property
    def level(self) -> int:
        """The processing level the association feeds: 2 or 3."""
        return 2 if self.value.endswith("2") else 3


_PREFIXES: dict[str, Instrument] = {
    "FGS_": Instrument.FGS,
    "MIR_": Instrument.MIRI,
    "NRC_": Instrument.NIRCAM,
    "NIS_": Instrument.NIRISS,
    "NRS_": Instrument.NIRSPEC,
}


def instrument_of(exp_type: ExpType | str) -> Instrument:
    """Return the instrument an EXP_TYPE belongs to, from its prefix.

    Parameters
    ----------
    exp_type : ExpType or str
        An EXP_TYPE value such as ``"NRC_IMAGE"``.

    Returns
    -------
    Instrument

    Raises
    ------
    ValueError
        The value has none of the prefixes FGS_, MIR_, NRC_, NIS_, NRS_. Not retriable.
    """
    prefix = str(exp_type)[:4]
    try:
        return _PREFIXES[prefix]
    except KeyError:
        raise ValueError(f"EXP_TYPE {exp_type!r} has no known instrument prefix") from None

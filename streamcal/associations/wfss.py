"""Level-2 WFSS associations: which direct images give a WFSS exposure its source catalog (jwst_spec §6).

calwebb_spec2 of a wide-field slitless exposure (NIS_WFSS, NRC_WFSS) needs the sources calwebb_image3 found in
the observation's direct images. jwst's level-2 rules (``Asn_Lv2WFSSNIS``, ``Asn_Lv2WFSSNRC``) make one spec2
association per WFSS exposure with four members: the ``science`` rate file and, from the level-3 product of the
direct images, its ``_i2d.fits`` (``direct_image``), ``_cat.ecsv`` (``sourcecat``) and ``_segm.fits``
(``segmap``).

A direct image belongs to a WFSS exposure when it is the imaging EXP_TYPE of the same instrument (NIS_IMAGE,
NRC_IMAGE) in the same program and observation, through the same blocking filter: for NIRISS the PUPIL (the WFSS
FILTER is the grism, GR150R/GR150C; the direct image's FILTER is CLEAR), for NIRCam the FILTER (the WFSS PUPIL is
the grism, GRISMR/GRISMC; the direct image's PUPIL is CLEAR) and the same MODULE.
"""

from __future__ import annotations

from collections.abc import Mapping

from streamcal.associations.model import Asn, AsnMember, AsnProduct
from streamcal.routing.exptypes import AsnType

__all__ = ["DIRECT_IMAGE_TYPES", "WFSS_EXP_TYPES", "direct_image_matches", "level2_wfss_asn", "wfss_asn_name"]

#: The WFSS EXP_TYPEs whose stage 2 needs a direct image's catalog → the EXP_TYPE of those direct images.
DIRECT_IMAGE_TYPES: Mapping[str, str] = {"NIS_WFSS": "NIS_IMAGE", "NRC_WFSS": "NRC_IMAGE"}
WFSS_EXP_TYPES = frozenset(DIRECT_IMAGE_TYPES)

_RULES = {"NIS_WFSS": "Asn_Lv2WFSSNIS", "NRC_WFSS": "Asn_Lv2WFSSNRC"}


def _text(header: Mapping[str, object], key: str) -> str:
    value = header.get(key)
    return "" if value is None else str(value).strip().upper()


def _observation(header: Mapping[str, object]) -> tuple[str, str]:
    """(program, observation) as numbers, so ``"1234"`` and ``"01234"`` agree."""
    out = []
    for key in ("PROGRAM", "OBSERVTN"):
        text = _text(header, key)
        out.append(str(int(text)) if text.isdigit() else text)
    return out[0], out[1]


def direct_image_matches(wfss: Mapping[str, object], image: Mapping[str, object]) -> bool:
    """Whether an exposure (primary header ``image``) is a direct image of WFSS exposure ``wfss``.

    Exposures without the keywords never match (an empty PROGRAM or OBSERVTN matches nothing).
    """
    direct_type = DIRECT_IMAGE_TYPES.get(_text(wfss, "EXP_TYPE"))
    if direct_type is None or _text(image, "EXP_TYPE") != direct_type:
        return False
    if _text(wfss, "INSTRUME") != _text(image, "INSTRUME") or "" in _observation(wfss):
        return False
    if _observation(wfss) != _observation(image):
        return False
    if direct_type == "NIS_IMAGE":  # NIRISS: the grism is the FILTER, the blocking filter the PUPIL
        return bool(_text(wfss, "PUPIL")) and _text(wfss, "PUPIL") == _text(image, "PUPIL")
    # NIRCam: the grism is the PUPIL, the filter is shared, and so is the module
    return (bool(_text(wfss, "FILTER")) and _text(wfss, "FILTER") == _text(image, "FILTER")
            and _text(wfss, "MODULE") == _text(image, "MODULE"))


def level2_wfss_asn(science: str, direct_product: str, header: Mapping[str, object], *,
                    code_version: str | None = None) -> Asn:
    """The level-2 spec2 association of WFSS exposure file ``science`` (a bare ``*_rate.fits`` name) with the
    level-3 product ``direct_product`` of its direct images; ``header`` is the exposure's primary header."""
    root = science.rsplit("_", 1)[0]
    program = _text(header, "PROGRAM")
    observation = _text(header, "OBSERVTN")
    members = (AsnMember(science, "science"),
               AsnMember(f"{direct_product}_i2d.fits", "direct_image"),
               AsnMember(f"{direct_product}_cat.ecsv", "sourcecat"),
               AsnMember(f"{direct_product}_segm.fits", "segmap"))
    return Asn(asn_type=AsnType("spec2"), asn_id=f"o{int(observation):03d}" if observation.isdigit() else "o000",
               products=(AsnProduct(root, members),),
               asn_rule=_RULES.get(_text(header, "EXP_TYPE"), "Asn_Lv2WFSS"), asn_pool="streamcal",
               program=program.zfill(5) if program.isdigit() else (program or None), code_version=code_version)


def wfss_asn_name(root: str) -> str:
    """The file name of an exposure's level-2 WFSS association: ``<root>_spec2_asn.json``."""
    return f"{root}_spec2_asn.json"

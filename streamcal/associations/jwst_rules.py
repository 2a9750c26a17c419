"""jwst's level-3 association rules as data: which exposures each rule takes, how it groups them, how it
names the product (jwst ``associations/lib/rules_level3.py`` and ``dms_base.py``, jwst_spec §6.2).

A :class:`Level3Rule` is read per candidate by :func:`streamcal.associations.generator.generate`:

- ``applies(row, candidate)``: the exposure forms groups under this rule;
- ``joins(row)``: an exposure that joins every group of the candidate with its key, whatever the group's
  target, because jwst's target constraint does not apply to it: a background (BKGDTARG) of a spectroscopic
  rule, as a ``background`` member (its ``_x1d``), or a PSF reference of coronagraphy and AMI, as ``psf``;
- ``key(row, candidate)``: the values that must be equal within a group (jwst's unique constraints), and the
  target (``""`` when the rule does not constrain it);
- ``valid(group, rule)``: jwst's validity checks (a science member; a PSF for coronagraphy and AMI; two
  observations for group, background and mosaic candidates; two exposures for a WFS&C pair);
- ``name``: the product-name template, with jwst's placeholders ``{suffix}``, ``{source_id}`` and
  ``{slit_name}`` kept literally for stage 3 to fill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from streamcal.associations.pool import Candidate, PoolRow
from streamcal.routing.exptypes import AsnType

__all__ = ["RULES", "CandidateGroup", "Level3Rule", "member_type", "row_exptype", "rule_product_name",
           "use_integrations"]

IMAGE_EXP_TYPES = frozenset({"nrc_image", "mir_image", "nis_image", "fgs_image", "nrs_mimf"})
TSO_EXP_TYPES = frozenset({"nrc_tsimage", "nrc_tsgrism", "nrs_brightobj"})
CORON_EXP_TYPES = frozenset({"mir_4qpm", "mir_lyot", "nrc_coron"})
IFU_EXP_TYPES = frozenset({"mir_mrs", "mir_flatmrs", "nrs_autowave", "nrs_ifu"})
MULTI_OBSERVATION_TYPES = frozenset({"group", "background", "mosaic"})
NOD_PATTERNS = frozenset({"2-point-nod", "4-point-nod", "along-slit-nod"})
ACQ_EXP_TYPES = frozenset({
    "mir_tacq", "mir_taconfirm", "nis_taconfirm", "nis_tacq", "nrc_taconfirm", "nrc_tacq", "nrs_confirm",
    "nrs_msata", "nrs_taconfirm", "nrs_tacq", "nrs_taslit", "nrs_verify", "nrs_wata",
})
# jwst's EXPTYPE_MAP (3.0.0): EXP_TYPEs whose members are not science (darks, flats, lamps, ...) by their type;
# NRS_VERIFY is not in it: a verification image on a science pointing is science, as in jwst. The FGS entries
# are ours (jwst's map has none); no level-3 rule takes an FGS exposure, so they change no association.
_NON_SCIENCE = {
    "mir_darkall": "dark", "mir_darkimg": "dark", "mir_darkmrs": "dark", "mir_flatimage": "flat",
    "mir_flatmrs": "flat", "mir_flatimage-ext": "flat", "mir_flatmrs-ext": "flat", "mir_tacq": "target_acquisition",
    "mir_taconfirm": "target_acquisition", "nis_dark": "dark", "nis_focus": "engineering", "nis_lamp": "engineering",
    "nis_tacq": "target_acquisition", "nis_taconfirm": "target_acquisition", "nrc_dark": "dark",
    "nrc_flat": "flat", "nrc_focus": "engineering", "nrc_led": "engineering", "nrc_tacq": "target_acquisition",
    "nrc_taconfirm": "target_acquisition", "nrs_autoflat": "autoflat", "nrs_autowave": "autowave",
    "nrs_confirm": "target_acquisition", "nrs_dark": "dark", "nrs_focus": "engineering", "nrs_image": "engineering",
    "nrs_lamp": "engineering", "nrs_msata": "target_acquisition", "nrs_tacq": "target_acquisition",
    "nrs_taconfirm": "target_acquisition", "nrs_taslit": "target_acquisition",
    "nrs_wata": "target_acquisition", "fgs_dark": "dark", "fgs_focus": "engineering", "fgs_skyflat": "flat",
    "fgs_intflat": "flat",
}
# jwst's NRS_FSS_VALID_OPTICAL_PATHS: (slit, grating, filter, detector) that put light on the detector;
# every "A" slit (S200A1, S200A2, S400A1, S1600A1) is "a".
_NRS_FSS_PATHS = frozenset({
    ("a", "prism", "clear", "nrs1"), ("a", "g395h", "f290lp", "nrs1"), ("a", "g395h", "f290lp", "nrs2"),
    ("a", "g235h", "f170lp", "nrs1"), ("a", "g235h", "f170lp", "nrs2"), ("a", "g140h", "f100lp", "nrs1"),
    ("a", "g140h", "f100lp", "nrs2"), ("a", "g140h", "f070lp", "nrs1"), ("a", "g395m", "f290lp", "nrs1"),
    ("a", "g235m", "f170lp", "nrs1"), ("a", "g140m", "f100lp", "nrs1"), ("a", "g140m", "f070lp", "nrs1"),
    ("s200b1", "prism", "clear", "nrs2"), ("s200b1", "g395h", "f290lp", "nrs2"),
    ("s200b1", "g235h", "f170lp", "nrs2"), ("s200b1", "g140h", "f100lp", "nrs2"),
    ("s200b1", "g140h", "f070lp", "nrs1"), ("s200b1", "g140h", "f070lp", "nrs2"),
    ("s200b1", "g395m", "f290lp", "nrs2"), ("s200b1", "g235m", "f170lp", "nrs2"),
    ("s200b1", "g140m", "f100lp", "nrs2"), ("s200b1", "g140m", "f070lp", "nrs1"),
    ("s200b1", "g140m", "f070lp", "nrs2"),
})
# jwst's NRS_IFU_VALID_OPTICAL_PATHS: (grating, filter, detector).
_NRS_IFU_PATHS = frozenset({
    ("prism", "clear", "nrs1"), ("g140m", "f070lp", "nrs1"), ("g140m", "f100lp", "nrs1"),
    ("g235m", "f170lp", "nrs1"), ("g395m", "f290lp", "nrs1"), ("g140h", "f070lp", "nrs1"),
    ("g140h", "f100lp", "nrs1"), ("g140h", "f100lp", "nrs2"), ("g235h", "f170lp", "nrs1"),
    ("g235h", "f170lp", "nrs2"), ("g395h", "f290lp", "nrs1"), ("g395h", "f290lp", "nrs2"),
})
_NRC_DHS_SUBARRAYS = frozenset({"sub260stripe4_dhs", "sub41stripe1_dhs", "sub82stripe2_dhs", "sub164stripe4_dhs"})
_A_SLITS = ("s200a1", "s200a2")


def row_exptype(row: PoolRow) -> str:
    """jwst's member type of an exposure: the pointing type when not science (``target_acquisition``), the
    EXP_TYPE's class (dark, flat, ...), else ``psf`` (IS_PSF), ``imprint`` (IS_IMPRT), ``background``
    (BKGDTARG) or ``science``."""
    pointing = row["pntgtype"]
    if pointing and pointing != "science":
        return pointing
    kind = _NON_SCIENCE.get(row["exp_type"], "science")
    if kind != "science":
        return kind
    for special, column in (("psf", "is_psf"), ("imprint", "is_imprt"), ("background", "bkgdtarg")):
        if row.is_set(column):
            return special
    return kind


def _is_tso(row: PoolRow) -> bool:
    """jwst's Constraint_TSO: a science pointing with TSOVISIT set or a time-series EXP_TYPE."""
    return row["pntgtype"] == "science" and (row["tsovisit"] == "t" or row["exp_type"] in TSO_EXP_TYPES)


def _valid_coron_detector(row: PoolRow) -> bool:
    """jwst's nrccoron_valid_detector: DETECTOR, SUBARRAY and PUPIL set, and in full frame MASKBAR sees the
    target only on NRCA4, MASKRND only on NRCA2."""
    if not (row["detector"] and row["subarray"] and row["pupil"]):
        return False
    if row["subarray"] != "full":
        return True
    if row["pupil"] == "maskbar":
        return row["detector"] not in ("nrca1", "nrca2", "nrca3")
    if row["pupil"] == "maskrnd":
        return row["detector"] not in ("nrca1", "nrca3", "nrca4")
    return True


def _valid_fss_detector(row: PoolRow) -> bool:
    """jwst's nrsfss_valid_detector: the slit, grating and filter put light on this detector."""
    if not all(row[c] for c in ("detector", "filter", "grating", "fxd_slit")):
        return False
    slit = "s200b1" if row["fxd_slit"] == "s200b1" else "a"
    return (slit, row["grating"], row["filter"], row["detector"]) in _NRS_FSS_PATHS


def _valid_ifu_detector(row: PoolRow) -> bool:
    """jwst's nrsifu_valid_detector (NRS_IFU only; other EXP_TYPEs pass)."""
    if row["exp_type"] != "nrs_ifu":
        return True
    if not all(row[c] for c in ("detector", "filter", "grating")):
        return False
    return (row["grating"], row["filter"], row["detector"]) in _NRS_IFU_PATHS


def use_integrations(row: PoolRow, rule: Level3Rule) -> bool:
    """jwst names a member's product per integration (``_calints``) for coronagraphic exposures on a detector
    that sees the target (unless the rule takes them as images), AMI and time series; never for target
    acquisitions."""
    if row["pntgtype"] != "science" or row["exp_type"] in ACQ_EXP_TYPES:
        return False
    if rule.coron_as_image and row["exp_type"] in CORON_EXP_TYPES:
        return _is_tso(row)
    if row["exp_type"] == "nrc_coron":
        return _valid_coron_detector(row)
    return row["exp_type"] in CORON_EXP_TYPES or row["exp_type"] == "nis_ami" or _is_tso(row)


def _second_element(row: PoolRow) -> str:
    return row["pupil"] or row["grating"]


def _slit_key(row: PoolRow) -> str:
    """jwst's slit constraint: S200A1 and S200A2 (the "A" slits) are one value, any other slit its own."""
    return "s200a" if row["fxd_slit"] in _A_SLITS else row["fxd_slit"]


def _optical_path(row: PoolRow) -> tuple[str, ...]:
    """jwst's Constraint_Base and Constraint_Optical_Path: program, instrument, filter, pupil or grating,
    slit and subarray."""
    return (row["program"], row["instrume"], row["filter"], _second_element(row), _slit_key(row), row["subarray"])


def _path_elements(row: PoolRow) -> tuple[str, ...]:
    return (row["filter"], _second_element(row))


@dataclass(slots=True)
class CandidateGroup:
    """The exposures one rule gathers in one candidate under one key."""

    candidate: Candidate
    key: tuple[str, ...]
    target: str
    rows: list[PoolRow] = field(default_factory=list)
    joined: list[PoolRow] = field(default_factory=list)
    """Rows of other targets that join every group of the candidate's key (backgrounds, PSF references)."""

    def target_name(self, rule: Level3Rule) -> str:
        """The target of the product name: the science members' target (PSF references and backgrounds
        have their own); ``t000`` for an image mosaic, whose rule does not constrain the target."""
        if rule.asn_type is AsnType.IMAGE3 and self.candidate.type == "mosaic":
            return "t000"
        targets = sorted({r["targetid"] for r in self.rows if member_type(rule, r) == "science"}
                         or {r["targetid"] for r in self.rows})
        return "t" + "-".join(targets).rjust(3, "0")


Key = tuple[tuple[str, ...], str]


@dataclass(frozen=True, slots=True)
class Level3Rule:
    """One of jwst's level-3 rules (see the module docstring)."""

    asn_type: AsnType
    name: str
    applies: Callable[[PoolRow, Candidate], bool]
    key: Callable[[PoolRow, Candidate], Key]
    template: str
    elements: Callable[[PoolRow], tuple[str, ...]] = _path_elements
    slit_and_subarray: bool = True
    valid: Callable[[CandidateGroup, Level3Rule], bool] = lambda g, r: _has_science(g, r)
    joins: Callable[[PoolRow], bool] | None = None
    aux: bool = False
    """jwst's AsnMixin_AuxData: every member is science (target acquisitions excepted)."""
    nod_backgrounds: bool = False
    coron_as_image: bool = False
    """jwst's Asn_Lv3NRCCoronImage: coronagraphic exposures taken as plain images (``_cal`` members)."""
    candidate_types: frozenset[str] = frozenset()
    """Only these candidate types (empty: any)."""


def member_type(rule: Level3Rule, row: PoolRow) -> str:
    """The member type of an exposure in an association of ``rule``."""
    kind = row_exptype(row)
    if rule.aux and kind != "target_acquisition":
        return "science"
    return kind


def _has(group: CandidateGroup, rule: Level3Rule, kind: str) -> bool:
    return any(member_type(rule, r) == kind for r in group.rows)


def _has_science(group: CandidateGroup, rule: Level3Rule) -> bool:
    """jwst's default validity: a science member, and two observations for a multi-observation candidate."""
    return _has(group, rule, "science") and _multi_observation_ok(group)


def _multi_observation_ok(group: CandidateGroup) -> bool:
    if group.candidate.type in MULTI_OBSERVATION_TYPES:
        return len({r["obs_num"] for r in group.rows} | {r["obs_num"] for r in group.joined}) > 1
    return True


def _optical_element(elements: tuple[str, ...]) -> str:
    return "-".join(sorted((e for e in elements if e), key=str.lower)) or "clear"


def rule_product_name(group: CandidateGroup, rule: Level3Rule) -> str:
    """The product name jwst gives the group's association (lower case)."""
    row = group.rows[0]
    slit = subarray = ""
    if rule.slit_and_subarray:
        slits = sorted({r["fxd_slit"] for r in group.rows if r["fxd_slit"]}, key=str.lower)
        slit = "".join(f"-{name}" for name in slits)  # jwst names the slit(s) whenever FXD_SLIT is set
        subarray = f"-{row['subarray']}" if row["subarray"] and row["subarray"] != "full" else ""
    name = rule.template.format(
        program=row["program"].zfill(5), acid=group.candidate.id, target=group.target_name(rule),
        instrument=row["instrume"], opt_elem=_optical_element(rule.elements(row)), slit=slit, subarray=subarray,
        detector=row["detector"], act_id=row["act_id"].zfill(2))
    return name.lower()


# --- which exposures each rule takes --------------------------------------------------------------------

def _science_pointing(row: PoolRow) -> bool:
    return row_exptype(row) != "target_acquisition"


def _image3(row: PoolRow, candidate: Candidate) -> bool:
    return (row["exp_type"] in IMAGE_EXP_TYPES and "wfsc" not in row["visitype"] and not row.is_set("bkgdtarg")
            and not _is_tso(row) and row_exptype(row) in ("science", "psf"))  # a PSF image joins as ``psf``


def _image_background(row: PoolRow, candidate: Candidate) -> bool:
    """jwst's Asn_Lv3ImageBackground: imaging of a background target (BKGDTARG set), not TSO."""
    return (row["exp_type"] in IMAGE_EXP_TYPES and "wfsc" not in row["visitype"] and row.is_set("bkgdtarg")
            and not _is_tso(row) and _science_pointing(row))


def _image3_key(row: PoolRow, candidate: Candidate) -> Key:
    return _optical_path(row), "" if candidate.type == "mosaic" else row["targetid"]


def _wfs(row: PoolRow, candidate: Candidate) -> bool:
    return (row["exp_type"] in IMAGE_EXP_TYPES and row["patttype"] == "wfsc" and row["dms_note"] != "wfsc_los_jitter"
            and candidate.type != "group" and row_exptype(row) == "science")


def _wfs_key(row: PoolRow, candidate: Candidate) -> Key:
    return (*_optical_path(row), row["detector"], row["obs_id"], row["act_id"]), row["targetid"]


def _coron_exposure(row: PoolRow) -> bool:
    if row.is_set("bkgdtarg") or row_exptype(row) not in ("science", "psf"):
        return False
    if row["exp_type"] == "nrc_coron":
        return _valid_coron_detector(row)
    return row["exp_type"] in ("mir_lyot", "mir_4qpm")


def _coron(row: PoolRow, candidate: Candidate) -> bool:
    """Coronagraphic science exposures form the groups (one per science target, as jwst constrains the
    target of science members only); PSF references join every group (:func:`_coron_psf`)."""
    return _coron_exposure(row) and row_exptype(row) == "science"


def _coron_psf(row: PoolRow) -> bool:
    return _coron_exposure(row) and row_exptype(row) == "psf"


def _coron_image(row: PoolRow, candidate: Candidate) -> bool:
    """jwst's Asn_Lv3NRCCoronImage: full-frame NRC_CORON on the short-wave channel, no background target,
    no PSF reference (IS_PSF=T)."""
    return (row["exp_type"] == "nrc_coron" and row["channel"] == "short" and row["subarray"] == "full"
            and not row.is_set("bkgdtarg") and row["is_psf"] != "t" and _science_pointing(row))


def _coron_image_key(row: PoolRow, candidate: Candidate) -> Key:
    return _optical_path(row), row["targetid"] if row_exptype(row) == "science" else ""


def _ami(row: PoolRow, candidate: Candidate) -> bool:
    return row["exp_type"] == "nis_ami" and row_exptype(row) == "science"


def _ami_psf(row: PoolRow) -> bool:
    return row["exp_type"] == "nis_ami" and row_exptype(row) == "psf"


def _path_only(row: PoolRow, candidate: Candidate) -> Key:
    return _optical_path(row), ""


def _path_and_target(row: PoolRow, candidate: Candidate) -> Key:
    return _optical_path(row), row["targetid"]


def _tso(row: PoolRow, candidate: Candidate) -> bool:
    exp_type = row["exp_type"]
    if not _is_tso(row) or not exp_type or exp_type in IFU_EXP_TYPES or row["subarray"] in _NRC_DHS_SUBARRAYS:
        return False
    if exp_type == "nrc_tsgrism" and (row["pupil"] in ("clear", "gdhs0", "gdhs60") or row["detector"] == "nrcblong"):
        return False  # NIRCam grism engineering modes
    if exp_type == "nis_soss" and (row["nints"] == "1" or row["filter"] == "f277w"):
        return False  # one integration, or an uncalibrated filter
    return exp_type != "nrs_brightobj" or _valid_fss_detector(row)  # a detector the slit lights


def _tso_key(row: PoolRow, candidate: Candidate) -> Key:
    return (*_optical_path(row), row["exp_type"]), row["targetid"]


def _spectral(test: Callable[[PoolRow], bool], *, tso_ok: bool = False) -> tuple[
        Callable[[PoolRow, Candidate], bool], Callable[[PoolRow], bool]]:
    """``applies`` (science, not a background) and ``joins`` (a background) for a spectroscopic rule whose
    exposures pass ``test``."""
    def base(row: PoolRow) -> bool:
        return (tso_ok or not _is_tso(row)) and _science_pointing(row) and test(row)

    return ((lambda row, candidate: base(row) and row_exptype(row) != "background"),
            (lambda row: base(row) and row_exptype(row) == "background"))


def _aux(test: Callable[[PoolRow], bool]) -> Callable[[PoolRow, Candidate], bool]:
    """``applies`` for a background-target rule: the exposures with BKGDTARG = T, as science."""
    return lambda row, candidate: (not _is_tso(row) and _science_pointing(row) and row["bkgdtarg"] == "t"
                                   and test(row))


def _mrs(row: PoolRow) -> bool:
    return row["exp_type"] == "mir_mrs"


def _fss(row: PoolRow) -> bool:
    return row["exp_type"] in ("nrs_autoflat", "nrs_autowave", "nrs_fixedslit") and _valid_fss_detector(row)


def _ifu(row: PoolRow) -> bool:
    return (row["exp_type"] in ("nrs_autowave", "nrs_ifu") and _valid_ifu_detector(row) and bool(row["patttype"])
            and bool(row["grating"]))


def _ifu_background(row: PoolRow) -> bool:
    return row["exp_type"] == "nrs_ifu" and _valid_ifu_detector(row) and bool(row["grating"])


def _soss(row: PoolRow) -> bool:
    return row["exp_type"] == "nis_soss" and not row["patttype"]


def _msa(row: PoolRow) -> bool:
    return (row["exp_type"] in ("nrs_autoflat", "nrs_autowave")
            or (row["exp_type"] == "nrs_msaspec" and bool(row["msametfl"])))


def _nodded(row: PoolRow) -> bool:
    return row["exp_type"] in ("mir_lrs-fixedslit", "nis_soss") and row["patttype"] in NOD_PATTERNS


def _wfss_nis(row: PoolRow) -> bool:
    return row["exp_type"] == "nis_wfss" and row["filter"] in ("gr150r", "gr150c") and bool(row["pupil"])


def _wfss_nrc(row: PoolRow) -> bool:
    return row["exp_type"] == "nrc_wfss" and row["pupil"] in ("grismr", "grismc") and bool(row["filter"])


def _wfss_mir(row: PoolRow) -> bool:
    return row["exp_type"] == "mir_wfss" and row["filter"] == "p750l"


def _base_key(row: PoolRow, candidate: Candidate) -> Key:
    return (row["program"], row["instrume"]), row["targetid"]


def _ifu_key(row: PoolRow, candidate: Candidate) -> Key:
    return (row["program"], row["instrume"], row["patttype"], row["grating"]), row["targetid"]


def _ifu_background_key(row: PoolRow, candidate: Candidate) -> Key:
    return (row["program"], row["instrume"], row["grating"]), row["targetid"]


def _aux_key(row: PoolRow, candidate: Candidate) -> Key:
    return (*_optical_path(row), row["exp_type"]), row["targetid"]


def _nod_key(row: PoolRow, candidate: Candidate) -> Key:
    return (*_optical_path(row), row["patttype"]), row["targetid"]


def _filter_pupil_key(row: PoolRow, candidate: Candidate) -> Key:
    return (row["program"], row["instrume"], row["filter"], row["pupil"]), row["targetid"]


def _filter_key(row: PoolRow, candidate: Candidate) -> Key:
    return (row["program"], row["instrume"], row["filter"]), row["targetid"]


_DEFAULT = "jw{program}-{acid}_{target}_{instrument}_{opt_elem}{slit}{subarray}"
_NOOPT = "jw{program}-{acid}_{target}_{instrument}"
_SOURCES = "jw{program}-{acid}_{{source_id}}_{instrument}_{opt_elem}{slit}{subarray}"
_FSS = "jw{program}-{acid}_{target}-{{source_id}}_{instrument}_{opt_elem}-{{slit_name}}{subarray}"
_WFS = _DEFAULT + "-{detector}_{{suffix}}-{act_id}"
_CORON_IMAGE = "jw{program}-{acid}_{target}_{instrument}_{opt_elem}{subarray}-image3"

_MRS, _MRS_BKG = _spectral(_mrs)
_FSS_SCI, _FSS_BKG = _spectral(_fss)
_IFU_SCI, _IFU_BKG = _spectral(_ifu)
_SOSS_SCI, _SOSS_BKG = _spectral(_soss)
_MSA_SCI, _MSA_BKG = _spectral(_msa)
_NOD_SCI, _NOD_BKG = _spectral(_nodded)
_NIS_SCI, _NIS_BKG = _spectral(_wfss_nis, tso_ok=True)
_NRC_SCI, _NRC_BKG = _spectral(_wfss_nrc, tso_ok=True)
_MIR_SCI, _MIR_BKG = _spectral(_wfss_mir, tso_ok=True)


def _psf_and_science(group: CandidateGroup, rule: Level3Rule) -> bool:
    return bool(group.joined) and _has(group, rule, "science") and _multi_observation_ok(group)


_A = AsnType
RULES: tuple[Level3Rule, ...] = (
    Level3Rule(_A.IMAGE3, "Asn_Lv3Image", _image3, _image3_key, _DEFAULT),
    Level3Rule(_A.IMAGE3, "Asn_Lv3NRCCoronImage", _coron_image, _coron_image_key, _CORON_IMAGE, coron_as_image=True),
    Level3Rule(_A.IMAGE3, "Asn_Lv3ImageBackground", _image_background, _image3_key, _DEFAULT, aux=True),
    Level3Rule(_A.WFS_IMAGE3, "Asn_Lv3WFSCMB", _wfs, _wfs_key, _WFS,
         valid=lambda g, r: len(g.rows) >= 2 and _multi_observation_ok(g)),
    Level3Rule(_A.CORON3, "Asn_Lv3Coron", _coron, _path_and_target, _DEFAULT, valid=_psf_and_science,
               joins=_coron_psf),
    Level3Rule(_A.AMI3, "Asn_Lv3AMI", _ami, _path_and_target, _DEFAULT, valid=_psf_and_science, joins=_ami_psf),
    Level3Rule(_A.TSO3, "Asn_Lv3TSO", _tso, _tso_key, _DEFAULT, candidate_types=frozenset({"observation"})),
    Level3Rule(_A.SPEC3, "Asn_Lv3MIRMRS", _MRS, _base_key, _NOOPT, joins=_MRS_BKG),
    Level3Rule(_A.SPEC3, "Asn_Lv3MIRMRSBackground", _aux(_mrs), _base_key, _NOOPT, aux=True),
    Level3Rule(_A.SPEC3, "Asn_Lv3NRSFSS", _FSS_SCI, _path_and_target, _FSS, joins=_FSS_BKG),
    Level3Rule(_A.SPEC3, "Asn_Lv3NRSIFU", _IFU_SCI, _ifu_key, _DEFAULT, elements=lambda r: (r["grating"],),
         joins=_IFU_BKG, slit_and_subarray=False),
    Level3Rule(_A.SPEC3, "Asn_Lv3NRSIFUBackground", _aux(_ifu_background), _ifu_background_key, _DEFAULT,
         elements=lambda r: (r["grating"],), aux=True, slit_and_subarray=False),
    Level3Rule(_A.SPEC3, "Asn_Lv3SlitlessSpectral", _SOSS_SCI, _path_and_target, _DEFAULT, joins=_SOSS_BKG),
    Level3Rule(_A.SPEC3, "Asn_Lv3SpecAux", _aux(lambda r: r["exp_type"] in ("mir_lrs-fixedslit", "nrs_fixedslit")),
         _aux_key, _DEFAULT, aux=True),
    Level3Rule(_A.SPEC3, "Asn_Lv3SpectralSource", _MSA_SCI, _path_and_target, _SOURCES, joins=_MSA_BKG),
    Level3Rule(_A.SPEC3, "Asn_Lv3SpectralTarget", _NOD_SCI, _nod_key, _DEFAULT, joins=_NOD_BKG, nod_backgrounds=True),
    Level3Rule(_A.SPEC3, "Asn_Lv3WFSSNIS", _NIS_SCI, _filter_pupil_key, _DEFAULT, joins=_NIS_BKG,
               slit_and_subarray=False),
    Level3Rule(_A.SPEC3, "Asn_Lv3WFSSNRC", _NRC_SCI, _filter_pupil_key, _DEFAULT, joins=_NRC_BKG,
               slit_and_subarray=False),
    Level3Rule(_A.SPEC3, "Asn_Lv3WFSSMIR", _MIR_SCI, _filter_key, _DEFAULT, elements=lambda r: (r["filter"],),
         joins=_MIR_BKG, slit_and_subarray=False),
)
"""jwst's level-3 rules, in the order jwst's registry lists them (image3 from a mosaic candidate is the same
rule with no target constraint)."""

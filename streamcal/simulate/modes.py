"""The observing-mode catalogue: one :class:`ModeSpec` per EXP_TYPE of the routing table.

Each mode names its instrument and detector, default readout pattern, subarray and ramp size for the
``small`` (tests, a few hundred thousand pixels at most) and ``full`` (benchmarks) sizes, optical elements,
scene kind and TSO behaviour. NIRCam's short-wave modes run on NRCA3, where the SIAF has the point-source
subarrays SUB64P/SUB160P/SUB400P they use (TSO imaging's real detector). Simplifications: NIRCam coronagraphy
uses NRCA3 with SUB64P (jwst: NRCA2/NRCALONG with their coronagraphic subarrays), and full-frame-only
spectroscopic modes use realistic strip subarrays at the small size, except MIRI's LRS slit, which reads FULL at
both sizes (as MRS does): the slit lies outside every MIRI subarray (the spectral layouts,
:mod:`streamcal.simulate.spectral_layouts`, put each single-trace spectrum inside its mode's subarrays).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from streamcal.routing import ExpType

__all__ = ["MODES", "ModeSpec", "SceneKind", "Size", "SizeSpec", "TsoKind", "mode_spec"]

Size = Literal["small", "full"]
TsoKind = Literal["never", "optional", "always"]


class SceneKind(enum.StrEnum):
    """What the detector sees."""

    NONE = "none"  # darks
    UNIFORM = "uniform"  # flats, lamps
    STARS = "stars"  # imaging star field + sky
    STAR = "star"  # one star (TA, focus, guiding, TSO imaging)
    CORON = "coron"  # a star behind a coronagraphic mask, plus a faint companion
    AMI = "ami"  # a star through the non-redundant mask (fringed PSF)
    TRACE = "trace"  # one point source's spectrum through the mode's spectral layout (spectra.py)
    MULTI_TRACE = "multi_trace"  # several traces (MOS slits, WFSS sources; the IFU modes render their slicer: ifu.py)
    LINES = "lines"  # lamp emission lines along traces


@dataclass(frozen=True, slots=True)
class SizeSpec:
    """Subarray name, NGROUPS and NINTS of one size of a mode."""

    subarray: str
    ngroups: int
    nints: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeSpec:
    """Everything the simulator needs to know about one EXP_TYPE.

    Attributes
    ----------
    exp_type : ExpType
    detector : str
        DETECTOR value (see :data:`streamcal.simulate.geometry.DETECTORS`).
    readpatt : str
    small, full : SizeSpec
    scene : SceneKind
    optics : mapping of str to str
        FILTER, PUPIL, GRATING, BAND, CHANNEL, CORONMSK, FXD_SLIT, LAMP, OPMODE as applicable.
    wavelength : float
        Representative wavelength, µm (sets the PSF width).
    tso : {"never", "optional", "always"}
    pntgtype : str
        PNTGTYPE: science, target_acquisition or engineering.
    dispaxis : int
        1 = dispersion along x, 2 = along y (spectral scenes).
    """

    exp_type: ExpType
    detector: str
    readpatt: str
    small: SizeSpec
    full: SizeSpec
    scene: SceneKind
    optics: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    wavelength: float = 2.0
    tso: TsoKind = "never"
    pntgtype: str = "science"
    dispaxis: int = 1

    @property
    def guider(self) -> bool:
        """True for the FGS guiding modes (calwebb_guider)."""
        return self.readpatt in {"ID", "ACQ1", "ACQ2", "TRACK", "FINEGUIDE"}

    def size(self, size: Size) -> SizeSpec:
        """The SizeSpec for ``"small"`` or ``"full"``."""
        return self.small if size == "small" else self.full


def _m(exp_type: ExpType, detector: str, readpatt: str, small: tuple[str, int, int], full: tuple[str, int, int],
       scene: SceneKind, *, wavelength: float = 2.0, tso: TsoKind = "never", pntgtype: str = "science",
       dispaxis: int = 1, optics: dict[str, str] | None = None, **more: str) -> ModeSpec:
    return ModeSpec(exp_type=exp_type, detector=detector, readpatt=readpatt, small=SizeSpec(*small),
                    full=SizeSpec(*full), scene=scene, optics=MappingProxyType({**(optics or {}), **more}),
                    wavelength=wavelength, tso=tso, pntgtype=pntgtype, dispaxis=dispaxis)


_E = ExpType
_S = SceneKind
_ENG = "engineering"
_TA = "target_acquisition"
_NRC_IMG = {"FILTER": "F200W", "PUPIL": "CLEAR"}
_NIS_IMG = {"FILTER": "CLEAR", "PUPIL": "F150W"}
_NRS_TA = {"FILTER": "F110W", "GRATING": "MIRROR"}
_MRS = {"BAND": "SHORT", "CHANNEL": "12"}

_CATALOGUE: tuple[ModeSpec, ...] = (
    # FGS (GUIDER1)
    _m(_E.FGS_DARK, "GUIDER1", "FGSRAPID", ("SUB128LL", 6, 1), ("FULL", 10, 1), _S.NONE, pntgtype=_ENG),
    _m(_E.FGS_SKYFLAT, "GUIDER1", "FGSRAPID", ("SUB128LL", 5, 1), ("FULL", 5, 1), _S.UNIFORM, pntgtype=_ENG),
    _m(_E.FGS_INTFLAT, "GUIDER1", "FGSRAPID", ("SUB128LL", 5, 1), ("FULL", 5, 1), _S.UNIFORM, pntgtype=_ENG),
    _m(_E.FGS_FOCUS, "GUIDER1", "FGSRAPID", ("SUB128LL", 5, 1), ("FULL", 5, 1), _S.STAR, pntgtype=_ENG),
    _m(_E.FGS_IMAGE, "GUIDER1", "FGSRAPID", ("SUB128LL", 6, 1), ("FULL", 10, 1), _S.STARS),
    _m(_E.FGS_ID_STACK, "GUIDER1", "ID", ("SUB128LL", 2, 2), ("FULL", 2, 2), _S.STAR, pntgtype=_ENG),
    _m(_E.FGS_ID_IMAGE, "GUIDER1", "ID", ("SUB128LL", 2, 2), ("FULL", 2, 2), _S.STAR, pntgtype=_ENG),
    _m(_E.FGS_ACQ1, "GUIDER1", "ACQ1", ("SUB128CNTR", 2, 4), ("SUB128CNTR", 2, 6), _S.STAR, pntgtype=_ENG),
    _m(_E.FGS_ACQ2, "GUIDER1", "ACQ2", ("SUB32CNTR", 2, 5), ("SUB32CNTR", 2, 5), _S.STAR, pntgtype=_ENG),
    _m(_E.FGS_TRACK, "GUIDER1", "TRACK", ("SUB32CNTR", 2, 10), ("SUB32CNTR", 2, 200), _S.STAR, pntgtype=_ENG),
    _m(_E.FGS_FINEGUIDE, "GUIDER1", "FINEGUIDE", ("SUB8CNTR", 8, 10), ("SUB8CNTR", 8, 500), _S.STAR,
       pntgtype=_ENG),
    # MIRI
    _m(_E.MIR_DARKIMG, "MIRIMAGE", "FASTR1", ("SUB64", 8, 2), ("FULL", 10, 2), _S.NONE, pntgtype=_ENG,
       wavelength=5.6, FILTER="OPAQUE"),
    _m(_E.MIR_DARKMRS, "MIRIFUSHORT", "FASTR1", ("FULL", 4, 1), ("FULL", 10, 2), _S.NONE, pntgtype=_ENG,
       wavelength=5.0, optics=_MRS),
    _m(_E.MIR_FLATIMAGE, "MIRIMAGE", "FASTR1", ("SUB64", 6, 1), ("FULL", 10, 1), _S.UNIFORM, pntgtype=_ENG,
       wavelength=5.6, FILTER="F560W"),
    _m(_E.MIR_FLATIMAGE_EXT, "MIRIMAGE", "FASTR1", ("SUB64", 6, 1), ("FULL", 10, 1), _S.UNIFORM,
       pntgtype=_ENG, wavelength=5.6, FILTER="F560W"),
    _m(_E.MIR_FLATMRS, "MIRIFUSHORT", "FASTR1", ("FULL", 4, 1), ("FULL", 10, 1), _S.UNIFORM, pntgtype=_ENG,
       wavelength=5.0, optics=_MRS),
    _m(_E.MIR_FLATMRS_EXT, "MIRIFUSHORT", "FASTR1", ("FULL", 4, 1), ("FULL", 10, 1), _S.UNIFORM,
       pntgtype=_ENG, wavelength=5.0, optics=_MRS),
    _m(_E.MIR_TACQ, "MIRIMAGE", "FASTR1", ("SUB64", 6, 1), ("FULL", 6, 1), _S.STAR, pntgtype=_TA,
       wavelength=10.0, FILTER="F1000W"),
    _m(_E.MIR_CORONCAL, "MIRIMAGE", "FASTR1", ("MASK1065", 5, 1), ("MASK1065", 10, 1), _S.UNIFORM,
       pntgtype=_ENG, wavelength=10.65, FILTER="F1065C"),
    _m(_E.MIR_IMAGE, "MIRIMAGE", "FASTR1", ("SUB64", 8, 2), ("FULL", 10, 1), _S.STARS, wavelength=7.7,
       tso="optional", FILTER="F770W"),
    _m(_E.MIR_LRS_FIXEDSLIT, "MIRIMAGE", "FASTR1", ("FULL", 5, 1), ("FULL", 10, 1), _S.TRACE,
       wavelength=7.5, dispaxis=2, FILTER="P750L"),
    _m(_E.MIR_LRS_SLITLESS, "MIRIMAGE", "FASTR1", ("SLITLESSPRISM", 6, 2), ("SLITLESSPRISM", 10, 10),
       _S.TRACE, wavelength=7.5, dispaxis=2, tso="optional", FILTER="P750L"),
    _m(_E.MIR_MRS, "MIRIFUSHORT", "FASTR1", ("FULL", 5, 1), ("FULL", 10, 1), _S.MULTI_TRACE, wavelength=5.0,
       dispaxis=2, optics=_MRS),
    _m(_E.MIR_LYOT, "MIRIMAGE", "FASTR1", ("MASKLYOT", 5, 2), ("MASKLYOT", 10, 2), _S.CORON, wavelength=23.0,
       FILTER="F2300C"),
    _m(_E.MIR_4QPM, "MIRIMAGE", "FASTR1", ("MASK1065", 5, 2), ("MASK1065", 10, 2), _S.CORON,
       wavelength=10.65, FILTER="F1065C"),
    # NIRCam
    _m(_E.NRC_DARK, "NRCA3", "RAPID", ("SUB64P", 10, 1), ("FULL", 10, 1), _S.NONE, pntgtype=_ENG, optics=_NRC_IMG),
    _m(_E.NRC_FLAT, "NRCA3", "RAPID", ("SUB64P", 6, 1), ("FULL", 5, 1), _S.UNIFORM, pntgtype=_ENG, optics=_NRC_IMG),
    _m(_E.NRC_LED, "NRCA3", "RAPID", ("SUB64P", 6, 1), ("FULL", 5, 1), _S.UNIFORM, pntgtype=_ENG, optics=_NRC_IMG),
    _m(_E.NRC_GRISM, "NRCALONG", "RAPID", ("SUBGRISM64", 5, 1), ("FULL", 5, 1), _S.TRACE, wavelength=3.2,
       pntgtype=_ENG, FILTER="F322W2", PUPIL="GRISMR"),
    _m(_E.NRC_TACQ, "NRCA3", "RAPID", ("SUB32TATS", 6, 1), ("SUB32TATS", 10, 1), _S.STAR, pntgtype=_TA,
       optics=_NRC_IMG),
    _m(_E.NRC_TACONFIRM, "NRCA3", "RAPID", ("SUB32TATS", 6, 1), ("SUB32TATS", 10, 1), _S.STAR, pntgtype=_TA,
       optics=_NRC_IMG),
    _m(_E.NRC_FOCUS, "NRCA3", "RAPID", ("SUB64P", 6, 1), ("FULL", 5, 1), _S.STAR, pntgtype=_ENG, optics=_NRC_IMG),
    _m(_E.NRC_IMAGE, "NRCA3", "BRIGHT2", ("SUB64P", 8, 1), ("FULL", 10, 1), _S.STARS, optics=_NRC_IMG),
    _m(_E.NRC_CORON, "NRCA3", "RAPID", ("SUB64P", 6, 2), ("SUB320A210R", 10, 3), _S.CORON, wavelength=2.1,
       FILTER="F210M", PUPIL="MASKRND", CORONMSK="MASKA210R"),
    _m(_E.NRC_WFSS, "NRCALONG", "RAPID", ("SUBGRISM64", 5, 1), ("FULL", 8, 1), _S.MULTI_TRACE, wavelength=3.6,
       FILTER="F356W", PUPIL="GRISMR"),
    _m(_E.NRC_TSIMAGE, "NRCA3", "RAPID", ("SUB64P", 5, 4), ("SUB160P", 10, 50), _S.STAR, wavelength=2.1,
       tso="always", FILTER="F210M", PUPIL="WLP8"),
    _m(_E.NRC_TSGRISM, "NRCALONG", "RAPID", ("SUBGRISM64", 4, 4), ("SUBGRISM256", 10, 20), _S.TRACE,
       wavelength=3.2, tso="always", FILTER="F322W2", PUPIL="GRISMR"),
    # NIRISS
    _m(_E.NIS_DARK, "NIS", "NISRAPID", ("SUB64", 10, 1), ("FULL", 10, 1), _S.NONE, pntgtype=_ENG, optics=_NIS_IMG),
    _m(_E.NIS_LAMP, "NIS", "NISRAPID", ("SUB64", 6, 1), ("FULL", 5, 1), _S.UNIFORM, pntgtype=_ENG, optics=_NIS_IMG),
    _m(_E.NIS_EXTCAL, "NIS", "NISRAPID", ("SUB64", 6, 1), ("FULL", 5, 1), _S.UNIFORM, pntgtype=_ENG,
       optics=_NIS_IMG),
    _m(_E.NIS_TACQ, "NIS", "NISRAPID", ("SUBTAAMI", 6, 1), ("SUBTAAMI", 10, 1), _S.STAR, pntgtype=_TA,
       FILTER="F480M", PUPIL="CLEARP"),
    _m(_E.NIS_TACONFIRM, "NIS", "NISRAPID", ("SUBTAAMI", 6, 1), ("SUBTAAMI", 10, 1), _S.STAR, pntgtype=_TA,
       FILTER="F480M", PUPIL="CLEARP"),
    _m(_E.NIS_FOCUS, "NIS", "NISRAPID", ("SUB64", 6, 1), ("FULL", 5, 1), _S.STAR, pntgtype=_ENG, optics=_NIS_IMG),
    _m(_E.NIS_IMAGE, "NIS", "NISRAPID", ("SUB64", 8, 1), ("FULL", 10, 1), _S.STARS, wavelength=1.5, optics=_NIS_IMG),
    _m(_E.NIS_AMI, "NIS", "NISRAPID", ("SUB80", 6, 3), ("SUB80", 10, 20), _S.AMI, wavelength=4.8,
       FILTER="F480M", PUPIL="NRM"),
    _m(_E.NIS_WFSS, "NIS", "NISRAPID", ("WFSS64R", 5, 1), ("FULL", 8, 1), _S.MULTI_TRACE, wavelength=1.5,
       FILTER="GR150R", PUPIL="F150W"),
    _m(_E.NIS_SOSS, "NIS", "NISRAPID", ("SUBSTRIP96", 4, 3), ("SUBSTRIP256", 10, 20), _S.TRACE, wavelength=1.5,
       tso="optional", FILTER="CLEAR", PUPIL="GR700XD"),
    # NIRSpec
    _m(_E.NRS_DARK, "NRS1", "NRSRAPID", ("SUB32", 10, 1), ("FULL", 10, 1), _S.NONE, pntgtype=_ENG,
       FILTER="OPAQUE", GRATING="MIRROR"),
    # Lamps (simulate/lamps.py): the light stops at the filter wheel (FILTER=OPAQUE, as jwst's nrslamp-spec2 rule
    # requires); G395H takes LINE3/FLAT3 (jwst's NRS_FSS_VALID_LAMP_OPTICAL_PATHS); NRS_AUTOFLAT lights the MSA
    _m(_E.NRS_AUTOWAVE, "NRS1", "NRSRAPID", ("ALLSLITS", 5, 1), ("FULL", 5, 1), _S.LINES, pntgtype=_ENG,
       FILTER="OPAQUE", GRATING="G395H", LAMP="LINE3", OPMODE="FIXEDSLIT"),
    _m(_E.NRS_AUTOFLAT, "NRS1", "NRSRAPID", ("ALLSLITS", 5, 1), ("FULL", 5, 1), _S.UNIFORM, pntgtype=_ENG,
       FILTER="OPAQUE", GRATING="G395H", LAMP="FLAT3", OPMODE="MSASPEC"),
    _m(_E.NRS_LAMP, "NRS1", "NRSRAPID", ("ALLSLITS", 5, 1), ("FULL", 5, 1), _S.LINES, pntgtype=_ENG,
       FILTER="OPAQUE", GRATING="G395H", LAMP="LINE3", OPMODE="FIXEDSLIT"),
    _m(_E.NRS_IMAGE, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("FULL", 5, 1), _S.STARS, wavelength=1.1, optics=_NRS_TA),
    _m(_E.NRS_WATA, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("SUB32", 6, 1), _S.STAR, wavelength=1.1,
       pntgtype=_TA, optics=_NRS_TA),
    _m(_E.NRS_MSATA, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("FULL", 5, 1), _S.STARS, wavelength=1.1,
       pntgtype=_TA, optics=_NRS_TA),
    _m(_E.NRS_TACONFIRM, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("FULL", 5, 1), _S.STAR, wavelength=1.1,
       pntgtype=_TA, optics=_NRS_TA),
    _m(_E.NRS_CONFIRM, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("FULL", 5, 1), _S.STAR, wavelength=1.1,
       pntgtype=_TA, optics=_NRS_TA),
    _m(_E.NRS_FOCUS, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("FULL", 5, 1), _S.STAR, wavelength=1.1,
       pntgtype=_ENG, optics=_NRS_TA),
    _m(_E.NRS_MIMF, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("FULL", 5, 1), _S.STAR, wavelength=1.1,
       pntgtype=_ENG, optics=_NRS_TA),
    _m(_E.NRS_FIXEDSLIT, "NRS1", "NRSRAPID", ("SUBS200A1", 6, 1), ("FULL", 10, 1), _S.TRACE, wavelength=3.5,
       FILTER="F290LP", GRATING="G395H", FXD_SLIT="S200A1"),
    _m(_E.NRS_IFU, "NRS1", "NRSRAPID", ("ALLSLITS", 5, 1), ("FULL", 10, 1), _S.MULTI_TRACE, wavelength=3.5,
       FILTER="F290LP", GRATING="G395H"),
    _m(_E.NRS_MSASPEC, "NRS1", "NRSRAPID", ("ALLSLITS", 5, 1), ("FULL", 10, 1), _S.MULTI_TRACE, wavelength=3.5,
       FILTER="F290LP", GRATING="G395H"),  # the MSA's forward model (simulate/msa.py) is G395H on NRS1
    _m(_E.NRS_BRIGHTOBJ, "NRS1", "NRSRAPID", ("SUB2048", 4, 4), ("SUB2048", 10, 50), _S.TRACE, wavelength=3.5,
       tso="always", FILTER="F290LP", GRATING="G395H", FXD_SLIT="S1600A1"),
    # Beyond the seed table (routing.yaml's extension rows)
    _m(_E.MIR_DARKALL, "MIRIMAGE", "FASTR1", ("SUB64", 8, 2), ("FULL", 10, 2), _S.NONE, pntgtype=_ENG,
       wavelength=5.6, FILTER="OPAQUE"),
    _m(_E.MIR_TACONFIRM, "MIRIMAGE", "FASTR1", ("SUB64", 6, 1), ("FULL", 6, 1), _S.STAR, pntgtype=_TA,
       wavelength=10.0, FILTER="F1000W"),
    _m(_E.MIR_WFSS, "MIRIMAGE", "FASTR1", ("SUB256", 6, 1), ("FULL", 10, 1), _S.MULTI_TRACE, wavelength=7.5,
       dispaxis=2, FILTER="P750L"),
    _m(_E.NRC_WFSC, "NRCA3", "RAPID", ("SUB64P", 6, 1), ("FULL", 5, 1), _S.STAR, pntgtype=_ENG, wavelength=2.1,
       FILTER="F212N", PUPIL="WLP8"),
    _m(_E.NRS_TACQ, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("SUB32", 6, 1), _S.STAR, wavelength=1.1,
       pntgtype=_TA, optics=_NRS_TA),
    _m(_E.NRS_TASLIT, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("SUB32", 6, 1), _S.STAR, wavelength=1.1,
       pntgtype=_TA, optics=_NRS_TA),
    _m(_E.NRS_VERIFY, "NRS1", "NRSRAPID", ("SUB32", 6, 1), ("FULL", 5, 1), _S.STAR, wavelength=1.1,
       pntgtype=_TA, optics=_NRS_TA),
)

#: EXP_TYPE → ModeSpec, read-only.
MODES: MappingProxyType[ExpType, ModeSpec] = MappingProxyType({m.exp_type: m for m in _CATALOGUE})


def mode_spec(exp_type: ExpType | str) -> ModeSpec:
    """The catalogue entry of an EXP_TYPE.

    Raises
    ------
    KeyError
        Not an EXP_TYPE of the routing table. Not retriable.
    """
    try:
        return MODES[ExpType(str(exp_type))]
    except ValueError:
        raise KeyError(f"unknown EXP_TYPE {exp_type!r}") from None

"""NIRSpec internal lamp exposures (NRS_LAMP, NRS_AUTOWAVE, NRS_AUTOFLAT): a line or continuum lamp filling the
fixed slits or the open MSA shutters uniformly (issue 11).

jwst pairs each lamp with a grating (``associations/lib/dms_base.py``: ``NRS_FSS_VALID_LAMP_OPTICAL_PATHS``):
G140M/H with LINE1, FLAT1, REF (and FLAT4), G235M/H with LINE2, FLAT2, G395M/H with LINE3, FLAT3, the PRISM with
LINE4, FLAT5; the lamp light does not cross the filter wheel (FILTER = OPAQUE, which jwst's ``nrslamp-spec2``
association requires). The simulator's NIRSpec optics are G395H on NRS1 (:mod:`streamcal.simulate.spectral_layouts`,
:mod:`streamcal.simulate.msa`), so its lamps are LINE3 and FLAT3 on the G395H band, 2.87–4.09 µm.

- OPMODE = FIXEDSLIT or BRIGHTOBJ: the lamp fills every fixed slit reaching the subarray. Simulated: S200A1
  (centre line as NRS_FIXEDSLIT's trace, 0.2″ × 3.2″: ±16 px) and S1600A1 (NRS_BRIGHTOBJ's, 1.6″ × 1.6″: ±8 px),
  both inside ALLSLITS (rows 896–1151). Written as the lamp SPECWCS's ``FSSLITS`` table
  (:mod:`streamcal.models.lamp`).
- OPMODE = MSASPEC (and every NRS_AUTOFLAT): the lamp fills the shutters the MSA metadata file opens — the
  default MOS configuration's six 1×3 slitlets, with no sources (jwst's lamp MSA files list none: every slitlet
  is background, PR #5370) — through the MOS geometry (:func:`~streamcal.simulate.msa.msa_geometry`).

A pixel whose centre column ``d`` is lit gets ``S(d) × overlap`` DN/s, ``overlap`` the share of the pixel's
height inside the slit's strip ``[c(d) − L, c(d) + L]`` (MSA: the slitlet's open strip). ``S(d)``:

- line lamp: Gaussian lines (:data:`LINE3_UM`, FWHM :data:`LINE_FWHM_UM` ≈ 2 px, a resolution element)
  integrated over each pixel's wavelength span, the brightest line peaking at ``peak`` DN/s, over a continuum of
  1 % of it [U: plausible wavelengths, not the real lamp's];
- flat lamp: a smooth continuum, ``peak × (0.6 + 0.4 exp(−½((λ − 3.5 µm)/0.5 µm)²))`` [U].

Truth (:func:`lamp_truth_extensions`): ``SCENE`` (the lamp's rate before the detector response, DN/s: what a
flat-fielded ``_cal`` holds), ``WAVELENGTH`` (µm per pixel, NaN off the slits), ``SLITS`` (1-based slit index per
pixel, 0 off them; EXTNAME order = :attr:`LampScene.names`) and, for a line lamp, ``LINES`` (WAVELENGTH µm, FWHM
µm, AMPLITUDE: the line's peak, DN/s per pixel, times ``σ√(2π)`` in µm: DN/s·µm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from streamcal.datamodels import Extension
from streamcal.models.lamp import FixedSlit, lamp_kind, lamp_opmode
from streamcal.models.msa import MsaConfiguration, MsaGeometry, MsaSlitlet
from streamcal.routing import ExpType
from streamcal.simulate.geometry import Detector, Subarray
from streamcal.simulate.msa import default_msa_configuration, msa_geometry, slit_span
from streamcal.simulate.spectral_layouts import layout_for

__all__ = ["LAMP_MODES", "LINE3_UM", "LINE_FWHM_UM", "LampRender", "LampScene", "fixed_slits", "lamp_geometry",
           "lamp_scene", "lamp_truth_extensions", "render_lamp"]

LAMP_MODES = frozenset({ExpType.NRS_LAMP, ExpType.NRS_AUTOWAVE, ExpType.NRS_AUTOFLAT})
#: The simulated LINE3 lamp's lines in the G395H band on NRS1 (µm) and their relative strengths [U].
LINE3_UM = (2.951, 3.102, 3.274, 3.415, 3.563, 3.718, 3.862, 4.013)
_LINE_STRENGTH = (0.6, 1.0, 0.8, 0.5, 0.9, 0.7, 0.4, 0.65)
#: Line FWHM: about one resolution element (2 px of ~6e-4 µm) [U].
LINE_FWHM_UM = 1.2e-3
_CONTINUUM = 0.01
#: The fixed slits simulated and their half-lengths across the dispersion (px: 0.1″ pixels).
_FS_SLITS = (("S1600A1", "NRS_BRIGHTOBJ", 8.0), ("S200A1", "NRS_FIXEDSLIT", 16.0))
#: The optics whose geometry a G395H lamp shares (the light takes the grating's own band).
_G395H = {"FILTER": "F290LP", "GRATING": "G395H"}


def fixed_slits(detector: Detector | str, grating: str) -> tuple[FixedSlit, ...]:
    """The fixed slits a lamp lights on a detector with a grating (module docstring).

    Raises
    ------
    KeyError
        No lamp geometry for that grating (only G395H is simulated) or detector. Not retriable.
    """
    if grating != "G395H":
        raise KeyError(f"no lamp geometry for GRATING={grating} (the simulator's NIRSpec optics are G395H)")
    return tuple(FixedSlit(name, layout_for(exp_type, detector, _G395H).geometry(), half)
                 for name, exp_type, half in _FS_SLITS)


def lamp_geometry(detector: Detector | str, grating: str) -> tuple[tuple[FixedSlit, ...], MsaGeometry | None]:
    """The fixed slits and the MSA geometry (None off NRS1) a lamp reference holds for a detector and grating.

    Raises
    ------
    KeyError
        As :func:`fixed_slits`.
    """
    slits = fixed_slits(detector, grating)
    try:
        msa: MsaGeometry | None = msa_geometry(detector, _G395H)
    except KeyError:
        msa = None
    return slits, msa


@dataclass(frozen=True, slots=True)
class LampScene:
    """What a lamp exposure sees: the lamp (``kind``, the EXP_TYPE's LAMP), the apertures it fills (fixed slits, or
    the MSA geometry with the configuration its metadata file opens), and the peak rate (DN/s per pixel)."""

    kind: Literal["line", "flat"]
    opmode: str
    peak: float
    slits: tuple[FixedSlit, ...] = ()
    msa: MsaGeometry | None = None
    config: MsaConfiguration | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The slits' names (SLTNAME; an MSA slitlet's is its slitlet_id), in SLITS-map order."""
        if self.config is not None:
            return tuple(str(s.slitlet_id) for s in self.config.slitlets)
        return tuple(s.name for s in self.slits)

    def lines(self) -> np.ndarray:
        """The LINES truth table (a line lamp's; empty for a flat lamp)."""
        rows = np.zeros(len(LINE3_UM) if self.kind == "line" else 0,
                        [("WAVELENGTH", ">f8"), ("FWHM", ">f8"), ("AMPLITUDE", ">f8")])
        if self.kind == "line":
            rows["WAVELENGTH"], rows["FWHM"] = LINE3_UM, LINE_FWHM_UM
            rows["AMPLITUDE"] = self.peak * np.asarray(_LINE_STRENGTH) * _line_area()
        return rows

    def column_rate(self, wave_lo: npt.NDArray[np.float64], wave_hi: npt.NDArray[np.float64],
                    wave: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``S(d)`` (DN/s per fully lit pixel) of dispersion pixels spanning ``wave_lo … wave_hi`` (centre
        ``wave``)."""
        if self.kind == "flat":
            return self.peak * (0.6 + 0.4 * np.exp(-0.5 * ((wave - 3.5) / 0.5) ** 2))
        sigma = LINE_FWHM_UM / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        lo, hi = np.minimum(wave_lo, wave_hi), np.maximum(wave_lo, wave_hi)
        rate = np.full(wave.shape, _CONTINUUM * self.peak)
        for centre, strength in zip(LINE3_UM, _LINE_STRENGTH, strict=True):
            share = ndtr((hi - centre) / sigma) - ndtr((lo - centre) / sigma)  # of the line in the pixel
            rate += self.peak * strength * _line_area() / (hi - lo) * share  # its flux over the pixel's span
        return rate


def _line_area() -> float:
    """The integral (µm) of a Gaussian line of unit peak: ``σ√(2π)``."""
    return float(LINE_FWHM_UM / (2.0 * np.sqrt(2.0 * np.log(2.0))) * np.sqrt(2.0 * np.pi))


def lamp_scene(exp_type: str, detector: Detector, optics: dict[str, str], *, peak: float, program: int = 1234,
               dither_point: int = 1) -> LampScene:
    """The lamp scene of an exposure (module docstring).

    Raises
    ------
    KeyError
        No lamp geometry for the grating or detector. Not retriable.
    BadKeywordValueError
        A LAMP or OPMODE the simulator (and streamcal) does not calibrate. Not retriable.
    """
    head = {"EXP_TYPE": exp_type, **optics}
    kind = lamp_kind(head, "the lamp spec")
    opmode = lamp_opmode(head, "the lamp spec")
    slits, msa = lamp_geometry(detector, optics.get("GRATING", "N/A"))
    if opmode != "MSASPEC":
        return LampScene(kind, opmode, peak, slits=slits)
    if msa is None:
        raise KeyError(f"no MSA geometry on {detector.name}")
    science, _ = default_msa_configuration(program=program, dither_point=dither_point)
    empty = tuple(MsaSlitlet(slitlet_id=s.slitlet_id, quadrant=s.quadrant, row=s.row, columns=s.columns, source_id=0,
                             primary_column=s.columns[len(s.columns) // 2]) for s in science.slitlets)
    config = MsaConfiguration(msa_metadata_id=science.msa_metadata_id, dither_point=dither_point, slitlets=empty,
                              sources={}, program=program)
    return LampScene(kind, opmode, peak, msa=msa, config=config)


@dataclass(frozen=True, slots=True)
class LampRender:
    """A lamp exposure's rate (DN/s, before the detector response), wavelength map (µm, NaN off the slits) and
    slit map (1-based index into :attr:`LampScene.names`, 0 off the slits)."""

    rate: npt.NDArray[np.float64]
    wavelength: npt.NDArray[np.float64]
    slits: npt.NDArray[np.int16]


def _strip(scene: LampScene, lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64], d: npt.NDArray[np.float64],
           wave_of: object, lit: npt.NDArray[np.bool_], ys: npt.NDArray[np.float64],
           out: LampRender, index: int) -> None:
    wavelength = np.asarray(wave_of(d))  # type: ignore[operator]
    column = scene.column_rate(np.asarray(wave_of(d - 0.5)), np.asarray(wave_of(d + 0.5)),  # type: ignore[operator]
                               wavelength) * lit
    overlap = np.clip(np.minimum(ys + 0.5, hi[None, :]) - np.maximum(ys - 0.5, lo[None, :]), 0.0, 1.0)
    overlap = overlap * lit[None, :]
    out.rate[...] += overlap * column[None, :]
    inside = overlap > 0
    out.wavelength[inside] = np.broadcast_to(wavelength[None, :], inside.shape)[inside]
    out.slits[inside] = index


def render_lamp(scene: LampScene, subarray: Subarray) -> LampRender:
    """Render the lamp onto a subarray (module docstring)."""
    shape = (subarray.ny, subarray.nx)
    out = LampRender(np.zeros(shape), np.full(shape, np.nan), np.zeros(shape, np.int16))
    d = subarray.x0 + np.arange(subarray.nx, dtype=np.float64)
    ys = (subarray.y0 + np.arange(subarray.ny, dtype=np.float64))[:, None]
    if scene.config is not None and scene.msa is not None:
        for index, slitlet in enumerate(scene.config.slitlets, start=1):
            quad = scene.msa.quadrant(slitlet.quadrant)
            lo, hi = slit_span(quad, slitlet, d)
            layout = quad.layout(slitlet.row, slitlet.primary_column)
            lit = (d >= quad.d_range[0]) & (d < quad.d_range[1])
            _strip(scene, lo, hi, d, layout.wavelength, lit, ys, out, index)
        return out
    for index, slit in enumerate(scene.slits, start=1):
        centre = slit.layout.trace(d)
        lit = (d >= slit.layout.d_range[0]) & (d < slit.layout.d_range[1])
        _strip(scene, centre - slit.half_length, centre + slit.half_length, d, slit.layout.wavelength, lit, ys, out,
               index)
    return out


def lamp_truth_extensions(scene: LampScene, render: LampRender) -> list[Extension]:
    """The truth file's lamp extensions (module docstring)."""
    names = {f"SLIT{i}": name for i, name in enumerate(scene.names, start=1)}
    out = [Extension("SCENE", render.rate.astype(np.float32), {"BUNIT": "DN/s"}),
           Extension("WAVELENGTH", render.wavelength, {"BUNIT": "um"}), Extension("SLITS", render.slits, names)]
    if scene.kind == "line":
        out.append(Extension("LINES", scene.lines()))
    return out

"""calwebb_spec3's work on WFSS members (NIS_WFSS, NRC_WFSS; ``jwst_spec.md`` §1.7, issue 11).

The pipeline (:mod:`streamcal.pipelines.spec3_wfss`) reads each member's ``_cal`` (a slit per source and order,
DN/s) back into spec2's :class:`~streamcal.steps.spec.wfss.GrismSlits`: each slit's trace rebuilt from the
member's GRISMCONF SPECWCS reference at its direct position (SRCXDET/SRCYDET) and photom's conversion from the
member's PHOTOM reference (members may differ in grism, hence in references) → :class:`WfssMemberSet`. Then,
as jwst's calwebb_spec3 for slitless modes (no outlier_detection, no resampling):

- extract_1d extracts every member's slits as spec2 does (:func:`~streamcal.steps.spec.wfss.extract_wfss`:
  boxcar along the trace with the conversion per column, FLUX in Jy) → :class:`WfssMemberSpectra` (the ``_x1d``,
  one table per member);
- combine_1d combines, per source and spectral order, the members' spectra on a common grid (the first member's
  wavelengths, extended by the others' beyond them: :func:`~streamcal.kernels.spec.rectify.common_grid`), each
  moved onto it by linear interpolation (:mod:`streamcal.kernels.spec.resample1d`) and averaged by exposure time
  with the errors propagated (:mod:`streamcal.kernels.spec.combine1d`) → :class:`WfssCombined` (the ``_c1d``).
  Grid points no member covers are dropped, as jwst's combine_1d omits them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streamcal.datamodels.spectra import Spectrum1D
from streamcal.kernels.spec.combine1d import CombinedColumns, combine_spectra
from streamcal.kernels.spec.rectify import common_grid
from streamcal.kernels.spec.resample1d import resample_spectrum
from streamcal.steps.base import Context
from streamcal.steps.spec.kinds import Spec3Combined, Spec3Members, Spec3Spectra
from streamcal.steps.spec.single_trace import Extract1dStep
from streamcal.steps.spec.wfss import GrismSlits, WfssSpectra, extract_wfss

__all__ = ["WfssCombined", "WfssCombinedSource", "WfssMember", "WfssMemberSet", "WfssMemberSpectra",
           "combine_wfss", "extract_wfss_members"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WfssMember:
    """One member: its root, primary header, slits (traces and photom's conversion attached) and exposure time
    (combine_1d's weight)."""

    root: str
    primary: dict[str, object]
    slits: GrismSlits
    exptime: float


@dataclass(frozen=True, slots=True)
class WfssMemberSet(Spec3Members):
    """The WFSS members of one spec3 product, in association order."""

    members: tuple[WfssMember, ...]

    def __len__(self) -> int:
        return len(self.members)


@dataclass(frozen=True, slots=True)
class WfssMemberSpectra(Spec3Spectra):
    """extract_1d's output: per member (association order) its spectra, one per source and order."""

    members: tuple[WfssMember, ...]
    spectra: tuple[WfssSpectra, ...]


class WfssCombinedSource(NamedTuple):
    """One source's combined spectrum in one order: keywords (SOURCEID, SPORDER, SRCTYPE, SRCRA, SRCDEC), the
    grid's wavelengths (µm, increasing, shape (n,)) and the COMBINE1D columns on it."""

    meta: dict[str, object]
    wavelength: F64
    columns: CombinedColumns


@dataclass(frozen=True, slots=True)
class WfssCombined(Spec3Combined):
    """combine_1d's output: every source's combined spectrum, by (SPORDER, SOURCEID)."""

    sources: tuple[WfssCombinedSource, ...]


def extract_wfss_members(members: WfssMemberSet, ctx: Context, boxcar: Extract1dStep
                         ) -> tuple[WfssMemberSpectra, dict[str, int]]:
    """extract_1d of every member's slits (module docstring).

    Raises
    ------
    MissingReferenceError
        A member without photom's conversion. Not retriable.
    BadDataShapeError
        A member without slits. Not retriable.
    """
    out, n_spectra, incomplete = [], 0, 0
    for member in members.members:
        spectra, counts = extract_wfss(member.slits, ctx, boxcar)
        out.append(spectra)
        n_spectra += counts["n_spectra"]
        incomplete += counts["n_incomplete_aperture"]
    return WfssMemberSpectra(members.members, tuple(out)), {
        "n_members": len(members), "n_spectra": n_spectra, "n_incomplete_aperture": incomplete}


def _key(spectrum: Spectrum1D) -> tuple[int, int]:
    meta = spectrum.meta
    return int(str(meta.get("SPORDER", 1))), int(str(meta.get("SOURCEID", 0)))


def _one_source(spectra: Sequence[Spectrum1D], exptimes: Sequence[float]) -> WfssCombinedSource:
    """The members' spectra of one source and order on one grid, averaged (module docstring)."""
    waves = [np.asarray(s.columns["WAVELENGTH"], np.float64) for s in spectra]
    grid = common_grid([w[np.isfinite(w)] for w in waves])
    flux, error, dq, sb, sb_error = [], [], [], [], []
    for s, wave in zip(spectra, waves, strict=True):
        c = s.columns
        flux_error = np.asarray(c["FLUX_ERROR"], np.float64)
        sb_var = sum(np.asarray(c[f"SB_VAR_{p}"], np.float64) for p in ("POISSON", "RNOISE", "FLAT")) \
            if "SB_VAR_POISSON" in c else None
        r = resample_spectrum(wave, c["FLUX"], flux_error ** 2, c["DQ"], grid=grid,
                              surf_bright=c.get("SURF_BRIGHT"), sb_variance=sb_var)
        flux.append(r.flux)
        error.append(np.sqrt(r.variance))
        dq.append(r.dq)
        sb.append(r.surf_bright)
        sb_error.append(np.sqrt(r.sb_variance))
    combined = combine_spectra(flux, error, dq, weights=exptimes, surf_bright=sb, sb_error=sb_error)
    keep = combined.n_input > 0
    first = spectra[0].meta
    meta = {"SOURCEID": int(str(first.get("SOURCEID", 0))), "SPORDER": int(str(first.get("SPORDER", 1))),
            "SRCTYPE": first.get("SRCTYPE", "POINT"), "SRCRA": first.get("SRCRA"), "SRCDEC": first.get("SRCDEC")}
    m = combined
    return WfssCombinedSource(meta, grid[keep], CombinedColumns(
        m.flux[keep], m.error[keep], m.surf_bright[keep], m.sb_error[keep], m.dq[keep], m.weight[keep],
        m.n_input[keep]))


def combine_wfss(spectra: WfssMemberSpectra) -> tuple[WfssCombined, dict[str, int]]:
    """combine_1d per source and order (module docstring); a source only some members hold is combined from
    those.

    Raises
    ------
    ValueError
        A spectrum with fewer than two finite wavelengths. Not retriable.
    """
    by_key: dict[tuple[int, int], list[tuple[Spectrum1D, float]]] = {}
    for member, extracted in zip(spectra.members, spectra.spectra, strict=True):
        for spectrum in extracted.spectra:
            by_key.setdefault(_key(spectrum), []).append((spectrum, member.exptime))
    sources = tuple(_one_source([s for s, _ in pairs], [t for _, t in pairs]) for _, pairs in sorted(by_key.items()))
    partial = sum(1 for pairs in by_key.values() if len(pairs) < len(spectra.members))
    return WfssCombined(sources), {"n_sources": len(sources), "n_partial_sources": partial}

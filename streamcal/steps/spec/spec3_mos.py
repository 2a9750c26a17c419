"""calwebb_spec3's regrouping of NIRSpec MOS exposures by source (jwst's exp_to_source; ``jwst_spec.md`` §1.7,
issue 11).

A MOS ``_cal`` is exposure-based: one MultiSlitModel per exposure, a slit per open slitlet. calwebb_spec3 works
per source, so :func:`exp_to_source` turns the members' slits into one list per SOURCEID, in member order (a
slitlet without a source — SOURCEID 0, jwst's ``b`` background slitlets — takes no part, and a source missing
from some members is combined from the others). :func:`source_members` then gives each member's cutout its
trace (the source's :class:`~streamcal.models.spectral.SpectralLayout`, rebuilt from the MSA geometry as spec2's
assign_wcs made it), rectifies them onto one grid (:func:`~streamcal.steps.spec.spec3.rectify_members`) and
moves each onto the first member's sub-pixel trace phase (:func:`~streamcal.kernels.spec.align.shift_rectified`:
a nod moves the trace by a non-integer number of pixels, and profiles at different phases do not combine pixel
by pixel; each keeps its unmoved planes for its own extraction, combine_1d's input): a
:class:`~streamcal.steps.spec.spec3.SpecMemberSet` that the single-trace steps of calwebb_spec3
(outlier_detection, resample_spec, extract_1d, combine_1d) take unchanged. Each member's header is the
exposure's primary merged with the slit's keywords (as jwst's exp_to_source merges the exposure meta into each
slit), so extract_1d finds the slit's SOURCEID.

Cutouts of EXTENDED sources (MJy/sr) are carried in MJy per pixel (× the pixel's solid angle), as spec2's MOS
extract_1d sums them; :func:`source_product_id` names the product as jwst's spec3 does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from streamcal.kernels.spec.align import shift_rectified
from streamcal.models.image import ImageData
from streamcal.models.spectral import SpectralLayout
from streamcal.steps.spec.single_trace import trace_image
from streamcal.steps.spec.spec3 import SpecMemberSet, rectify_members

__all__ = ["SLIT_KEYWORDS", "MosCutout", "MosSource", "exp_to_source", "source_members", "source_product_id"]

#: The slit keywords a source's products carry (jwst's slitmeta, as spec2's MOS ``_cal`` writes them).
SLIT_KEYWORDS = ("SLTNAME", "SLITID", "SOURCEID", "SRCNAME", "SRCALIAS", "STLARITY", "SRCTYPE", "SRCRA", "SRCDEC",
                 "MSAQUAD", "SHUTTRID", "SHUTSTA", "SRCXPOS", "SRCYPOS")


@dataclass(frozen=True, slots=True)
class MosCutout:
    """One slit of one member: the cutout (MJy per pixel; its primary's SUBSTRT1/2 place it on the detector),
    the source's trace, the slit's keywords, and the slit's own unit and pixel solid angle (sr)."""

    image: ImageData
    layout: SpectralLayout
    meta: dict[str, object]
    bunit: str
    pixar_sr: float

    @property
    def source_id(self) -> int:
        return int(str(self.meta.get("SOURCEID", 0)))


@dataclass(frozen=True, slots=True)
class MosSource:
    """One source's cutouts, one per member that has it (member order)."""

    source_id: int
    cutouts: tuple[MosCutout, ...]

    @property
    def meta(self) -> dict[str, object]:
        """The first cutout's slit keywords (those of :data:`SLIT_KEYWORDS` it has)."""
        first = self.cutouts[0].meta
        return {k: first[k] for k in SLIT_KEYWORDS if k in first}


def exp_to_source(members: Sequence[Sequence[MosCutout]]) -> tuple[list[MosSource], dict[str, int]]:
    """Regroup the members' slits by SOURCEID (increasing), each source's cutouts in member order.

    Returns the sources and counts: ``n_sources``, ``n_background_slits`` (SOURCEID ≤ 0: no source, not
    combined), ``n_partial_sources`` (in fewer members than the association has).

    Raises
    ------
    ValueError
        A member holds one source in two slits. Not retriable.
    """
    grouped: dict[int, list[MosCutout]] = {}
    background = 0
    for index, cutouts in enumerate(members):
        seen: set[int] = set()
        for cutout in cutouts:
            sid = cutout.source_id
            if sid <= 0:
                background += 1
                continue
            if sid in seen:
                raise ValueError(f"member {index + 1} holds source {sid} in two slits")
            seen.add(sid)
            grouped.setdefault(sid, []).append(cutout)
    sources = [MosSource(sid, tuple(grouped[sid])) for sid in sorted(grouped)]
    partial = sum(len(s.cutouts) < len(members) for s in sources)
    return sources, {"n_sources": len(sources), "n_background_slits": background, "n_partial_sources": partial}


def source_members(source: MosSource) -> SpecMemberSet:
    """The source's cutouts with their traces, rectified onto one grid (the first cutout's wavelength sampling,
    extended by the others'; rows about each one's trace), all at the first cutout's sub-pixel trace phase.

    Raises
    ------
    BadDataShapeError
        A cutout its trace does not cross. Not retriable.
    """
    traced = []
    for cutout in source.cutouts:
        image = cutout.image.replace(primary={**cutout.image.primary, **cutout.meta})
        traced.append(trace_image(image, cutout.layout))
    members = rectify_members(traced)
    target = members.members[0].rectified.centre
    aligned = [members.members[0]] + [dataclasses.replace(m, rectified=shift_rectified(m.rectified, target),
                                                          own=m.rectified) for m in members.members[1:]]
    return dataclasses.replace(members, members=tuple(aligned))


def source_product_id(source_id: int, source_name: object = "") -> str:
    """jwst's spec3 source field of a MOS product name: ``b`` + 9 digits for a background slitlet (``BKG`` in
    its source name), ``v`` for a virtual source (negative SOURCEID), ``s`` otherwise."""
    if "BKG" in str(source_name or ""):
        return f"b{abs(source_id):09d}"
    if source_id < 0:
        return f"v{abs(source_id):09d}"
    return f"s{source_id:09d}"

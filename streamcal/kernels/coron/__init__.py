"""Coronagraphic PSF subtraction kernels (calwebb_coron3, ``jwst_spec.md`` §5.10, issue 12).

:mod:`.align` (align_refs: sub-pixel shift and scale of each reference onto a science image), :mod:`.klip`
(KLIP: Karhunen–Loève projection of a science image on the aligned references, subtracted) and
:mod:`.photometry` (a companion's position, flux and S/N in a PSF-subtracted image).
"""

__all__: list[str] = []

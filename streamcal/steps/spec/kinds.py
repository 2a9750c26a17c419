"""The kinds of model calwebb_spec2 passes between its steps (issue 11).

The plan checks a pipeline's chain statically, from each step's ``apply`` annotations (``issubclass``), and the
runner skips a step whose input was not made (``isinstance``). Spectroscopic modes differ in what assign_wcs
makes, so the steps are written against these bases and dispatch on the concrete kind:

::

    SpectralProduct              what extract_1d takes
    ├── SpectralImage            what flat_field and photom take (an image with its spectral WCS)
    │   ├── TraceImage           single trace (streamcal.steps.spec.single_trace)
    │   └── IfuImage             image slicer (streamcal.steps.spec.ifu)
    └── IfuCube                  cube_build's output (streamcal.steps.spec.ifu)

assign_wcs: ImageData → SpectralImage; flat_field, photom: SpectralImage → SpectralImage; cube_build:
SpectralImage → SpectralProduct (a cube from an IfuImage, anything else passed on, SKIPPED); extract_1d:
SpectralProduct → Spectrum.

calwebb_spec3 (:mod:`streamcal.steps.spec.spec3`) does the same with its members::

    Spec3Product                 what extract_1d takes
    ├── Spec3Members             what outlier_detection, resample_spec and cube_build take
    │   ├── SpecMemberSet        single-trace members rectified onto one grid (streamcal.steps.spec.spec3)
    │   └── IfuMemberSet         IFU members placed on one cube grid (streamcal.steps.spec.spec3_ifu)
    ├── Spec2D                   resample_spec's output
    └── IfuCombinedCube          cube_build's output (all members in one cube; streamcal.steps.spec.spec3_ifu)

outlier_detection: Spec3Members → Spec3Members; resample_spec: Spec3Members → Spec3Product (a Spec2D of
single-trace members, IFU members passed on, SKIPPED); cube_build: Spec3Product → Spec3Product (an
IfuCombinedCube of IFU members, anything else passed on, SKIPPED); extract_1d: Spec3Product → Spec3Spectra;
combine_1d: Spec3Spectra → Spec3Combined. WFSS members (``WfssMemberSet``, a Spec3Members:
streamcal.steps.spec.spec3_wfss) pass outlier_detection, resample_spec and cube_build SKIPPED; extract_1d
extracts each member's sources (``WfssMemberSpectra``) and combine_1d combines them per source
(``WfssCombined``)::

    Spec3Spectra                 what combine_1d takes: Spec3Spectrum, WfssMemberSpectra
    Spec3Combined                what combine_1d makes: CombinedSpectrum, WfssCombined
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from streamcal.models.image import ImageData

__all__ = ["Spec3Combined", "Spec3Members", "Spec3Product", "Spec3Spectra", "SpectralImage", "SpectralProduct"]


class SpectralProduct(ABC):  # noqa: B024  (a marker base: the chain's types, no behaviour of its own)
    """Anything extract_1d extracts a spectrum from."""

    __slots__ = ()


class SpectralImage(SpectralProduct):
    """A detector image with its spectral WCS: ``image`` is the calibrated image so far."""

    __slots__ = ()
    image: ImageData  # a field of each subclass (a property here would read as the dataclass field's default)

    @abstractmethod
    def replace_image(self, image: ImageData) -> SpectralImage:
        """The same spectral WCS on another image (a step's output)."""


class Spec3Product(ABC):  # noqa: B024  (a marker base, as SpectralProduct)
    """Anything calwebb_spec3's extract_1d extracts a spectrum from."""

    __slots__ = ()


class Spec3Members(Spec3Product):
    """The members of one spec3 product, on one grid."""

    __slots__ = ()

    @abstractmethod
    def __len__(self) -> int:
        """How many members."""


class Spec3Spectra(ABC):  # noqa: B024  (a marker base, as SpectralProduct)
    """calwebb_spec3's extracted spectra: what combine_1d takes."""

    __slots__ = ()


class Spec3Combined(ABC):  # noqa: B024  (a marker base, as SpectralProduct)
    """calwebb_spec3's combined spectra: what combine_1d makes."""

    __slots__ = ()

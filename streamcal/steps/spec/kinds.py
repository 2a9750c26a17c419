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
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from streamcal.models.image import ImageData

__all__ = ["SpectralImage", "SpectralProduct"]


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

"""AMI kernels (NIRISS aperture masking interferometry, ``jwst_spec.md`` §5.11): the mask's geometry, the fringe
fit of ami_analyze, the observables and their normalisation (ami_normalize), and a binary-star model."""

from __future__ import annotations

from streamcal.kernels.ami.binary import (
    BinaryFit,
    binary_observables,
    binary_visibility,
    envelope_overlap,
    fit_binary,
)
from streamcal.kernels.ami.fringe_fit import FringeFit, envelope, fit_fringes, fringe_basis
from streamcal.kernels.ami.mask import (
    AMI_FILTERS,
    BASELINES,
    HOLE_CENTRES,
    HOLE_DIAMETER,
    N_HOLES,
    TRIANGLES,
    Band,
    band_for,
    baseline_vectors,
    hole_centres_on_sky,
)
from streamcal.kernels.ami.observables import (
    QUADS,
    Observables,
    average_observables,
    closure_phases,
    normalize_observables,
)

__all__ = [
    "AMI_FILTERS",
    "BASELINES",
    "HOLE_CENTRES",
    "HOLE_DIAMETER",
    "N_HOLES",
    "QUADS",
    "TRIANGLES",
    "Band",
    "BinaryFit",
    "FringeFit",
    "Observables",
    "average_observables",
    "band_for",
    "baseline_vectors",
    "binary_observables",
    "binary_visibility",
    "closure_phases",
    "envelope",
    "envelope_overlap",
    "fit_binary",
    "fit_fringes",
    "fringe_basis",
    "hole_centres_on_sky",
    "normalize_observables",
]

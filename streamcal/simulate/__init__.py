"""A synthetic observatory: raw JWST exposures for every EXP_TYPE, a matching reference set, and the truth.

- :func:`simulate_exposure` writes one ``<root>_uncal.fits`` and ``<root>_truth.fits`` from an
  :class:`ExposureSpec` (physics in :mod:`~streamcal.simulate.ramp`, :mod:`~streamcal.simulate.detector`,
  :mod:`~streamcal.simulate.scene`; headers in :mod:`~streamcal.simulate.headers`; modes in
  :mod:`~streamcal.simulate.modes`).
- :func:`simulate_program` writes a named program (:data:`PROGRAMS`) into an ingest folder.
- :func:`write_reference_set` writes the reference files (and manifest) the exposures were simulated with.
- Single-trace spectroscopy: a :class:`SourceSpectrum` (``ExposureSpec.spectrum``) rendered through the mode's
  spectral layout (:mod:`~streamcal.simulate.spectra`, :mod:`~streamcal.simulate.spectral_layouts`).

Everything is seeded: the same seeds give the same arrays. The detector (``detector_seed``, default
:data:`DEFAULT_DETECTOR_SEED`) is shared between exposures and references.
"""

from __future__ import annotations

from streamcal.simulate.detector import DEFAULT_DETECTOR_SEED, DetectorModel
from streamcal.simulate.exposure import SimulatedExposure, simulate_exposure
from streamcal.simulate.geometry import DETECTORS, READOUT_PATTERNS, SUBARRAYS
from streamcal.simulate.modes import MODES, ModeSpec, SceneKind, mode_spec
from streamcal.simulate.programs import PROGRAMS, ProgramResult, program_specs, simulate_program
from streamcal.simulate.ramp import Effects
from streamcal.simulate.references import write_reference_set
from streamcal.simulate.spec import ExposureSpec, Target
from streamcal.simulate.spectra import SourceSpectrum, default_spectrum, layout_for, read_spectrum_table

__all__ = [
    "DEFAULT_DETECTOR_SEED",
    "DETECTORS",
    "MODES",
    "PROGRAMS",
    "READOUT_PATTERNS",
    "SUBARRAYS",
    "DetectorModel",
    "Effects",
    "ExposureSpec",
    "ModeSpec",
    "ProgramResult",
    "SceneKind",
    "SimulatedExposure",
    "SourceSpectrum",
    "Target",
    "default_spectrum",
    "layout_for",
    "mode_spec",
    "program_specs",
    "read_spectrum_table",
    "simulate_exposure",
    "simulate_program",
    "write_reference_set",
]

"""The NIRISS non-redundant mask (NRM): hole centres, baselines, closure triangles and the AMI filters.

Hole centres are jwst's "as designed" coordinates of the seven open segments (metres in the pupil, the values
jwst's NRM reference file carries as NRM_X_A1 … NRM_Y_A7 and older jwst releases hard-coded), turned into the
detector-aligned frame the way jwst's ``NRMDefinition`` does it: x flipped, then rotated 90° counter-clockwise.
A baseline ``b_kl = r_k - r_l`` (k < l, jwst's order) makes fringes ``cos(2π b_kl·θ/λ)`` on the sky angle θ
(radians along detector x, y); the 21 baselines and 35 triangles (i < j < k) are listed in jwst's order.

Simplified: the holes are circular (diameter :data:`HOLE_DIAMETER`) rather than hexagonal, so the envelope is an
Airy pattern [U]; no pupil distortion (jwst's affine2d) and no rotation of the mask.
"""

from __future__ import annotations

from itertools import combinations
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "AMI_FILTERS",
    "BASELINES",
    "HOLE_CENTRES",
    "HOLE_DIAMETER",
    "N_HOLES",
    "TRIANGLES",
    "Band",
    "band_for",
    "baseline_vectors",
    "hole_centres_on_sky",
]

N_HOLES = 7
#: jwst's as-designed hole centres (m), segments B4, C2, B5, B2, C1, B6, C6 (as built).
_AS_DESIGNED = np.array([
    [0.00000000, -2.640000], [-2.2863100, 0.0000000], [2.2863100, -1.3200001], [-2.2863100, 1.3200001],
    [-1.1431500, 1.9800000], [2.2863100, 1.3200001], [1.1431500, 1.9800000],
])
#: Hole centres (m) in the detector-aligned pupil frame: x → −x, then rotated 90° ccw, i.e. (x, y) → (−y, −x).
HOLE_CENTRES: npt.NDArray[np.float64] = np.column_stack([-_AS_DESIGNED[:, 1], -_AS_DESIGNED[:, 0]])
HOLE_CENTRES.setflags(write=False)
#: Circular-hole diameter, m (jwst's analytic model uses 0.80 m; the reference file's flat-to-flat is ≈ 0.82 m) [U].
HOLE_DIAMETER = 0.80
#: Hole pairs (k, l), k < l, 0-based, jwst's order.
BASELINES: tuple[tuple[int, int], ...] = tuple(combinations(range(N_HOLES), 2))
#: Hole triples (i, j, k), i < j < k, 0-based, jwst's order; closure phase = φ_ij + φ_jk − φ_ik.
TRIANGLES: tuple[tuple[int, int, int], ...] = tuple(combinations(range(N_HOLES), 3))


class Band(NamedTuple):
    """A filter's centre wavelength and width (m), top-hat [U]."""

    centre: float
    width: float

    def samples(self, n: int) -> npt.NDArray[np.float64]:
        """``n`` wavelengths evenly spread over the band (centres of ``n`` equal sub-bands)."""
        return self.centre + self.width * ((np.arange(n) + 0.5) / n - 0.5)


#: NIRISS AMI filters: centre and equivalent width, m (the filter curves are not modelled) [U].
AMI_FILTERS: MappingProxyType[str, Band] = MappingProxyType({
    "F480M": Band(4.817e-6, 0.298e-6),
    "F430M": Band(4.286e-6, 0.202e-6),
    "F380M": Band(3.828e-6, 0.205e-6),
    "F277W": Band(2.776e-6, 0.715e-6),
})


def band_for(filter_name: str) -> Band:
    """The band of an AMI filter.

    Raises
    ------
    KeyError
        Not an AMI filter. Not retriable.
    """
    key = filter_name.strip().upper()
    if key not in AMI_FILTERS:
        raise KeyError(f"{filter_name!r} is not a NIRISS AMI filter (known: {', '.join(AMI_FILTERS)})")
    return AMI_FILTERS[key]


def baseline_vectors(centres: npt.ArrayLike = HOLE_CENTRES) -> npt.NDArray[np.float64]:
    """``r_k - r_l`` for each pair of :data:`BASELINES`, shape (21, 2), metres."""
    c = np.asarray(centres, dtype=np.float64)
    return np.array([c[k] - c[m] for k, m in BASELINES])


def hole_centres_on_sky(jacobian: npt.ArrayLike, centres: npt.ArrayLike = HOLE_CENTRES) -> npt.NDArray[np.float64]:
    """Hole centres (m) turned to the sky frame (East, North), so that fringe phases ``2π b·θ/λ`` read the same
    with sky offsets: ``R = s · (J⁻¹)ᵀ r`` for the detector's ``jacobian`` J (radians East, North per pixel x, y:
    the WCS's CD matrix) and its pixel scale ``s = √|det J|``. Shape (7, 2).

    Raises
    ------
    ValueError
        A singular Jacobian. Not retriable.
    """
    jac = np.asarray(jacobian, dtype=np.float64)
    det = float(np.linalg.det(jac))
    if not np.isfinite(det) or det == 0.0:
        raise ValueError(f"the WCS Jacobian {jac.tolist()} is singular")
    scale = np.sqrt(abs(det))
    return np.asarray(scale * (np.linalg.inv(jac).T @ np.asarray(centres, dtype=np.float64).T).T)

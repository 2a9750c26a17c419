"""A distortion-free TAN WCS built from the SCI pointing keywords (the model of ``jwst_spec.md`` §5.1).

The simulator places sources with the same WCS that the simplified assign_wcs builds from RA_REF, DEC_REF,
ROLL_REF, V3I_YANG, VPARITY, XREF_SCI and YREF_SCI, so injected RA/Dec and pixel positions agree exactly.
Pixel coordinates here are 0-based numpy ``(x, y)``; CRPIX = (XREF_SCI, YREF_SCI) is 1-based.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["TanWcs"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class TanWcs:
    """Gnomonic projection with a PC matrix from the roll angle and parity.

    Attributes
    ----------
    crpix1, crpix2 : float
        Reference pixel, 1-based (XREF_SCI, YREF_SCI).
    ra_ref, dec_ref : float
        World coordinates of the reference pixel, deg.
    roll_ref, v3i_yang : float
        deg.
    vparity : int
    scale : float
        arcsec per pixel.
    """

    crpix1: float
    crpix2: float
    ra_ref: float
    dec_ref: float
    roll_ref: float
    v3i_yang: float
    vparity: int
    scale: float

    @property
    def pc(self) -> Array:
        """PC matrix: rel = ROLL_REF − VPARITY·V3I_YANG; [[p·cos, sin], [−p·sin, cos]]."""
        rel = math.radians(self.roll_ref - self.vparity * self.v3i_yang)
        p = self.vparity
        return np.array([[p * math.cos(rel), math.sin(rel)], [-p * math.sin(rel), math.cos(rel)]])

    def header(self) -> dict[str, object]:
        """The FITS WCS keywords (CRPIX, CRVAL, CDELT, CTYPE, CUNIT, PC) for the SCI header."""
        pc = self.pc
        return {
            "CRPIX1": self.crpix1, "CRPIX2": self.crpix2, "CRVAL1": self.ra_ref, "CRVAL2": self.dec_ref,
            "CDELT1": self.scale / 3600.0, "CDELT2": self.scale / 3600.0,
            "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CUNIT1": "deg", "CUNIT2": "deg",
            "PC1_1": pc[0, 0], "PC1_2": pc[0, 1], "PC2_1": pc[1, 0], "PC2_2": pc[1, 1],
        }

    def pixel_to_world(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Array, Array]:
        """0-based pixel ``(x, y)`` → (RA, Dec) in degrees."""
        dx = np.asarray(x, dtype=np.float64) + 1.0 - self.crpix1
        dy = np.asarray(y, dtype=np.float64) + 1.0 - self.crpix2
        pc = self.pc
        xi = np.radians((pc[0, 0] * dx + pc[0, 1] * dy) * self.scale / 3600.0)
        eta = np.radians((pc[1, 0] * dx + pc[1, 1] * dy) * self.scale / 3600.0)
        ra0, dec0 = math.radians(self.ra_ref), math.radians(self.dec_ref)
        denom = math.cos(dec0) - eta * math.sin(dec0)
        ra = ra0 + np.arctan2(xi, denom)
        dec = np.arctan2(math.sin(dec0) + eta * math.cos(dec0), np.hypot(xi, denom))
        return np.degrees(ra) % 360.0, np.degrees(dec)

    def world_to_pixel(self, ra: npt.ArrayLike, dec: npt.ArrayLike) -> tuple[Array, Array]:
        """(RA, Dec) in degrees → 0-based pixel ``(x, y)``."""
        ra_r, dec_r = np.radians(np.asarray(ra, dtype=np.float64)), np.radians(np.asarray(dec, dtype=np.float64))
        ra0, dec0 = math.radians(self.ra_ref), math.radians(self.dec_ref)
        cosc = math.sin(dec0) * np.sin(dec_r) + math.cos(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0)
        xi = np.degrees(np.cos(dec_r) * np.sin(ra_r - ra0) / cosc) * 3600.0 / self.scale
        eta = np.degrees((math.cos(dec0) * np.sin(dec_r) - math.sin(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0))
                         / cosc) * 3600.0 / self.scale
        inv = np.linalg.inv(self.pc)
        dx = inv[0, 0] * xi + inv[0, 1] * eta
        dy = inv[1, 0] * xi + inv[1, 1] * eta
        return dx + self.crpix1 - 1.0, dy + self.crpix2 - 1.0

    def shifted(self, dx: float, dy: float) -> TanWcs:
        """The WCS after the telescope moves so the reference pixel sees pixel ``crpix + (dx, dy)``."""
        ra, dec = self.pixel_to_world(self.crpix1 - 1.0 + dx, self.crpix2 - 1.0 + dy)
        return TanWcs(crpix1=self.crpix1, crpix2=self.crpix2, ra_ref=float(ra), dec_ref=float(dec),
                      roll_ref=self.roll_ref, v3i_yang=self.v3i_yang, vparity=self.vparity, scale=self.scale)

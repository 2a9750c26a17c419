"""The simulator's MIRI imager subarrays are where the SIAF (pysiaf, the observatory's aperture file) puts them.

Sizes and starts (SUBSTRT1/2, 1-based, science frame: pysiaf's ``dms_corner``) of every MIRI subarray the
simulator knows, against the ``MIRIM_<name>`` aperture. A subarray at the wrong place selects the wrong pixels
of every full-frame reference file, which is how jwst-made files met "no reference covers this exposure".
"""

from __future__ import annotations

import warnings

import pytest

from streamcal.simulate import SUBARRAYS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pysiaf

    MIRI_SIAF = pysiaf.Siaf("MIRI")


@pytest.mark.parametrize("name", sorted(n for n in SUBARRAYS["MIRI"] if n != "FULL"))
def test_miri_subarrays_match_the_siaf(name: str) -> None:
    ours = SUBARRAYS["MIRI"][name]
    aperture = MIRI_SIAF[f"MIRIM_{name}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = tuple(int(v) for v in aperture.dms_corner())
    assert (ours.nx, ours.ny) == (aperture.XSciSize, aperture.YSciSize)
    assert (ours.substrt1, ours.substrt2) == start

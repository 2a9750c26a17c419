"""The simulator's subarrays are where the SIAF (pysiaf, the observatory's aperture file) puts them.

Sizes and starts (SUBSTRT1/2, 1-based, science frame: pysiaf's ``dms_corner``) of every MIRI subarray the
simulator knows, against the ``MIRIM_<name>`` aperture, and of the NIRISS subarrays with a SIAF aperture of
their own. A subarray at the wrong place selects the wrong pixels
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
    NIRISS_SIAF = pysiaf.Siaf("NIRISS")

NIRISS_APERTURES = {"SUB64": "NIS_SUB64", "SUB80": "NIS_AMI1", "SUBTAAMI": "NIS_AMITA"}


@pytest.mark.parametrize(("instrument", "name", "aperture_name"), [
    *[("MIRI", n, f"MIRIM_{n}") for n in sorted(SUBARRAYS["MIRI"]) if n != "FULL"],
    *[("NIRISS", n, a) for n, a in sorted(NIRISS_APERTURES.items())],
])
def test_subarrays_match_the_siaf(instrument: str, name: str, aperture_name: str) -> None:
    ours = SUBARRAYS[instrument][name]
    aperture = (MIRI_SIAF if instrument == "MIRI" else NIRISS_SIAF)[aperture_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = tuple(int(v) for v in aperture.dms_corner())
    assert (ours.nx, ours.ny) == (aperture.XSciSize, aperture.YSciSize)
    assert (ours.substrt1, ours.substrt2) == start

"""Every detector's PHOTOM table lists the optical paths real references carry, and the photom step can select
each of its rows (issue 10)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import streamcal.simulate.photom as photom_module
from streamcal.kernels.image.calibrate import photom_row
from streamcal.simulate import DETECTORS, MODES
from streamcal.simulate.photom import PHOTOM_PATHS, apcorr_wavelengths, photom_family, photom_rows

#: How the photom step selects a row, per instrument (jwst's photom documentation).
SELECTORS = {"NIRCAM": ("filter", "pupil"), "NIRISS": ("filter", "pupil"), "NIRSPEC": ("filter", "grating"),
             "MIRI": ("filter",), "FGS": ()}
_WAVELENGTH = re.compile(r"^F(\d{3,4})")


def _text(value: bytes) -> str:
    return value.decode().strip()


def test_public_names() -> None:
    for name in photom_module.__all__:
        assert getattr(photom_module, name) is not None, name


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_row_is_unique_and_selected_by_its_own_optical_path(name: str) -> None:
    det = DETECTORS[name]
    table = photom_rows(det)
    keys = SELECTORS[det.instrument]
    assert len(table) >= 1
    if not keys:  # FGS: the step takes the single row
        assert len(table) == 1
    assert len({tuple(_text(row[k]) for k in keys) for row in table}) == len(table)  # no two rows alike
    for index, row in enumerate(table):
        header = {"INSTRUME": det.instrument, "DETECTOR": det.name, "SUBARRAY": "FULL",
                  **{k.upper(): _text(row[k]) for k in keys}}
        chosen = photom_row(table, header, reference=f"{name} row {index}")
        # every column, the spectral array columns (issue 11) element by element
        assert all(np.array_equal(chosen[k], row[k]) for k in table.dtype.names), (name, index, header)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_rows_cover_the_real_paths_and_the_catalogue_modes(name: str) -> None:
    det = DETECTORS[name]
    second = "grating" if det.instrument == "NIRSPEC" else "pupil"
    paths = {(_text(r["filter"]), _text(r[second])) for r in photom_rows(det)}
    assert set(PHOTOM_PATHS[photom_family(det)]) <= paths
    for mode in MODES.values():
        if mode.detector == name:
            assert (mode.optics.get("FILTER", "N/A"), mode.optics.get(second.upper(), "N/A")) in paths, mode.exp_type
    family = {(m.optics.get("FILTER", "N/A"), m.optics.get("PUPIL", "N/A")) for m in MODES.values()
              if photom_family(DETECTORS[m.detector]) == photom_family(det)}
    direct = {("CLEAR", m.optics["PUPIL"]) if m.exp_type == "NIS_WFSS" else (m.optics["FILTER"], "CLEAR")
              for m in MODES.values() if m.exp_type in ("NIS_WFSS", "NRC_WFSS")
              and photom_family(DETECTORS[m.detector]) == photom_family(det)}  # WFSS direct images (issue 11)
    # a mode simulated on any detector of the family has its rows
    assert set(apcorr_wavelengths(det)) == family | direct


def test_nircam_channels_have_their_own_filters() -> None:
    """Short-wavelength detectors see 0.6–2.3 µm, long-wavelength ones 2.4–5 µm: no filter in both tables."""
    for name, det in DETECTORS.items():
        if det.instrument != "NIRCAM":
            continue
        long_channel = name.endswith("LONG")
        for row in photom_rows(det):
            microns = [int(m.group(1)) / 100 for m in map(_WAVELENGTH.match, (_text(row["filter"]),
                                                                             _text(row["pupil"]))) if m]
            assert microns, (name, row)
            assert all((w > 2.35) == long_channel for w in microns), (name, row)

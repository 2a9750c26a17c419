"""The MSA geometry, the MSA metadata file and the path its MSAMETFL keyword may name (issue 11)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from streamcal.errors import BadKeywordValueError, CorruptFileError, InvalidInputError, MissingKeywordError
from streamcal.models.image import ImageData
from streamcal.models.msa import (
    MSAQUADS_DTYPE,
    carry_msa_metadata,
    geometry_from_msaquads,
    msa_metadata_path,
    msaquads_table,
    read_msa_metadata,
    write_msa_metadata,
)
from streamcal.simulate.msa import default_msa_configuration, msa_geometry
from streamcal.steps.spec.mos import MosSlit, MultiSlit, mos_srctype

G395H = {"FILTER": "F290LP", "GRATING": "G395H"}


def test_the_geometry_round_trips_through_its_table_and_places_shutters() -> None:
    geometry = msa_geometry("NRS1", G395H)
    assert geometry_from_msaquads(msaquads_table(geometry)) == geometry
    quad = geometry.quadrant(4)
    centre = quad.layout(180, 152)  # row 180 is the reference row: no shift
    assert centre.trace(1024.0) == pytest.approx(115.0 + 5.3 * 152)
    assert quad.layout(180, 152, y=1.0).trace(1024.0) == pytest.approx(115.0 + 5.3 * 152.5)
    # one row further: the spectrum moves 2.7 px along the dispersion; x across the shutter: 2 px per shutter
    assert quad.layout(181, 152).wavelength(1024.0 + 2.7) == pytest.approx(centre.wavelength(1024.0), rel=1e-12)
    assert quad.layout(180, 152, x=1.0).wavelength(1025.0) == pytest.approx(centre.wavelength(1024.0), rel=1e-12)
    with pytest.raises(ValueError, match="not in quadrant 4"):
        quad.layout(400, 152)
    with pytest.raises(InvalidInputError, match="quadrant 1 does not light"):
        geometry.quadrant(1)
    with pytest.raises(KeyError, match="no MSA geometry"):
        msa_geometry("NRS2", G395H)


def test_a_broken_geometry_table_is_a_corrupt_file() -> None:
    table = msaquads_table(msa_geometry("NRS1", G395H))
    with pytest.raises(CorruptFileError, match="listed twice"):
        geometry_from_msaquads(np.concatenate([table, table[:1]]))
    with pytest.raises(CorruptFileError, match="missing"):
        geometry_from_msaquads(np.zeros(1, [(n, MSAQUADS_DTYPE[n]) for n in (MSAQUADS_DTYPE.names or ())[:3]]))


def test_the_metadata_file_round_trips_and_selects_its_exposure(tmp_path: Path) -> None:
    config, _ = default_msa_configuration()
    path = write_msa_metadata(tmp_path / "jw01234001001_01_msa.fits", config)
    back = read_msa_metadata(path, msa_metadata_id=1, dither_point=1)
    assert back.sources == config.sources and back.program == 1234
    assert [(s.slitlet_id, s.quadrant, s.row, s.columns, s.source_id) for s in back.slitlets] == [
        (s.slitlet_id, s.quadrant, s.row, s.columns, s.source_id) for s in config.slitlets]
    assert [s.has_source for s in back.slitlets] == [True, True, True, False, True, True]
    with pytest.raises(InvalidInputError, match="no open shutter for MSAMETID 1 at dither point 2"):
        read_msa_metadata(path, msa_metadata_id=1, dither_point=2)


@pytest.mark.parametrize("value", ["../x_msa.fits", "/abs/x_msa.fits", "sub/x_msa.fits", "..", ".", "a\\b.fits"])
def test_msametfl_must_be_a_bare_file_name(tmp_path: Path, value: str) -> None:
    exposure = tmp_path / "in" / "jw01234001001_02101_00001_nrs1_rate.fits"
    with pytest.raises(BadKeywordValueError, match="bare file name"):
        msa_metadata_path({"MSAMETFL": value}, exposure)


def test_the_metadata_file_is_looked_for_next_to_the_exposure_only(tmp_path: Path) -> None:
    config, _ = default_msa_configuration()
    (tmp_path / "in").mkdir()
    exposure = tmp_path / "in" / "jw01234001001_02101_00001_nrs1_rate.fits"
    write_msa_metadata(tmp_path / "x_msa.fits", config)  # one folder up: not found
    with pytest.raises(InvalidInputError, match=r"x_msa\.fits .* is missing"):
        msa_metadata_path({"MSAMETFL": "x_msa.fits"}, exposure)
    with pytest.raises(MissingKeywordError, match="MSAMETFL"):
        msa_metadata_path({}, exposure)
    write_msa_metadata(tmp_path / "in" / "x_msa.fits", config)
    assert msa_metadata_path({"MSAMETFL": " x_msa.fits "}, exposure) == tmp_path / "in" / "x_msa.fits"


def test_detector1_carries_the_metadata_file_next_to_its_products(tmp_path: Path) -> None:
    config, _ = default_msa_configuration()
    raw = tmp_path / "raw" / "jw01234001001_02101_00001_nrs1_uncal.fits"
    raw.parent.mkdir()
    source = write_msa_metadata(raw.parent / "x_msa.fits", config)
    carried = carry_msa_metadata({"MSAMETFL": "x_msa.fits"}, raw, tmp_path / "out")
    assert carried == tmp_path / "out" / "x_msa.fits" and carried.read_bytes() == source.read_bytes()
    assert carry_msa_metadata({"MSAMETFL": "x_msa.fits"}, raw, raw.parent) == source  # already there
    assert carry_msa_metadata({}, raw, tmp_path / "out") is None
    assert carry_msa_metadata({"MSAMETFL": "../x_msa.fits"}, raw, tmp_path / "o2") is None  # spec2 refuses it
    assert not (tmp_path / "o2").exists()


def test_msametfl_cannot_bring_in_a_file_through_a_link_or_name_a_product(tmp_path: Path) -> None:
    """Review of issue 13: a link named like an MSA file would have copied any readable file into the products,
    and MSAMETFL naming a product (``victim_cal.fits``) would have overwritten that product."""
    raw = tmp_path / "raw" / "jw01234001001_02101_00001_nrs1_uncal.fits"
    raw.parent.mkdir()
    (tmp_path / "secret.txt").write_text("token")
    (raw.parent / "jw01_msa.fits").symlink_to(tmp_path / "secret.txt")
    (raw.parent / "victim_cal.fits").write_bytes(b"forged")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        msa_metadata_path({"MSAMETFL": "jw01_msa.fits"}, raw)
    with pytest.raises(BadKeywordValueError, match="not an MSA metadata file name"):
        msa_metadata_path({"MSAMETFL": "victim_cal.fits"}, raw)
    for name in ("jw01_msa.fits", "victim_cal.fits"):
        assert carry_msa_metadata({"MSAMETFL": name}, raw, tmp_path / "out") is None
    assert not (tmp_path / "out").exists()


def _slit(source_id: int, stellarity: float) -> MosSlit:
    config, _ = default_msa_configuration()
    slitlet = dataclasses.replace(config.slitlets[0], source_id=source_id)
    source = None if source_id == 0 else dataclasses.replace(config.sources[101], source_id=source_id,
                                                                stellarity=stellarity)
    zeros = np.zeros((3, 4), np.float32)
    image = ImageData(root="r", sci=zeros, err=zeros, dq=np.zeros((3, 4), np.uint32), var_poisson=zeros,
                      var_rnoise=zeros)
    layout = msa_geometry("NRS1", G395H).quadrant(4).layout(180, 152)
    return MosSlit(slitlet, source, layout, image, 1, 1, np.zeros((3, 4)))


def test_srctype_follows_the_stellarity_and_empty_slits_are_extended() -> None:
    slits = (_slit(1, 0.9), _slit(2, 0.75), _slit(3, 0.2), _slit(4, -1.0), _slit(5, np.nan), _slit(0, 0.0))
    multi, counts = mos_srctype(MultiSlit(slits[0].image, slits))
    assert [s.srctype for s in multi.slits] == ["POINT", "EXTENDED", "EXTENDED", "POINT", "POINT", "EXTENDED"]
    assert counts == {"n_point": 3, "n_extended": 3}

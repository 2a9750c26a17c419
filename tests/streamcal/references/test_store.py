from __future__ import annotations

import json

import numpy as np
import pytest

from streamcal.datamodels import Extension
from streamcal.errors import ConfigError, MissingReferenceError, ReferenceUnavailableError
from streamcal.references import Manifest, ReferenceSetWriter, ReferenceStore, RefType, exposure_start
from tests.conftest import raw_primary

FULL = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)


def _write_store(root, extra=()):
    with ReferenceSetWriter(root) as w:
        w.add(RefType.GAIN, "gain_old.fits", selectors={"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1"},
              useafter="2022-01-01T00:00:00", primary={"SUBARRAY": "FULL"}, extensions=[Extension("SCI", FULL)])
        w.add(RefType.GAIN, "gain_new.fits", selectors={"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1"},
              useafter="2024-02-01T00:00:00", primary={"SUBARRAY": "FULL"},
              extensions=[Extension("SCI", FULL + 1)])
        w.add(RefType.GAIN, "gain_future.fits", selectors={"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1"},
              useafter="2030-01-01T00:00:00", primary={}, extensions=[Extension("SCI", FULL + 2)])
        w.add(RefType.READNOISE, "rn_full.fits",
              selectors={"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "SUBARRAY": "FULL"},
              useafter="2022-01-01T00:00:00", primary={}, extensions=[Extension("SCI", FULL * 2)])
        w.add(RefType.READNOISE, "rn_sub.fits",
              selectors={"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "SUBARRAY": "SUB64P"},
              useafter="2022-01-01T00:00:00", primary={"SUBSTRT1": 5, "SUBSTRT2": 9},
              extensions=[Extension("SCI", np.full((16, 20), 7.0, np.float32))])
        for args in extra:
            w.add(*args[0], **args[1])
    return ReferenceStore.open(root)


def test_latest_useafter_not_after_the_exposure_wins(tmp_path):
    store = _write_store(tmp_path)
    assert store.select(RefType.GAIN, raw_primary()).filename == "gain_new.fits"
    assert store.select(RefType.GAIN, raw_primary(**{"DATE-OBS": "2023-06-01"})).filename == "gain_old.fits"


def test_subarray_is_cut_from_full_frame_by_substrt(tmp_path):
    store = _write_store(tmp_path)
    header = raw_primary(SUBSTRT1=5, SUBSTRT2=9, SUBSIZE1=20, SUBSIZE2=16)
    gain = store.for_exposure(header).require(RefType.GAIN)
    np.testing.assert_array_equal(gain["SCI"], FULL[8:24, 4:24] + 1)
    assert gain.name == "gain_new.fits"


def test_exact_subarray_reference_beats_a_full_frame_cut(tmp_path):
    store = _write_store(tmp_path)
    header = raw_primary(SUBSTRT1=5, SUBSTRT2=9, SUBSIZE1=20, SUBSIZE2=16)
    rn = store.load(RefType.READNOISE, header)
    assert rn.name == "rn_sub.fits"
    assert (rn["SCI"] == 7.0).all()
    full = store.load(RefType.READNOISE, raw_primary(SUBARRAY="FULL", SUBSIZE1=64, SUBSIZE2=64))
    assert full.name == "rn_full.fits" and full["SCI"].shape == (64, 64)


def test_a_subarray_reference_placed_elsewhere_gives_way_to_the_full_frame_cut(tmp_path):
    """Issue 10: a subarray at its real (SIAF) position is served by cutting the full-frame reference when the
    only subarray reference of that name sits elsewhere on the detector; no full frame at all names both."""
    store = _write_store(tmp_path)
    header = raw_primary(SUBSTRT1=21, SUBSTRT2=33, SUBSIZE1=20, SUBSIZE2=16)  # SUB64P, not at rn_sub's 5,9
    rn = store.load(RefType.READNOISE, header)
    assert rn.name == "rn_full.fits"
    np.testing.assert_array_equal(rn["SCI"], FULL[32:48, 20:40] * 2)
    _write_store(tmp_path / "sub_only")
    (tmp_path / "sub_only" / "rn_full.fits").unlink()
    manifest = tmp_path / "sub_only" / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["entries"] = [e for e in doc["entries"] if e["filename"] != "rn_full.fits"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(MissingReferenceError, match=r"rn_sub\.fits .* does not cover the subarray 16x20 at "
                                                    r"SUBSTRT 21,33"):
        ReferenceStore.open(tmp_path / "sub_only").load(RefType.READNOISE, header)


def test_arrays_are_read_only_and_cached(tmp_path):
    store = _write_store(tmp_path)
    header = raw_primary(SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=20, SUBSIZE2=16)
    gain = store.load(RefType.GAIN, header)
    with pytest.raises(ValueError, match="read-only"):
        gain["SCI"][0, 0] = 5
    assert store.load(RefType.GAIN, header) is gain


def test_missing_reference_names_what_was_asked(tmp_path):
    store = _write_store(tmp_path)
    with pytest.raises(MissingReferenceError, match=r"no flat reference .*DETECTOR=NRCA1.*FILTER=F200W"):
        store.load(RefType.FLAT, raw_primary())
    with pytest.raises(MissingReferenceError, match="DETECTOR=NRCB2"):
        store.load(RefType.GAIN, raw_primary(DETECTOR="NRCB2"))
    assert store.for_exposure(raw_primary()).get(RefType.FLAT) is None


def test_out_of_bounds_cut_is_an_error(tmp_path):
    store = _write_store(tmp_path)
    with pytest.raises(MissingReferenceError, match="does not cover"):
        store.load(RefType.GAIN, raw_primary(SUBSTRT1=60, SUBSTRT2=1, SUBSIZE1=20, SUBSIZE2=16))


def test_deleted_file_is_retriable(tmp_path):
    store = _write_store(tmp_path)
    (tmp_path / "gain_new.fits").unlink()
    with pytest.raises(ReferenceUnavailableError) as info:
        store.load(RefType.GAIN, raw_primary())
    assert info.value.retriable


def test_writer_merges_into_an_existing_manifest(tmp_path):
    _write_store(tmp_path)
    with ReferenceSetWriter(tmp_path) as w:
        w.add(RefType.AREA, "area.fits", selectors={"DETECTOR": "NRCA1"}, useafter="2022-01-01T00:00:00",
              primary={}, extensions=[Extension("SCI", FULL)])
    names = {e.filename for e in Manifest.load(tmp_path).entries}
    assert {"area.fits", "gain_new.fits", "rn_sub.fits"} <= names


@pytest.mark.parametrize("body", [
    "not json",
    json.dumps({"entries": [{"reftype": "gain", "filename": "x.fits", "useafter": "2022-01-01", "bogus": 1}]}),
    json.dumps({"entries": [{"reftype": "nope", "filename": "x.fits", "useafter": "2022-01-01"}]}),
    json.dumps({"entries": [{"reftype": "gain", "filename": "../x.fits", "useafter": "2022-01-01"}]}),
    json.dumps({"entries": [{"reftype": "gain", "filename": "x.fits", "useafter": "2022-01-01",
                             "selectors": {"COLOUR": "red"}}]}),
])
def test_invalid_manifest_is_a_config_error(tmp_path, body):
    (tmp_path / "manifest.json").write_text(body)
    with pytest.raises(ConfigError, match="manifest"):
        ReferenceStore.open(tmp_path)


def test_missing_manifest(tmp_path):
    with pytest.raises(ConfigError, match="no reference manifest"):
        ReferenceStore.open(tmp_path)


def test_exposure_start_falls_back_to_expstart():
    assert exposure_start({"EXPSTART": 60000.0}).isoformat() == "2023-02-25T00:00:00"
    assert exposure_start({}) is None
    assert RefType.READNOISE.keyword == "R_READNO" and RefType.GAIN.keyword == "R_GAIN"

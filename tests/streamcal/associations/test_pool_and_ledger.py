"""Pools as files (strict where it matters), hand-made pools against jwst's generator, and the ledger."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from streamcal.associations import Asn, AsnMember, AsnProduct
from streamcal.associations.generator import generate, row_exptype
from streamcal.associations.ledger import Ledger
from streamcal.associations.pool import MAX_POOL_BYTES, parse_pool, read_pool
from streamcal.errors import PoolError
from streamcal.routing.exptypes import AsnType

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from jwst.associations import AssociationPool
    from jwst.associations.generator.generate_per_candidate import generate_per_candidate
    from jwst.associations.tests import helpers as jwst_helpers

COLUMNS = ("filename|program|obs_num|obs_id|visitype|exp_type|instrume|detector|targetid|pntgtype|filter|pupil|"
           "grating|fxd_slit|subarray|is_psf|bkgdtarg|tsovisit|is_imprt|patttype|act_id|asn_candidate")


def _row(n: int, obs: int, candidates: str, *, exp_type: str = "NRC_IMAGE", target: int = 1, psf: str = "F",
         pntg: str = "SCIENCE", filt: str = "F200W", pupil: str = "CLEAR", detector: str = "NRCA1") -> str:
    return (f"jw01234{obs:03d}001_02101_{n:05d}_{detector.lower()}_uncal.fits|1234|{obs}|"
            f"V01234{obs:03d}001P0000000002101|PRIME_TARGETED_FIXED|{exp_type}|NIRCAM|{detector}|{target}|"
            f"{pntg}|{filt}|{pupil}|NULL|NULL|FULL|{psf}|F|F|F|NONE|01|{candidates}")


def _pool(tmp_path: Path, rows: list[str], name: str = "jw01234_20261207t000000_pool.csv") -> Path:
    path = tmp_path / name
    path.write_text("# a hand-made pool\n" + COLUMNS + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _jwst_signatures(path: Path, types: set[str]) -> set[tuple[str, str, tuple[str, ...]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = AssociationPool.read(str(path))
        asns = generate_per_candidate(table, [jwst_helpers.level3_rule_path()], ignore_default=True,
                                      all_candidates=True, discover=False)
    out = set()
    for asn in asns:
        doc = json.loads(asn.dump(format="json")[1])
        if doc["asn_type"] in types:
            names = tuple(sorted(m["expname"] for m in doc["products"][0]["members"]))
            out.add((doc["asn_type"], doc["asn_id"], names))
    return out


def _our_signatures(path: Path, types: set[str]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(str(a.asn_type), a.asn_id, tuple(sorted(m.expname for m in a.products[0].members)))
            for a in generate(read_pool(path)) if str(a.asn_type) in types}


def test_a_cross_observation_candidate_needs_two_observations_as_in_jwst(tmp_path: Path) -> None:
    one = _pool(tmp_path, [_row(i, 1, "\"[('o001', 'observation'), ('c1000', 'mosaic')]\"") for i in (1, 2)]
                + [_row(i, 2, "\"[('o002', 'observation')]\"") for i in (3, 4)], name="one_pool.csv")
    two = _pool(tmp_path, [_row(i, 1, "\"[('o001', 'observation'), ('c1000', 'mosaic')]\"") for i in (1, 2)]
                + [_row(i, 2, "\"[('o002', 'observation'), ('c1000', 'mosaic')]\"") for i in (3, 4)],
                name="two_pool.csv")
    types = {"image3"}
    ours_one, ours_two = _our_signatures(one, types), _our_signatures(two, types)
    assert {s[1] for s in ours_one} == {"o001", "o002"}  # no c1000: the mosaic lies in one observation
    assert {s[1] for s in ours_two} == {"o001", "o002", "c1000"}
    assert ours_one == _jwst_signatures(one, types)
    assert ours_two == _jwst_signatures(two, types)


def test_coronagraphy_takes_the_psf_reference_from_another_observation_as_in_jwst(tmp_path: Path) -> None:
    coron = "\"[('o00{o}', 'observation'), ('c1000', 'coronagraphy')]\""
    rows = [
        _row(1, 1, coron.format(o=1), exp_type="NRC_TACQ", pntg="TARGET_ACQUISITION", pupil="MASKRND",
             filt="F210M", detector="NRCA2"),
        _row(2, 1, coron.format(o=1), exp_type="NRC_CORON", pupil="MASKRND", filt="F210M", detector="NRCA2"),
        _row(3, 1, coron.format(o=1), exp_type="NRC_CORON", pupil="MASKRND", filt="F210M", detector="NRCA2"),
        _row(4, 2, coron.format(o=2), exp_type="NRC_CORON", pupil="MASKRND", filt="F210M", detector="NRCA2",
             psf="T", target=2),
    ]
    path = _pool(tmp_path, rows)
    ours = [a for a in generate(read_pool(path)) if a.asn_type is AsnType.CORON3]
    assert [a.asn_id for a in ours] == ["c1000"]  # one per observation would lack the PSF
    members = {m.expname: m.exptype for m in ours[0].products[0].members}
    assert members == {
        "jw01234001001_02101_00002_nrca2_calints.fits": "science",
        "jw01234001001_02101_00003_nrca2_calints.fits": "science",
        "jw01234002001_02101_00004_nrca2_calints.fits": "psf",
        "jw01234001001_02101_00001_nrca2_cal.fits": "target_acquisition",
    }
    assert ours[0].products[0].name == "jw01234-c1000_t001_nircam_f210m-maskrnd"
    assert _our_signatures(path, {"coron3"}) == _jwst_signatures(path, {"coron3"})


def test_member_types_follow_jwst() -> None:
    pool = parse_pool(COLUMNS + "\n" + "\n".join([
        _row(1, 1, "\"[('o001', 'observation')]\"", psf="T"),
        _row(2, 1, "\"[('o001', 'observation')]\"", pntg="TARGET_ACQUISITION", exp_type="NRC_TACQ"),
        _row(3, 1, "\"[('o001', 'observation')]\"", exp_type="NRC_DARK"),
        _row(4, 1, "\"[('o001', 'observation')]\""),
    ]))
    assert [row_exptype(r) for r in pool] == ["psf", "target_acquisition", "dark", "science"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "no header line"),
    ("program|obs_num\n1|1\n", "no 'filename' column"),
    ("filename|program\njw_1_uncal.fits|1\n", "no 'asn_candidate' column"),
    ("filename|asn_candidate|x\njw_1_uncal.fits|[('o001', 'observation')]\n", "2 columns, the header has 3"),
    ("filename|asn_candidate\njw_1_uncal.fits|__import__('os')\n", "not a list of"),
    ("filename|asn_candidate\njw_1_uncal.fits|[('../x', 'observation')]\n", "is not o###"),
    ("filename|asn_candidate\njw_1_uncal.fits|[('o001', 'Obs Type!')]\n", "is not a word"),
    ("filename|asn_candidate|asn_candidate\njw_1_uncal.fits|[]|[]\n", "duplicate column"),
    ("filename|asn_candidate\njw_1_uncal.fits|\"[\n]\"\n", "line 2: not a '|'-separated row"),
    ("filename|program|asn_candidate\njw_1_uncal.fits|12a4|[]\n", "program '12a4' is not a number"),
])
def test_malformed_pools_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(PoolError, match=message):
        parse_pool(text, name="bad_pool.csv")


def test_rows_naming_no_raw_file_of_their_own_are_skipped_and_reported() -> None:
    pool = parse_pool("filename|asn_candidate\n"
                      "../../etc/passwd_uncal.fits|[('o001', 'observation')]\n"
                      "jw_1_rate.fits|[('o001', 'observation')]\n"
                      "jw_1_uncal.fits|[('o001', 'observation')]\n"
                      "jw_1_uncal.fits|[('o002', 'observation')]\n", name="p.csv")
    assert [r.filename for r in pool] == ["jw_1_uncal.fits"]
    assert [line for line, _ in pool.skipped] == [2, 3, 5]
    assert "already listed on line 4" in pool.skipped[2][1]


def test_an_oversized_pool_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge_pool.csv"
    with path.open("wb") as f:
        f.truncate(MAX_POOL_BYTES + 1)
    with pytest.raises(PoolError, match="more than"):
        read_pool(path)


def _asn(name: str, members: list[str]) -> Asn:
    return Asn(asn_type=AsnType.IMAGE3, asn_id="o001",
               products=(AsnProduct(name, tuple(AsnMember(m, "science") for m in members)),))


def test_ledger_completes_each_association_with_its_last_member() -> None:
    ledger = Ledger()
    assert not ledger.declare("obs", _asn("a", ["x_cal.fits", "y_cal.fits"]))
    assert not ledger.declare("mosaic", _asn("b", ["y_cal.fits", "z_cal.fits"]))
    assert ledger.done("y_cal.fits") == []
    assert ledger.missing("mosaic") == ["z_cal.fits"]
    assert ledger.done("x_cal.fits") == ["obs"]
    assert ledger.done("x_cal.fits") == []  # a repeat completes nothing new
    assert ledger.done("z_cal.fits") == ["mosaic"]
    assert ledger.done("unlisted_cal.fits") == []
    # declared after its members finished: complete at once
    assert ledger.declare("late", _asn("c", ["x_cal.fits", "unlisted_cal.fits"]))
    ledger.forget("obs")
    assert "obs" not in ledger and ledger.keys_of("x_cal.fits") == ["late"]

"""spec3, tso3 and the less common image3 rules from hand-made pools, each checked against jwst's own generator
(issue 10).

The cases are the ones header rules got wrong: a NIRSpec MSA visit on two detectors, fixed-slit nods with a
background target in another observation, NIRISS WFSS with several exposures per grism, MIRI LRS nods (each
nod is the other's background) and time series (only in observation candidates; NIS_SOSS only with more than
one integration), plus full-frame coronagraphy taken as images and background-target imaging. Every pool is
also run through jwst 3.0.0's ``generate_per_candidate`` and the two must agree on candidate, product name,
members and member types.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from streamcal.associations import Asn
from streamcal.associations.generator import generate
from streamcal.associations.ledger import Ledger, member_names
from streamcal.associations.pool import read_pool

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from jwst.associations import AssociationPool
    from jwst.associations.generator.generate_per_candidate import generate_per_candidate
    from jwst.associations.tests import helpers as jwst_helpers

COLUMNS = ("filename", "program", "obs_num", "exp_type", "instrume", "detector", "targetid", "pntgtype", "filter",
           "pupil", "grating", "fxd_slit", "subarray", "patttype", "is_psf", "is_imprt", "bkgdtarg", "tsovisit",
           "nints", "msametfl", "channel", "asn_candidate")
Signature = tuple[str, str, str, tuple[tuple[str, str], ...]]


def _row(n: int, obs: int, detector: str, candidates: list[tuple[str, str]] | None = None,
         **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "filename": f"jw01234{obs:03d}001_03101_{n:05d}_{detector.lower()}_uncal.fits", "program": 1234,
        "obs_num": obs, "detector": detector.upper(), "targetid": 1, "pntgtype": "SCIENCE", "is_psf": "F",
        "is_imprt": "F", "bkgdtarg": "F", "tsovisit": "F", "nints": 1, "subarray": "FULL",
    }
    row.update({k: v for k, v in values.items()})
    listed = [(f"o{obs:03d}", "observation"), *(candidates or [])]
    row["asn_candidate"] = "[" + ", ".join(f"({c!r}, {t!r})" for c, t in listed) + "]"
    return row


def _pool(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    lines = ["|".join(COLUMNS)]
    for row in rows:
        lines.append("|".join(str(row.get(c, "NULL")) for c in COLUMNS))
    path = tmp_path / "jw01234_20261207t000000_pool.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _signature(doc: dict) -> Signature:
    product = doc["products"][0]
    return (doc["asn_type"], doc["asn_id"], product["name"],
            tuple(sorted((m["expname"], m["exptype"]) for m in product["members"])))


def _both(path: Path, types: set[str]) -> tuple[list[Asn], set[Signature]]:
    """Our associations of the given types, after checking that jwst makes exactly the same ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = AssociationPool.read(str(path))
        theirs = {_signature(json.loads(a.dump(format="json")[1]))
                  for a in generate_per_candidate(table, [jwst_helpers.level3_rule_path()], ignore_default=True,
                                                  all_candidates=True, discover=False)}
    ours = [a for a in generate(read_pool(path)) if str(a.asn_type) in types]
    signatures = {_signature(a.to_dict()) for a in ours}
    assert signatures == {s for s in theirs if s[0] in types}
    return ours, signatures


def _released_at(asn: Asn, order: list[str]) -> int:
    """The position in ``order`` (products finishing one by one) at which the ledger releases ``asn``."""
    ledger = Ledger()
    ledger.declare("k", asn)
    for step, name in enumerate(order):
        if ledger.done(name):
            return step
    raise AssertionError("never released")


def test_an_msa_visit_on_two_detectors_is_one_association_released_at_its_last_exposure(tmp_path: Path) -> None:
    rows = [_row(n * 2 + i, 1, det, exp_type="NRS_MSASPEC", instrume="NIRSPEC", filter="F170LP", grating="G235M",
                 msametfl="jw01234001001_01_msa.fits", patttype="3-SHUTTER-SLITLET")
            for n in range(9) for i, det in enumerate(("NRS1", "NRS2"))]
    ours, _ = _both(_pool(tmp_path, rows), {"spec3"})
    [asn] = ours
    assert asn.products[0].name == "jw01234-o001_{source_id}_nirspec_f170lp-g235m"
    names = [f"{str(r['filename']).removesuffix('_uncal.fits')}_cal.fits" for r in rows]
    assert sorted(member_names(asn)) == sorted(names)
    assert _released_at(asn, names) == 17  # the 18th exposure, not the 9th (NUMDTHPT)


#: NIRSpec fixed-slit nods (observation 1) and a background target (observation 2).
_FIXED_SLIT_NODS = {"exp_type": "NRS_FIXEDSLIT", "instrume": "NIRSPEC", "filter": "F100LP", "grating": "G140H",
                    "fxd_slit": "S200A1", "subarray": "SUBS200A1", "patttype": "2-POINT-NOD"}


def _nods_and_background_target(candidates: list[tuple[str, str]]) -> list[dict[str, object]]:
    """Two nods of target 1 in observation 1 and two exposures of background target 2 in observation 2."""
    fss = _FIXED_SLIT_NODS
    return [_row(1, 1, "NRS1", candidates, **fss), _row(2, 1, "NRS1", candidates, **fss),
            _row(3, 2, "NRS1", candidates, targetid=2, bkgdtarg="T", **fss),
            _row(4, 2, "NRS1", candidates, targetid=2, bkgdtarg="T", **fss)]


def test_fixed_slit_nods_with_a_background_target_in_another_observation(tmp_path: Path) -> None:
    rows = _nods_and_background_target([("c1000", "background")])
    _, signatures = _both(_pool(tmp_path, rows), {"spec3"})
    by_candidate = {(s[1], s[2]): dict(s[3]) for s in signatures}
    science = "jw01234-o001_t001-{source_id}_nirspec_f100lp-g140h-{slit_name}-subs200a1"
    assert by_candidate[("o001", science)] == {
        "jw01234001001_03101_00001_nrs1_cal.fits": "science", "jw01234001001_03101_00002_nrs1_cal.fits": "science"}
    # the background target is its own (auxiliary) association, its exposures as science
    assert set(by_candidate[("o002", "jw01234-o002_t002_nirspec_f100lp-g140h-s200a1-subs200a1")].values()) == {
        "science"}
    # across observations the background exposures join the science as their extracted spectra
    assert by_candidate[("c1000", science.replace("o001", "c1000"))] == {
        "jw01234001001_03101_00001_nrs1_cal.fits": "science", "jw01234001001_03101_00002_nrs1_cal.fits": "science",
        "jw01234002001_03101_00003_nrs1_x1d.fits": "background",
        "jw01234002001_03101_00004_nrs1_x1d.fits": "background"}


def test_niriss_wfss_waits_for_every_exposure_of_each_grism(tmp_path: Path) -> None:
    rows = [_row(n, 1, "NIS", exp_type="NIS_WFSS", instrume="NIRISS", filter=grism, pupil="F200W")
            for n, grism in enumerate(["GR150R"] * 4 + ["GR150C"] * 4, start=1)]
    ours, _ = _both(_pool(tmp_path, rows), {"spec3"})
    assert sorted(a.products[0].name for a in ours) == ["jw01234-o001_t001_niriss_f200w-gr150c",
                                                        "jw01234-o001_t001_niriss_f200w-gr150r"]
    order = [f"{str(r['filename']).removesuffix('_uncal.fits')}_cal.fits" for r in rows]
    assert sorted(_released_at(a, order) for a in ours) == [3, 7]  # the 4th and the 8th, not the 1st


def test_miri_lrs_nods_are_each_others_background(tmp_path: Path) -> None:
    lrs = {"exp_type": "MIR_LRS-FIXEDSLIT", "instrume": "MIRI", "filter": "P750L", "patttype": "ALONG-SLIT-NOD"}
    rows = [_row(1, 1, "MIRIMAGE", **lrs), _row(2, 1, "MIRIMAGE", **lrs)]
    [asn], _ = _both(_pool(tmp_path, rows), {"spec3"})
    assert {(m.expname, m.exptype) for m in asn.products[0].members} == {
        ("jw01234001001_03101_00001_mirimage_cal.fits", "science"),
        ("jw01234001001_03101_00002_mirimage_cal.fits", "science"),
        ("jw01234001001_03101_00001_mirimage_x1d.fits", "background"),
        ("jw01234001001_03101_00002_mirimage_x1d.fits", "background")}


def test_time_series_only_per_observation_and_soss_only_with_several_integrations(tmp_path: Path) -> None:
    soss = {"exp_type": "NIS_SOSS", "instrume": "NIRISS", "filter": "CLEAR", "pupil": "GR700XD",
            "subarray": "SUBSTRIP256", "tsovisit": "T"}
    group = [("c1000", "group")]
    rows = [_row(1, 1, "NIS", group, nints=1, **soss),
            _row(2, 2, "NIS", group, nints=300, **soss), _row(3, 2, "NIS", group, nints=300, **soss),
            _row(4, 3, "NRCA1", exp_type="NRC_TSIMAGE", instrume="NIRCAM", filter="F210M", pupil="WLP8",
                 subarray="SUB64P", tsovisit="T", nints=100),
            _row(5, 3, "NRCA1", exp_type="NRC_TACQ", instrume="NIRCAM", filter="F335M", pupil="CLEAR",
                 pntgtype="TARGET_ACQUISITION", subarray="SUB64P")]
    _, signatures = _both(_pool(tmp_path, rows), {"tso3", "spec3"})
    assert {(s[0], s[1]) for s in signatures} == {("tso3", "o002"), ("tso3", "o003")}  # no c1000, no o001
    members = {s[1]: dict(s[3]) for s in signatures}
    assert members["o002"] == {"jw01234002001_03101_00002_nis_calints.fits": "science",
                               "jw01234002001_03101_00003_nis_calints.fits": "science"}
    assert members["o003"] == {"jw01234003001_03101_00004_nrca1_calints.fits": "science",
                               "jw01234003001_03101_00005_nrca1_cal.fits": "target_acquisition"}


def test_a_background_target_rule_asks_for_bkgdtarg_t_as_jwst_does(tmp_path: Path) -> None:
    """BKGDTARG=Y makes an exposure a background member (any value does), but jwst's background-target
    rules ask for the value T: an MRS exposure with Y forms no association of its own."""
    mrs = {"exp_type": "MIR_MRS", "instrume": "MIRI", "patttype": "4-POINT-DITHER"}
    rows = [_row(1, 1, "MIRIFUSHORT", bkgdtarg="Y", **mrs), _row(2, 2, "MIRIFUSHORT", bkgdtarg="T", **mrs)]
    _, signatures = _both(_pool(tmp_path, rows), {"spec3"})
    assert {s[1] for s in signatures} == {"o002"}


def test_full_frame_short_wave_coronagraphy_is_also_imaged_as_jwst_does(tmp_path: Path) -> None:
    coron = {"exp_type": "NRC_CORON", "instrume": "NIRCAM", "filter": "F210M", "pupil": "MASKRND",
             "channel": "SHORT"}
    rows = [_row(n, 1, det, **coron) for n, det in enumerate(("NRCA1", "NRCA2", "NRCA3", "NRCA4"), start=1)]
    rows.append(_row(5, 2, "NRCA2", [("c1000", "coronagraphy")], is_psf="T", targetid=2, **coron))
    rows[1]["asn_candidate"] = "[('o001', 'observation'), ('c1000', 'coronagraphy')]"
    _, signatures = _both(_pool(tmp_path, rows), {"image3", "coron3"})
    images = [s for s in signatures if s[0] == "image3"]
    # every short-wave detector of the observation; the coronagraphy candidate images its science exposure
    assert {(s[2], len(s[3])) for s in images} == {("jw01234-o001_t001_nircam_f210m-maskrnd-image3", 4),
                                                   ("jw01234-c1000_t001_nircam_f210m-maskrnd-image3", 1)}
    assert all(name.endswith("_cal.fits") for s in images for name, _ in s[3])  # images, not integrations
    [coron3] = [s for s in signatures if s[0] == "coron3"]
    assert dict(coron3[3]) == {"jw01234001001_03101_00002_nrca2_calints.fits": "science",
                               "jw01234002001_03101_00005_nrca2_calints.fits": "psf"}


def test_imaging_of_a_background_target_is_its_own_image3(tmp_path: Path) -> None:
    image = {"exp_type": "MIR_IMAGE", "instrume": "MIRI", "filter": "F770W"}
    rows = [_row(1, 1, "MIRIMAGE", **image), _row(2, 1, "MIRIMAGE", **image),
            _row(3, 1, "MIRIMAGE", targetid=2, bkgdtarg="T", **image)]
    _, signatures = _both(_pool(tmp_path, rows), {"image3"})
    assert {(s[2], len(s[3])) for s in signatures} == {("jw01234-o001_t001_miri_f770w", 2),
                                                       ("jw01234-o001_t002_miri_f770w", 1)}


def test_science_targets_sharing_a_psf_reference_get_one_association_each(tmp_path: Path) -> None:
    """jwst constrains the target of science members only: two science targets of a coronagraphy candidate
    with one PSF star make two coron3 associations, each with the PSF."""
    coron = {"exp_type": "MIR_4QPM", "instrume": "MIRI", "filter": "F1065C", "subarray": "MASK1065"}
    candidate = [("c1000", "coronagraphy")]
    rows = [_row(1, 1, "MIRIMAGE", candidate, **coron), _row(2, 2, "MIRIMAGE", candidate, targetid=2, **coron),
            _row(3, 3, "MIRIMAGE", candidate, targetid=3, is_psf="T", **coron)]
    _, signatures = _both(_pool(tmp_path, rows), {"coron3"})
    crossed = sorted(s for s in signatures if s[1] == "c1000")
    assert [s[2] for s in crossed] == ["jw01234-c1000_t001_miri_f1065c-mask1065",
                                       "jw01234-c1000_t002_miri_f1065c-mask1065"]
    assert all(("jw01234003001_03101_00003_mirimage_calints.fits", "psf") in s[3] for s in crossed)


def test_an_association_repeated_by_a_cross_observation_candidate_is_kept_once(tmp_path: Path) -> None:
    """jwst's prune: when a c-candidate gathers exactly an observation's members, only the observation's
    association is kept."""
    image = {"exp_type": "MIR_IMAGE", "instrume": "MIRI", "filter": "F770W"}
    candidate = [("c1000", "coronagraphy")]
    ours, _ = _both(_pool(tmp_path, [_row(1, 1, "MIRIMAGE", candidate, **image),
                                     _row(2, 1, "MIRIMAGE", candidate, **image)]), {"image3"})
    assert [a.asn_id for a in ours] == ["o001"]


def test_the_target_acquisition_of_a_background_observation_is_a_member(tmp_path: Path) -> None:
    background = [("c1000", "background")]
    rows = [*_nods_and_background_target(background)[:3],
            _row(4, 2, "NRS1", background, targetid=2, exp_type="NRS_TASLIT", instrume="NIRSPEC",
                 pntgtype="TARGET_ACQUISITION", filter="F110W", grating="MIRROR", subarray="SUB32")]
    _, signatures = _both(_pool(tmp_path, rows), {"spec3"})
    [crossed] = [s for s in signatures if s[1] == "c1000"]
    assert ("jw01234002001_03101_00004_nrs1_cal.fits", "target_acquisition") in crossed[3]


def test_psf_images_and_several_a_slits_are_named_and_typed_as_jwst_does(tmp_path: Path) -> None:
    image = {"exp_type": "NRC_IMAGE", "instrume": "NIRCAM", "filter": "F200W", "pupil": "CLEAR"}
    [asn], _ = _both(_pool(tmp_path, [_row(1, 1, "NRCA3", **image), _row(2, 1, "NRCA3", is_psf="T", **image)]),
                     {"image3"})
    assert {m.exptype for m in asn.products[0].members} == {"science", "psf"}
    fss = {"exp_type": "NRS_FIXEDSLIT", "instrume": "NIRSPEC", "filter": "F100LP", "grating": "G140H",
           "subarray": "FULL", "patttype": "NONE", "bkgdtarg": "T"}
    (tmp_path / "slits").mkdir()
    [aux], _ = _both(_pool(tmp_path / "slits", [_row(1, 1, "NRS1", fxd_slit="S200A1", **fss),
                                                _row(2, 1, "NRS1", fxd_slit="S200A2", **fss)]), {"spec3"})
    assert aux.products[0].name == "jw01234-o001_t001_nirspec_f100lp-g140h-s200a1-s200a2"

"""WFSS exposures wait in the tracker for their direct images' catalog (services/direct_images.py).

The product *files* stand for storage state as in test_tracker.py: the rate of a simulated NIS_WFSS exposure,
the ``_cal`` of a simulated direct image, an image3 ASN naming it, and the image3 products the level-2 ASN names.
The tracker reads nothing else; tests/streamcal/pipelines/test_wfss_chain.py runs the pipelines on real pixels.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.app import run_system
from services.bus import InMemoryBus
from services.codec import encode
from services.events import DEADLETTER, MEMBER_DONE, PRODUCTS, ProductsWritten, WorkItem, utcnow, work_topic
from services.router import route_exposure
from streamcal.associations import build_asn, read_asn, write_asn
from streamcal.associations.wfss import direct_image_matches, level2_wfss_asn
from streamcal.datamodels import Extension, read_header, write_fits
from streamcal.simulate import ExposureSpec, simulate_exposure
from tests.services.support import events_on, eventually, fast_settings, land, make_program
from tests.services.test_tracker import LIBRARY, TABLE, tracker_on


def _product(raw: Path, products: Path, suffix: str, **overrides: object) -> Path:
    """A product file of ``raw`` (its primary header with the router's run specification and ``overrides``)."""
    routed = route_exposure(raw, TABLE, LIBRARY)
    path = products / f"{routed.exposure_id}_{suffix}.fits"
    made_by = routed.route.stage1 if suffix == "rate" else routed.route.stage2
    write_fits(path, primary={**read_header(raw), **routed.spec.keywords(), "PIPELINE": made_by, **overrides},
               extensions=[Extension("SCI", None)])
    return path


@pytest.fixture(scope="module")
def raws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("raw")
    return {
        "wfss": simulate_exposure(ExposureSpec(exp_type="NIS_WFSS", observation=7, exposure=3), out, rng_seed=1).path,
        "direct": simulate_exposure(ExposureSpec(exp_type="NIS_IMAGE", observation=7, exposure=1), out,
                                    rng_seed=2).path,
        "other": simulate_exposure(ExposureSpec(exp_type="NIS_IMAGE", observation=8, exposure=1), out,
                                   rng_seed=3).path,
    }


def _stage2_item(raw: Path, products: Path) -> WorkItem:
    routed = route_exposure(raw, TABLE, LIBRARY)
    rate = _product(raw, products, "rate")
    return WorkItem(pipeline="calwebb_spec2", input_path=rate, raw_path=raw, spec=routed.spec.to_dict(),
                    exposure_id=routed.exposure_id, association_id=routed.association_id, landed_at=utcnow())


def _image3(products: Path, cal: Path, *, finished: bool) -> str:
    """An image3 ASN of one direct image beside the products; with ``finished``, its products too."""
    asn = build_asn("image3", [(cal.name, read_header(cal))], code_version="test")
    name = asn.products[0].name
    write_asn(asn, products / f"{name}_image3_asn.json")
    if finished:
        for suffix in ("_i2d.fits", "_segm.fits"):
            write_fits(products / f"{name}{suffix}", primary={}, extensions=[Extension("SCI", None)])
        (products / f"{name}_cat.ecsv").write_text("# %ECSV 1.0\n")
    return name


def _image3_done(products: Path, name: str) -> ProductsWritten:
    return ProductsWritten(pipeline="calwebb_image3", exposure_id=name, input_path=products / f"{name}_asn.json",
                           products=(products / f"{name}_i2d.fits",), seconds=1.0)


def test_direct_image_match_follows_jwst_level2_rules(raws):
    """Same program, observation, instrument and blocking filter (NIRISS: PUPIL; NIRCam: FILTER and MODULE)."""
    wfss, direct, other = (read_header(raws[k]) for k in ("wfss", "direct", "other"))
    assert direct_image_matches(wfss, direct)
    assert not direct_image_matches(wfss, other)  # another observation
    assert not direct_image_matches(wfss, {**direct, "PUPIL": "F200W"})
    assert not direct_image_matches(wfss, {**direct, "EXP_TYPE": "NIS_SOSS"})
    assert not direct_image_matches(direct, wfss)  # only a WFSS exposure has direct images
    nrc = {"EXP_TYPE": "NRC_WFSS", "INSTRUME": "NIRCAM", "PROGRAM": "01234", "OBSERVTN": "002", "FILTER": "F356W",
           "PUPIL": "GRISMR", "MODULE": "A"}
    image = {**nrc, "EXP_TYPE": "NRC_IMAGE", "PUPIL": "CLEAR", "PROGRAM": "1234", "OBSERVTN": "2"}
    assert direct_image_matches(nrc, image)
    assert not direct_image_matches(nrc, {**image, "MODULE": "B"})
    assert not direct_image_matches(nrc, {**image, "FILTER": "F444W"})


def test_level2_asn_names_the_direct_products_as_jwst(raws):
    asn = level2_wfss_asn("jw01234007001_01101_00003_nis_rate.fits", "jw01234-o007_t001_niriss_clear-f150w",
                          read_header(raws["wfss"]))
    doc = asn.to_dict()
    assert doc["asn_type"] == "spec2" and doc["asn_rule"] == "Asn_Lv2WFSSNIS" and doc["asn_id"] == "o007"
    [product] = doc["products"]
    assert product["name"] == "jw01234007001_01101_00003_nis"
    assert [(m["exptype"], m["expname"]) for m in product["members"]] == [
        ("science", "jw01234007001_01101_00003_nis_rate.fits"),
        ("direct_image", "jw01234-o007_t001_niriss_clear-f150w_i2d.fits"),
        ("sourcecat", "jw01234-o007_t001_niriss_clear-f150w_cat.ecsv"),
        ("segmap", "jw01234-o007_t001_niriss_clear-f150w_segm.fits")]


async def test_wfss_waits_for_the_catalog_then_goes_to_spec2_with_a_level2_asn(raws, tmp_path):
    bus, products = InMemoryBus(), tmp_path / "products"
    products.mkdir()
    item = _stage2_item(raws["wfss"], products)
    cal = _product(raws["direct"], products, "cal")
    other = _product(raws["other"], products, "cal")
    _image3(products, other, finished=True)  # another observation's catalog: not this exposure's
    async with tracker_on(bus, products) as (tracker, _):
        await bus.publish(MEMBER_DONE, item.exposure_id, encode(item))
        await eventually(lambda: len(tracker.catalog_waits) == 1)
        name = _image3(products, cal, finished=False)  # released, not run yet
        await bus.publish(PRODUCTS, name, encode(_image3_done(products, "unrelated")))
        await asyncio.sleep(0.3)  # two sweeps
        assert not events_on(bus, work_topic("calwebb_spec2")) and len(tracker.catalog_waits) == 1
        _image3(products, cal, finished=True)
        await bus.publish(PRODUCTS, name, encode(_image3_done(products, name)))
        await eventually(lambda: len(events_on(bus, work_topic("calwebb_spec2"))) == 1)
        assert len(tracker.catalog_waits) == 0
    [released] = events_on(bus, work_topic("calwebb_spec2"))
    assert isinstance(released, WorkItem)
    assert released.input_path == products / f"{item.exposure_id}_spec2_asn.json"
    assert (released.exposure_id, released.spec, released.raw_path) == (item.exposure_id, item.spec, item.raw_path)
    asn = read_asn(released.input_path)
    assert [(m.exptype, m.expname) for m in asn.products[0].members] == [
        ("science", item.input_path.name), ("direct_image", f"{name}_i2d.fits"), ("sourcecat", f"{name}_cat.ecsv"),
        ("segmap", f"{name}_segm.fits")]
    assert not events_on(bus, DEADLETTER)


async def test_a_catalog_already_there_releases_at_once(raws, tmp_path):
    bus, products = InMemoryBus(), tmp_path / "products"
    products.mkdir()
    item = _stage2_item(raws["wfss"], products)
    _image3(products, _product(raws["direct"], products, "cal"), finished=True)
    async with tracker_on(bus, products):
        await bus.publish(MEMBER_DONE, item.exposure_id, encode(item))
        await eventually(lambda: len(events_on(bus, work_topic("calwebb_spec2"))) == 1)


async def test_no_catalog_by_the_deadline_is_one_dead_letter(raws, tmp_path):
    bus, products = InMemoryBus(), tmp_path / "products"
    products.mkdir()
    item = _stage2_item(raws["wfss"], products)
    async with tracker_on(bus, products, deadline_s=0.3) as (tracker, _):
        await bus.publish(MEMBER_DONE, item.exposure_id, encode(item))
        await eventually(lambda: len(events_on(bus, DEADLETTER)) == 1)
        await asyncio.sleep(0.3)
        assert len(tracker.catalog_waits) == 0
    [letter] = events_on(bus, DEADLETTER)
    assert letter.reason == "bad_association" and letter.key == item.exposure_id
    assert "no source catalog from the NIS_IMAGE images" in letter.error and "0.3 s deadline" in letter.error
    assert not events_on(bus, work_topic("calwebb_spec2"))


@pytest.mark.parametrize("case", ["not_wfss", "outside_products"])
async def test_a_work_item_the_tracker_cannot_hold_is_a_dead_letter(raws, tmp_path, case):
    bus, products = InMemoryBus(), tmp_path / "products"
    products.mkdir()
    if case == "not_wfss":
        item, reason, text = _stage2_item(raws["direct"], products), "invalid_input", "holds only WFSS stage-2 work"
        item = WorkItem(**{**{f: getattr(item, f) for f in ("input_path", "raw_path", "spec", "exposure_id")},
                           "pipeline": "calwebb_image2"})
    else:
        item, reason, text = _stage2_item(raws["wfss"], tmp_path), "forbidden_path", "WFSS stage-2 input"
    async with tracker_on(bus, products) as (tracker, _):
        await bus.publish(MEMBER_DONE, item.exposure_id, encode(item))
        await eventually(lambda: len(events_on(bus, DEADLETTER)) == 1)
        assert len(tracker.catalog_waits) == 0
    [letter] = events_on(bus, DEADLETTER)
    assert letter.reason == reason and text in letter.error


@pytest.mark.slow
async def test_a_wfss_visit_flows_from_raw_ramps_to_spec3(tmp_path):
    """End to end on the embedded bus: the direct images' image3 makes the catalog, the tracker releases both
    grism exposures to spec2 with level-2 ASNs, and spec3 combines each grism's sources; nothing waits."""
    program = make_program(tmp_path / "program", ["wfss"])
    land(program.exposures, tmp_path / "ingest")
    result = await run_system(fast_settings(tmp_path, program, timeout_s=600.0), until_idle=3.0,
                              install_signals=False, registry=CollectorRegistry())
    products = tmp_path / "products"
    tally = result.process.observer.tally
    assert result.status == 0 and not tally.deadletters and not tally.waiting(result.process.served)
    assert len(list(products.glob("*_nis_spec2_asn.json"))) == 2
    for grism in ("gr150r", "gr150c"):
        for suffix in ("x1d", "c1d"):
            assert (products / f"jw01234-o010_t001_niriss_f150w-{grism}_{suffix}.fits").exists()

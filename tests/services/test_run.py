"""``streamcal run``: every service in one process on the embedded bus, end to end (services/app.py).

The simulated program is the demo program (it includes AMI): an imaging dither, a TSO pair, coronagraphy and AMI
(science + PSF), a WFS&C pair, darks, guider and spectroscopy. The imaging dither ends as a mosaic and a
catalog (calwebb_image3), the WFS&C pair as a combined image (calwebb_wfs-image3), the TSO pair as a light
curve (calwebb_tso3), the coronagraphic pair as a PSF-subtracted image (calwebb_coron3). Stage-2/3 pipelines
that are not implemented are not faked: their work waits in its topic and the summary says so.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.app import run_system
from services.codec import encode
from services.events import ARRIVED, is_pending
from services.ingest import arrival
from services.products import expected_products
from services.report import render_summary
from services.router import RoutedExposure, route_exposure
from streamcal.associations import read_asn
from streamcal.datamodels.naming import product_file, split_suffix
from streamcal.pipelines import implemented_aliases, implements
from streamcal.routing import load_pars, load_routing_table
from tests.services.support import Program, eventually, fast_settings, http_get, land

pytestmark = pytest.mark.slow  # see pyproject.toml: deselected by the fast inner loop

TABLE = load_routing_table()
LIBRARY = load_pars(registry=TABLE.registry)


def routes_of(program: Program) -> dict[str, RoutedExposure]:
    return {p.name: route_exposure(p, TABLE, LIBRARY) for p in program.exposures}


#: What an implemented stage-3 pipeline writes, named after the ASN's product.
STAGE3_PRODUCTS = {"image3": (("i2d", ".fits"), ("i2d", ".png"), ("cat", ".ecsv"), ("segm", ".fits")),
                   "wfs-image3": (("wfscmb", ".fits"), ("wfscmb", ".png")),
                   "spec3": (("s2d", ".fits"), ("x1d", ".fits"), ("x1d", ".png"), ("c1d", ".fits")),
                   "ami3": (("aminorm-oi", ".fits"),),
                   "coron3": (("psfstack", ".fits"), ("i2d", ".fits"), ("i2d", ".png")),
                   # the demo's time series is NRC_TSIMAGE: photometry (a spectroscopic one writes x1dints, whtlt)
                   "tso3": (("phot", ".ecsv"), ("phot", ".png"))}
#: calwebb_spec3's products for the IFU modes: a combined cube instead of the s2d and c1d.
IFU_SPEC3_PRODUCTS = (("s3d", ".fits"), ("s3d", ".png"), ("x1d", ".fits"), ("x1d", ".png"))


def assert_everything_processed(program: Program, products: Path) -> None:
    """Every raw file has the products of every implemented stage of its route (stage 1 and 2), and every
    released association of an implemented stage 3 has its stage-3 products."""
    for raw, routed in routes_of(program).items():
        route = routed.route
        for alias in (route.stage1, route.stage2):
            if alias is None or not implements(alias, str(route.exp_type)):
                continue
            expected = expected_products(alias, routed.exposure_id, routed.spec, products)
            assert expected and all(p.exists() for p in expected), (raw, alias)
    kinds = {r.route.asn_type for r in routes_of(program).values() if r.route.stage3 in implemented_aliases()}
    asns = [read_asn(p) for p in products.glob("*_asn.json")]
    assert kinds <= {a.asn_type for a in asns}, (kinds, [a.asn_type for a in asns])
    routes = {r.exposure_id: r.route for r in routes_of(program).values()}
    for asn in asns:
        # an association its stage 3 does not take yet (calwebb_spec3 and NRS_MSASPEC) waits: no products
        route = routes[split_suffix(asn.products[0].by_type("science")[0].expname)[0]]
        if route.stage3 is None or not implements(route.stage3, str(route.exp_type)):
            continue
        ifu = asn.asn_type == "spec3" and str(route.exp_type) in ("MIR_MRS", "NRS_IFU")
        name = asn.products[0].name
        if asn.asn_type == "spec3" and str(route.exp_type) == "NRS_MSASPEC":  # a set of products per source
            sources = sorted(products.glob(f"{name}_s0*_x1d.fits"))
            assert sources, (asn.asn_type, "no source's x1d")
            for x1d in sources:
                for suffix in ("s2d", "c1d"):
                    assert x1d.with_name(x1d.name.replace("_x1d", f"_{suffix}")).exists(), (x1d.name, suffix)
            continue
        for suffix, extension in IFU_SPEC3_PRODUCTS if ifu else STAGE3_PRODUCTS.get(asn.asn_type, ()):
            assert (products / product_file(name, suffix, extension)).exists(), (asn.asn_type, suffix)


def expected_releases(program: Program) -> set[str]:
    """The associations whose members all reach an implemented stage 2: each must be released exactly once."""
    return {r.association_id for r in routes_of(program).values()
            if r.association_id and r.route.stage2 is not None
            and implements(r.route.stage2, str(r.route.exp_type))}


def expected_waiting(program: Program) -> dict[str, int]:
    """Work items in topics without a worker: per exposure for stage 2, per association for stage 3."""
    waiting: dict[str, int] = {}
    released = set()
    for routed in routes_of(program).values():
        route = routed.route
        if route.stage2 is not None and not implements(route.stage2, str(route.exp_type)):
            waiting[route.stage2] = waiting.get(route.stage2, 0) + 1  # no worker, or not for this EXP_TYPE yet
        elif route.stage3 is not None and not implements(route.stage3, str(route.exp_type)):
            released.add((route.stage3, routed.association_id))
    for alias, _ in released:
        waiting[alias] = waiting.get(alias, 0) + 1
    return waiting


async def test_the_program_flows_end_to_end_and_metrics_show_real_values(program, tmp_path):
    """1. Half the files are in the ingest folder at start (startup rescan), half land while running: every
    exposure is routed and gets its stage-1 products; unimplemented stage-2 work waits and is reported;
    each association fires at most once; nothing is dead-lettered.
    2. /metrics shows the whole catalogue with real values; /healthz and /readyz answer 200; the sampled consumer
       lag is 0 once everything is consumed, and the waiting work is what sits in the pending topics (issue 14)."""
    settings = fast_settings(tmp_path, program, metrics_port=0, lag_interval_s=0.2)
    files = program.exposures
    land(files[::2], tmp_path / "ingest")
    stop, started = asyncio.Event(), []
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry(),
                                         on_start=started.append))
    await asyncio.sleep(0.5)
    land(files[1::2], tmp_path / "ingest")
    await eventually(lambda: all_products(program, tmp_path / "products"), timeout=120)
    await asyncio.sleep(1.0)
    port = started[0].http.port
    status, text = await asyncio.to_thread(http_get, port, "/metrics")
    bus = started[0].bus
    parked = sum(len(bus.records(t)) for t in bus.topics() if is_pending(t))
    # every stage of the program is implemented now: nothing is parked, and the gauge says so
    assert parked == 0 and f'streamcal_waiting_work{{kind="pending"}} {parked}.0' in text
    assert status == 200
    assert (await asyncio.to_thread(http_get, port, "/healthz"))[0] == 200
    assert (await asyncio.to_thread(http_get, port, "/readyz"))[0] == 200
    stop.set()
    result = await run
    assert result.status == 0
    tally = result.process.observer.tally
    assert len(tally.arrived) == len(files) and len(tally.routes) == len(files) and tally.deadletters == {}
    assert tally.waiting(result.process.served) == expected_waiting(program)
    assert set(tally.released) == expected_releases(program)
    assert tally.release_events == len(tally.released)                 # exactly once each
    assert_everything_processed(program, tmp_path / "products")
    for line in ('streamcal_events_total{outcome="success",service="router",topic="streamcal.exposure.arrived"} '
                 f"{len(files)}.0",
                 'streamcal_exposures_routed_total{exp_type="NRC_IMAGE",stage1="calwebb_detector1"} 6.0',
                 'streamcal_pipeline_seconds_count{pipeline="calwebb_detector1"}',
                 'streamcal_step_seconds_count{pipeline="calwebb_detector1",step="ramp_fit"}',
                 'streamcal_consumer_lag{group="streamcal.router",topic="streamcal.exposure.arrived"} 0.0',
                 'streamcal_consumer_lag{group="streamcal.worker.calwebb_detector1",topic=',
                 'streamcal_waiting_work{kind="associations_open"}', 'streamcal_inflight{service="watcher"} 0.0',
                 "streamcal_associations_open", 'streamcal_last_success_timestamp_seconds{service="router"} 1.',
                 "streamcal_build_info{", "streamcal_deadletters_total"):
        assert line in text, line
    out = io.StringIO()
    render_summary(tally, elapsed=result.elapsed, served=result.process.served, out=out)
    report = out.getvalue()
    assert "does not take MIR_MRS" not in report  # calwebb_spec3 combines the MRS dither into a cube
    assert "NRC_TSIMAGE    T" in report and "dead letters: 0" in report


def all_products(program: Program, products: Path) -> bool:
    try:
        assert_everything_processed(program, products)
    except AssertionError:
        return False
    return True


async def test_bad_inputs_and_duplicates_end_as_dead_letters_while_the_rest_completes(program, tmp_path, make_raw):
    """3. A corrupt FITS, a file with no EXP_TYPE, one with an unknown EXP_TYPE and a malformed event become
    dead letters with clear reasons (records under products/deadletter/); duplicate arrivals produce no
    duplicate products; every good file completes."""
    ingest = tmp_path / "ingest"
    good = land(program.files("jw01234006", "jw01234007"), ingest)
    (ingest / "jw01234099001_02101_00001_nrca1_uncal.fits").write_bytes(good[0].read_bytes()[:50_000])
    no_exp, _ = make_raw(EXP_TYPE=None, EXPOSURE="00021")
    unknown, _ = make_raw(EXP_TYPE="NRC_BOGUS", EXPOSURE="00022")
    land([no_exp, unknown], ingest)
    started: list = []
    run = asyncio.create_task(run_system(fast_settings(tmp_path, program), install_signals=False, until_idle=1.5,
                                         registry=CollectorRegistry(), on_start=started.append))
    await eventually(lambda: bool(started))
    bus = started[0].bus
    await bus.publish(ARRIVED, "junk", b"\x00 not an event")
    dup = arrival(good[0], good[0].stat().st_size, good[0].stat().st_mtime_ns)
    for _ in range(2):
        await bus.publish(ARRIVED, dup.exposure_id, encode(dup))
    result = await asyncio.wait_for(run, 120)
    tally = result.process.observer.tally
    reasons = sorted(d.reason for d in tally.deadletters.values())
    assert reasons == ["corrupt_file", "malformed_event", "unknown_exp_type", "unknown_exp_type"]
    records = sorted(p.name.split(".")[1] for p in (tmp_path / "products" / "deadletter").glob("*.json"))
    assert records == reasons
    names = sorted(p.name for p in (tmp_path / "products").glob("*.fits"))
    assert len(names) == len(set(names)) == 5         # 2 darks + 3 guider products, each once
    runs = [w for w in tally.products.values() if w.exposure_id == dup.exposure_id]
    assert len(runs) == 1


def test_a_killed_run_restarted_ends_with_everything_processed(program, tmp_path):
    """4. ``streamcal run`` (a real process with its pool) is killed mid-run (SIGKILL to its process group);
    a second run finishes everything: stage-1 work already on storage is resumed without a rerun, the rest
    is run, and the waiting stage-2 work is re-emitted; no dead letters."""
    ingest, products = tmp_path / "ingest", tmp_path / "products"
    land(program.exposures, ingest)
    command = [sys.executable, "-m", "services.cli", "run", "--ingest", str(ingest), "--products", str(products),
               "--refs", str(program.refs), "--poll-interval", "0.1", "--concurrency", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(list(products.glob("*_rate.fits"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = len(list(products.glob("*_rate.fits")))
    assert 3 <= done_before < len(program.files("nrca3", "nrs1", "mirifu", "nis_"))
    out = io.StringIO()
    result = asyncio.run(run_system(fast_settings(tmp_path, program), until_idle=1.5, install_signals=False,
                                    summary=out, registry=CollectorRegistry()))
    tally = result.process.observer.tally
    assert result.status == 0 and tally.deadletters == {}
    assert_everything_processed(program, products)
    assert sum(w.skipped for w in tally.products.values()) >= done_before - 1
    assert tally.waiting(result.process.served) == expected_waiting(program)
    assert "resumed" in out.getvalue()

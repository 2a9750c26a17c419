"""Benchmark: the whole calwebb_detector1 pipeline, and its jump + ramp_fit against stcal, on three sizes.

Plain script (not collected by pytest)::

    .venv/bin/python benchmarks/detector1.py [--reps 3] [--cases full,long,tso] [--skip-kernels]

Cases (issue 3): ``full`` = NIRCam full frame 1×10×2048×2048; ``long`` = a 512×512 subarray with 50 groups
(MIRI BRIGHTSKY, so the MIRI step order is exercised); ``tso`` = NIRCam SUBGRISM64 (64×2048), 8 groups,
300 integrations.

Two parts, both single-core (thread pools pinned to 1 before numpy is imported):

1. **Whole pipeline.** Each case is simulated once with ``streamcal.simulate`` (with the matching reference set)
   and ``calibrate`` runs calwebb_detector1 on the ``_uncal`` file in a fresh child process per repetition.
   Reported: wall time, per-step times, and peak RSS during the run minus RSS before it, over the ramp's float32
   size (the issue's memory criterion: ≤ 2×). stcal has no whole-pipeline entry point (that is jwst), so stcal's
   jump + ramp_fit time on the same case (part 2) is printed beside it for scale.
2. **Kernels vs stcal**, same arrays, same run, interleaved: ``benchmarks/jump_rampfit.py``'s harness (first and
   second call per fresh process, median of the reps, accuracy scored against the injected truth).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: case → (EXP_TYPE, SUBARRAY, NGROUPS, NINTS); shapes match jump_rampfit.CASES
PIPELINE_CASES = {
    "full": ("NRC_IMAGE", "FULL", 10, 1),
    "long": ("MIR_IMAGE", "BRIGHTSKY", 50, 1),
    "tso": ("NRC_TSGRISM", "SUBGRISM64", 8, 300),
}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(raw: Path, refs: Path, out: Path) -> None:
    """One pipeline run in this fresh process; prints JSON with time, steps and memory."""
    from streamcal.calibrate import calibrate
    from streamcal.datamodels import read_headers

    header = read_headers(raw)
    time.sleep(0.5)  # let OpenBLAS's spin-wait end (stcal_baseline.md, gotcha 9)
    try:
        Path("/proc/self/clear_refs").write_text("5")
        exact = True
    except OSError:
        exact = False
    before = _status("VmRSS")
    started = time.perf_counter()
    result = calibrate(raw, pipeline_alias="calwebb_detector1", refs_dir=refs, out_dir=out)
    wall = time.perf_counter() - started
    peak = _status("VmHWM")
    nints, ngroups = int(header["NINTS"]), int(header["NGROUPS"])
    ramp_mib = nints * ngroups * int(header["SUBSIZE2"]) * int(header["SUBSIZE1"]) * 4 / 2**20
    print(json.dumps({"wall": wall, "extra_mib": (peak - before) / 1024, "ramp_mib": ramp_mib, "exact": exact,
                      "steps": {s.name: s.seconds for s in result.steps if s.status == "COMPLETE"}}))


def simulate_case(name: str, root: Path) -> tuple[Path, Path]:
    from streamcal.simulate import ExposureSpec, simulate_exposure, write_reference_set

    exp_type, subarray, ngroups, nints = PIPELINE_CASES[name]
    spec = ExposureSpec(exp_type=exp_type, size="full", subarray=subarray, ngroups=ngroups, nints=nints)
    exposure = simulate_exposure(spec, root / name, rng_seed=20240611)
    refs = root / f"{name}_refs"
    write_reference_set(refs, only=[(str(exposure.header["DETECTOR"]), subarray)])
    return exposure.path, refs


def bench_pipeline(name: str, root: Path, reps: int) -> dict[str, object]:
    started = time.perf_counter()
    raw, refs = simulate_case(name, root)
    print(f"  simulated {name} in {time.perf_counter() - started:.1f} s: {raw.name}", flush=True)
    runs = []
    for rep in range(reps):
        cmd = [sys.executable, __file__, "--child", str(raw), "--refs", str(refs), "--out", str(root / "out")]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
        run = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(f"  {name} rep {rep}: {run['wall']:.2f} s, +{run['extra_mib']:.0f} MiB "
              f"({run['extra_mib'] / run['ramp_mib']:.2f}x the {run['ramp_mib']:.0f} MiB float32 ramp)", flush=True)
    steps = {k: median(r["steps"][k] for r in runs) for k in runs[0]["steps"]}
    return {"case": name, "wall": median(r["wall"] for r in runs), "extra_mib": median(r["extra_mib"] for r in runs),
            "ramp_mib": runs[0]["ramp_mib"], "steps": steps}


def report(pipeline: list[dict], kernels: dict[str, dict]) -> None:  # type: ignore[type-arg]
    print("\nWhole calwebb_detector1 (ours; median of the reps)")
    print("\n| case | wall s | stcal jump+ramp_fit s | peak RSS over input | × float32 ramp | slowest steps |")
    print("|---|---|---|---|---|---|")
    for r in pipeline:
        k = kernels.get(r["case"])
        stcal = f"{k['together_s']['first']['stcal']:.2f}" if k else "-"
        slow = ", ".join(f"{n} {s:.2f}" for n, s in sorted(r["steps"].items(), key=lambda kv: -kv[1])[:3])
        print(f"| {r['case']} | {r['wall']:.2f} | {stcal} | {r['extra_mib']:.0f} MiB | "
              f"{r['extra_mib'] / r['ramp_mib']:.2f}× | {slow} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--cases", default="full,long,tso")
    p.add_argument("--skip-kernels", action="store_true", help="only the whole-pipeline part")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--refs", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.refs, args.out)
        return
    import jump_rampfit

    names = args.cases.split(",")
    kernels: dict[str, dict] = {}  # type: ignore[type-arg]
    pipeline = []
    with tempfile.TemporaryDirectory(prefix="bench_detector1_") as tmp:
        root = Path(tmp)
        for name in names:
            print(f"whole pipeline, {name} ...", flush=True)
            pipeline.append(bench_pipeline(name, root, args.reps))
            if not args.skip_kernels:
                print(f"jump + ramp_fit vs stcal, {name} {jump_rampfit.CASES[name]} ...", flush=True)
                kernel_root = root / "kernels"
                kernel_root.mkdir(exist_ok=True)
                kernels[name] = jump_rampfit.bench(
                    name, jump_rampfit.prepare(name, jump_rampfit.CASES[name], kernel_root), args.reps)
    if kernels:
        jump_rampfit.report(list(kernels.values()))
    report(pipeline, kernels)


if __name__ == "__main__":
    main()

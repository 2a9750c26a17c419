"""Benchmark: streamcal's jump detection and ramp fitting against stcal 1.20 on the same synthetic ramps.

Plain script (not collected by pytest)::

    .venv/bin/python benchmarks/jump_rampfit.py [--reps 3] [--cases full,long] [--json out.json]

Cases (``../shared/research/stcal_baseline.md``): ``full`` = 1×10×2048×2048 NIRCam-like full frame, ``long`` =
1×50×512×512; both simulated with stars, saturation and 0.1 % cosmic rays (``tests/streamcal/kernels/simulate.py``).

Method: the parent simulates each case once and saves the arrays as ``.npy``. Every measurement runs in a fresh
child process pinned to one thread (OPENBLAS/OMP/MKL_NUM_THREADS=1, set before numpy is imported): it loads the
inputs, imports the code under test, sleeps 0.5 s (OpenBLAS spin-wait, stcal_baseline.md gotcha 9), resets the kernel's
peak-RSS counter (``/proc/self/clear_refs``), times one call with ``perf_counter`` and reports the peak RSS above what
it held before the call ("+MiB"), then times a second call on freshly prepared inputs: the first call pays for
first-touching fresh memory (expensive on this VM), the second is the steady state of a long-running worker.
Variants are interleaved rep by rep; tables show medians. The ramp fits use the GROUPDQ produced by the same
implementation's jump step. Accuracy is scored outside the timed part, on rep 0.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = {"full": (1, 10, 2048, 2048), "long": (1, 50, 512, 512), "tso": (300, 8, 64, 2048)}
VARIANTS = ("ours_jump", "stcal_jump", "ours_ramp", "stcal_ramp")
JUMP, SAT = 4, 2


# ----------------------------------------------------------------------------------------------------- child side
def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _prepare(variant: str, d: Path, inputs: dict[str, np.ndarray], tgroup: float):
    """Import what the variant needs; return a factory of zero-argument calls doing the timed work.

    The factory builds fresh state (stcal's jump writes into its GROUPDQ, its ramp fit scales the read noise in
    place) so that a second call sees the same inputs; building it is not timed.
    """
    if variant == "ours_jump":
        from streamcal.kernels.ramp.jump import detect_jumps

        return lambda: lambda: detect_jumps(inputs["data"], inputs["groupdq"], gain=inputs["gain"],
                                            readnoise=inputs["readnoise"]).groupdq
    if variant == "ours_ramp":
        from streamcal.kernels.ramp.ramp_fit import fit_ramps

        gdq = np.load(d / "ours_jump.npy")
        return lambda: lambda: fit_ramps(inputs["data"], gdq, inputs["pixeldq"], readnoise=inputs["readnoise"],
                                         gain=inputs["gain"], frame_time=tgroup, group_time=tgroup)
    from tests.streamcal.kernels.ramp.stcal_ref import DQFLAGS

    if variant == "stcal_jump":
        from stcal.jump.jump import detect_jumps_data
        from stcal.jump.jump_class import JumpData

        def make_jump():
            jd = JumpData(gain2d=inputs["gain"], rnoise2d=inputs["readnoise"], dqflags=DQFLAGS)
            jd.init_arrays_from_arrays(inputs["data"], inputs["groupdq"].copy(), inputs["pixeldq"].copy())
            jd.nframes, jd.dt_group, jd.n_reads_groupdiff = 1, np.ones(1), np.ones(1) * 2
            jd.set_detection_settings(4.0, 6.0, 5.0, 1000.0, 10.0, True)
            jd.set_after_jump(0.0, 0, 0.0, 0)
            jd.max_cores = "none"
            return lambda: detect_jumps_data(jd)[0]

        return make_jump
    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData

    stcal_gdq = np.load(d / "stcal_jump.npy")

    def make_ramp():
        rd = RampData()
        rd.set_arrays(inputs["data"], stcal_gdq.copy(), inputs["pixeldq"].copy(),
                      np.zeros(inputs["gain"].shape, np.float32), orig_gdq=None, zeroframe=None)
        rd.set_meta(name="NIRCAM", frame_time=tgroup, group_time=tgroup, groupgap=0, nframes=1, drop_frames1=None)
        rd.algorithm = "OLS_C"
        rd.set_dqflags(DQFLAGS)
        rd.start_row, rd.num_rows = 0, inputs["data"].shape[2]
        rd.suppress_one_group_ramps = False
        rn = inputs["readnoise"].copy()  # ramp_fit_data scales it in place
        return lambda: ramp_fit_data(rd, False, rn, inputs["gain"], "OLS_C", "optimal", "none")[0]

    return make_ramp


def child(variant: str, d: Path, save: bool) -> None:
    """Time a first call (fresh process; its peak RSS is reported) and a second, steady-state call."""
    meta = json.loads((d / "meta.json").read_text())
    inputs = {k: np.load(d / f"{k}.npy") for k in ("data", "groupdq", "pixeldq", "gain", "readnoise")}
    factory = _prepare(variant, d, inputs, meta["group_time"])
    work = factory()
    time.sleep(0.5)
    exact = _reset_peak()
    before = _rss_kib("VmRSS")
    t0 = time.perf_counter()
    out = work()
    first = time.perf_counter() - t0
    peak = _rss_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if save:
        if variant.endswith("jump"):
            np.save(d / f"{variant}.npy", out)
        else:
            rate, err, dq = ((out.rate, out.err, out.dq) if variant.startswith("ours")
                             else (out["slope"], out["err"], out["dq"]))
            np.savez(d / f"{variant}.npz", rate=rate, err=err, dq=dq)
    del out
    work = factory()
    t0 = time.perf_counter()
    work()
    second = time.perf_counter() - t0
    print(json.dumps({"first": first, "second": second, "extra_mib": (peak - before) / 1024, "exact_peak": exact}))


# ---------------------------------------------------------------------------------------------------- parent side
def run_child(variant: str, d: Path, save: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", variant, "--dir", str(d)] + (["--save"] if save else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(name: str, shape: tuple[int, int, int, int], root: Path) -> Path:
    from tests.streamcal.kernels.ramp.simulate import simulate_ramps

    d = root / name
    d.mkdir()
    sim = simulate_ramps(shape, seed=20240611)
    for key in ("data", "groupdq", "pixeldq", "gain", "readnoise", "rate", "cr"):
        np.save(d / f"{key}.npy", getattr(sim, key))
    (d / "meta.json").write_text(json.dumps({"group_time": sim.group_time, "shape": shape}))
    return d


def _neighbours(cr: np.ndarray) -> np.ndarray:
    near = cr.copy()
    near[..., 1:, :] |= cr[..., :-1, :]
    near[..., :-1, :] |= cr[..., 1:, :]
    near[..., :, 1:] |= cr[..., :, :-1]
    near[..., :, :-1] |= cr[..., :, 1:]
    return near


def _detectable(d: Path, cr: np.ndarray, gdq_in: np.ndarray) -> np.ndarray:
    """Injected CRs a two-point test can see: the jump exceeds 5σ of a group difference (σ² = |median
    difference| + read noise², in electrons) and does not saturate the pixel in the group it hits."""
    data, gain, rn = np.load(d / "data.npy"), np.load(d / "gain.npy"), np.load(d / "readnoise.npy")
    diffs = np.diff(data, axis=1).astype(np.float32) * gain
    med = np.median(diffs, axis=1)
    sigma = np.sqrt(np.abs(med) + (rn * gain) ** 2)
    excess = np.concatenate([np.zeros_like(diffs[:, :1]), diffs - med[:, None]], axis=1)
    saturating = np.zeros_like(cr)
    saturating[:, :-1] = (gdq_in[:, 1:] & SAT) != 0
    return cr & ((gdq_in & SAT) == 0) & ~saturating & (excess > 5 * sigma[:, None])


def accuracy(d: Path) -> dict[str, float]:
    """Jump recall/false flags and rate agreement, ours vs stcal (the parity-test metrics)."""
    cr, gdq_in, truth = np.load(d / "cr.npy"), np.load(d / "groupdq.npy"), np.load(d / "rate.npy")
    detectable = cr & ((gdq_in & SAT) == 0)
    near = _neighbours(cr)
    res: dict[str, float] = {}
    for who in ("ours", "stcal"):
        flags = (np.load(d / f"{who}_jump.npy") & JUMP) != 0
        res[f"{who}_recall"] = float(np.count_nonzero(flags & detectable) / np.count_nonzero(detectable))
        res[f"{who}_false_flags"] = int(np.count_nonzero(flags & ~near))
        res[f"{who}_flags"] = int(np.count_nonzero(flags))
    strong = _detectable(d, cr, gdq_in)
    for who in ("ours", "stcal"):
        flags = (np.load(d / f"{who}_jump.npy") & JUMP) != 0
        res[f"{who}_recall_detectable"] = float(np.count_nonzero(flags & strong) / np.count_nonzero(strong))
    res["detectable_crs"] = int(np.count_nonzero(strong))
    res["jump_flags_identical"] = bool(np.array_equal(np.load(d / "ours_jump.npy"), np.load(d / "stcal_jump.npy")))
    ours, ref = np.load(d / "ours_ramp.npz"), np.load(d / "stcal_ramp.npz")
    same = (ours["dq"] == ref["dq"]) & np.isfinite(ours["rate"]) & np.isfinite(ref["rate"])
    res["dq_agree_frac"] = float(np.mean(ours["dq"] == ref["dq"]))
    res["rate_within_1e-3_err"] = float(np.mean(np.abs(ours["rate"][same] - ref["rate"][same])
                                                <= 1e-3 * ref["err"][same]))
    ok = (ref["err"] > 0) & (ours["err"] > 0)
    res["median_abs_err_ratio_minus_1"] = float(np.median(np.abs(ours["err"][ok] / ref["err"][ok] - 1)))
    hit = cr.any(axis=(0, 1)) & ((ours["dq"] & SAT) == 0) & ((ref["dq"] & SAT) == 0)
    for who, arr in (("ours", ours), ("stcal", ref)):
        within = np.abs(arr["rate"][hit] - truth[hit]) <= 5 * arr["err"][hit]
        res[f"{who}_cr_pixels_within_5sigma"] = float(np.mean(within))
    clean = ~cr.any(axis=(0, 1)) & ((ours["dq"] & SAT) == 0) & ((ref["dq"] & SAT) == 0)
    for who, arr in (("ours", ours), ("stcal", ref)):
        res[f"{who}_clean_median_abs_rate_err"] = float(np.median(np.abs(arr["rate"][clean] - truth[clean])))
        res[f"{who}_clean_median_rel_err"] = float(np.median(np.abs(arr["rate"][clean] / truth[clean] - 1)))
    return res


def bench(name: str, d: Path, reps: int) -> dict[str, object]:
    times: dict[str, dict[str, list[float]]] = {k: {v: [] for v in VARIANTS} for k in ("first", "second")}
    mem: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        for v in VARIANTS:
            r = run_child(v, d, save=(rep == 0))
            for k in ("first", "second"):
                times[k][v].append(r[k])
            mem[v].append(r["extra_mib"])
            print(f"  {name} rep {rep} {v:10s} first {r['first']:7.3f} s  second {r['second']:7.3f} s  "
                  f"+{r['extra_mib']:7.1f} MiB", flush=True)
    med = {k: {v: median(t) for v, t in per.items()} for k, per in times.items()}
    both = {k: {w: median(a + b for a, b in zip(per[f"{w}_jump"], per[f"{w}_ramp"], strict=True))
                for w in ("ours", "stcal")} for k, per in times.items()}
    input_mib = sum((d / f"{k}.npy").stat().st_size for k in ("data", "groupdq")) / 2**20
    return {"case": name, "shape": CASES[name], "median_s": med, "together_s": both,
            "extra_mib": {v: median(m) for v, m in mem.items()}, "input_mib": input_mib, "accuracy": accuracy(d)}


def report(results: list[dict]) -> None:  # type: ignore[type-arg]
    print("\nWall time (median of the reps; 'first' = first call in a fresh process, 'second' = same process again)")
    print("\n| case | step | ours first s | stcal first s | speed-up | ours second s | stcal second s | speed-up |"
          " ours +MiB | stcal +MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        med, mem, both = r["median_s"], r["extra_mib"], r["together_s"]
        rows = [(step, *(med[k][f"{w}_{step}"] for k in ("first", "second") for w in ("ours", "stcal")),
                 f"{mem[f'ours_{step}']:.0f}", f"{mem[f'stcal_{step}']:.0f}") for step in ("jump", "ramp")]
        rows.append(("both", both["first"]["ours"], both["first"]["stcal"], both["second"]["ours"],
                     both["second"]["stcal"], "", ""))
        for step, of, sf, os_, ss, om, sm in rows:
            print(f"| {r['case']} | {step} | {of:.3f} | {sf:.3f} | {sf / of:.1f}× | {os_:.3f} | {ss:.3f} | "
                  f"{ss / os_:.1f}× | {om} | {sm} |")
    print("\n'+MiB' = peak RSS during the first call minus RSS before it (inputs loaded, modules imported).")
    for r in results:
        print(f"Input of {r['case']} {tuple(r['shape'])}: {r['input_mib']:.0f} MiB (data + groupdq).")
    for r in results:
        print(f"\naccuracy, {r['case']}:")
        for k, v in r["accuracy"].items():
            print(f"  {k:36s} {v:.6g}" if isinstance(v, float) else f"  {k:36s} {v}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--cases", default="full,long")
    p.add_argument("--json", type=Path)
    p.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--save", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.dir, args.save)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_jump_ramp_") as tmp:
        for name in args.cases.split(","):
            print(f"simulating {name} {CASES[name]} ...", flush=True)
            d = prepare(name, CASES[name], Path(tmp))
            results.append(bench(name, d, args.reps))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

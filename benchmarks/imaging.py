"""Imaging stage 2/3 on a 4-point dither with injected pointing errors: accuracy against truth and time.

Runs the acceptance visit of tests/streamcal/pipelines/test_imaging_acceptance.py (raw ramps → detector1 →
image2 → image3) at a chosen subarray size and prints what the tests assert on, with the numbers:

    .venv/bin/python -m benchmarks.imaging [--subarray SUB400P|SUB160P|FULL] [--cr-fraction 0.01]

There is no stcal/jwst baseline in this environment for stage 2/3 (jwst is installed as a test extra, but its
steps need CRDS references, unavailable offline), so the figures are absolute: seconds per stage on this machine
and the accuracy scores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tests.streamcal.pipelines.test_imaging_acceptance import (
    alignment_errors,
    build_visit,
    catalog_scores,
    outlier_scores,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subarray", default="SUB400P")
    parser.add_argument("--cr-fraction", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        visit = build_visit(Path(tmp), subarray=args.subarray, cr_fraction=args.cr_fraction)
        wall = time.perf_counter() - started
        after, before = alignment_errors(visit)
        n, dpos, ratio = catalog_scores(visit)
        hits, flagged, cores, cores_flagged = outlier_scores(visit)
    print(json.dumps({
        "subarray": args.subarray,
        "tweakreg_max_error_px": {"aligned": [round(a, 4) for a in after], "header": [round(b, 3) for b in before]},
        "catalog_snr50": {"stars": n, "median_position_error_px": round(dpos, 4), "median_flux_ratio": round(ratio, 4)},
        "outliers": {"residual_crs": hits, "flagged": flagged, "recall": round(flagged / max(hits, 1), 4),
                     "star_cores": cores, "cores_flagged": cores_flagged},
        "seconds": {k: round(v, 2) for k, v in visit["seconds"].items()} | {"wall_incl_simulation": round(wall, 1)},
        "image3_step_seconds": {s.name: round(s.seconds, 2) for s in visit["result"].steps if s.seconds},
    }, indent=2))


if __name__ == "__main__":
    main()

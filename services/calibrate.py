"""``streamcal calibrate FILE... --refs DIR --out DIR [--pipeline ALIAS]`` — run a pipeline by hand, like strun.

Without ``--pipeline`` the pipeline follows from the file: a raw ``_uncal`` runs its route's stage 1, a
``_rate``/``_rateints`` its route's stage 2, an ``*_asn.json`` the pipeline that reads its ``asn_type``
(image3 → calwebb_image3, wfs-image3 → calwebb_wfs-image3, image2 → calwebb_image2). The run specification is
built from the file exactly as the router builds it (:func:`streamcal.calibrate.spec_for`; for an ASN, from its
first science member). Prints, per file, the pipeline, the time taken, the steps that were skipped and where
the products are; a file that fails is reported with its reason and the command goes on with the next (exit
status 1 if any failed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from services.settings import load_settings
from streamcal.calibrate import calibrate
from streamcal.errors import StreamcalError
from streamcal.pipelines import PipelineResult, implemented_aliases
from streamcal.routing import RoutingConfig

__all__ = ["add_calibrate_command", "calibrate_command"]


def add_calibrate_command(sub: argparse._SubParsersAction) -> None:
    """Register ``calibrate`` on the ``streamcal`` parser."""
    cal = sub.add_parser("calibrate", help="run a pipeline by hand on raw files, rate files or ASN files "
                                           "(default: the pipeline the file is input to)")
    cal.add_argument("files", nargs="+", type=Path)
    cal.add_argument("--pipeline", choices=sorted(implemented_aliases()), help="pipeline alias (default: route)")
    cal.add_argument("--refs", type=Path, required=True, help="reference store folder (with manifest.json)")
    cal.add_argument("--out", type=Path, required=True, help="folder for the products")
    cal.add_argument("--save-ramp", action="store_true", help="also write the calibrated ramp (_ramp)")
    cal.add_argument("--workers", type=int, default=1, help="threads per exposure (stage 1)")
    cal.add_argument("--config", type=Path, help="configuration folder (default: $STREAMCAL_CONFIG_DIR, else the "
                                                 "shipped configs/)")


def _one(path: Path, args: argparse.Namespace, config: RoutingConfig) -> PipelineResult:
    return calibrate(path, refs_dir=args.refs, out_dir=args.out, pipeline_alias=args.pipeline, config=config,
                     save_ramp=args.save_ramp, workers=args.workers)


def calibrate_command(args: argparse.Namespace, out: TextIO) -> int:
    """Calibrate each file; returns 0 if all succeeded, 1 otherwise."""
    failures = 0
    started = time.perf_counter()
    config = RoutingConfig.load(load_settings({"config_dir": args.config}).config_dir)
    files: Sequence[Path] = args.files
    for n, path in enumerate(files, 1):
        print(f"[{n}/{len(files)}] {path.name}", file=out, flush=True)
        try:
            result = _one(path, args, config)
        except (StreamcalError, OSError) as exc:
            failures += 1
            reason = getattr(exc, "reason", "unreadable")
            print(f"      FAILED ({reason}): {exc}", file=out, flush=True)
            continue
        skipped = [s.name for s in result.steps if s.status == "SKIPPED"]
        print(f"      {result.alias} in {result.seconds:.2f} s; skipped: {', '.join(skipped) or 'none'}", file=out)
        for product in result.products:
            print(f"      -> {product}", file=out, flush=True)
    done = len(files) - failures
    print(f"\n{done} calibrated, {failures} failed in {time.perf_counter() - started:.1f} s", file=out)
    return 1 if failures else 0

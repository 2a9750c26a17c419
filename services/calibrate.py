"""``streamcal calibrate FILE... --refs DIR --out DIR [--pipeline ALIAS]`` — run a pipeline by hand, like strun.

Without ``--pipeline`` the pipeline follows from the file: a raw ``_uncal`` runs its route's stage 1, a
``_rate``/``_rateints`` its route's stage 2, an ``*_asn.json`` the pipeline that reads its ``asn_type``
(image3 → calwebb_image3, wfs-image3 → calwebb_wfs-image3, image2 → calwebb_image2). Prints, per file, the pipeline,
the time taken, the steps that were skipped and where the products are; a file that fails is reported with
its reason and the command goes on with the next (exit status 1 if any failed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from streamcal.associations import read_asn
from streamcal.datamodels import read_headers, split_suffix
from streamcal.errors import AssociationError, StreamcalError
from streamcal.pipelines import PipelineResult, StageConfig, implemented_aliases, run_pipeline
from streamcal.routing import route

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


def _alias_for(path: Path, config: StageConfig) -> str:
    """The pipeline a file is input to (see the module docstring)."""
    registry = config.table.registry
    if path.name.endswith(".json"):
        asn = read_asn(path)
        for alias in registry.aliases:
            if any(mode.asn_type == asn.asn_type for mode in registry.info(alias).modes.values()):
                return alias
        raise AssociationError(f"{path.name}: no pipeline reads {asn.asn_type} associations")
    found = route(read_headers(path).primary, config.table, source=path.name)
    _, suffix = split_suffix(path)
    if suffix in ("rate", "rateints") and found.stage2 is not None:
        return found.stage2
    return found.stage1


def _one(path: Path, args: argparse.Namespace, config: StageConfig) -> PipelineResult:
    alias = args.pipeline or _alias_for(path, config)
    return run_pipeline(alias, path, refs_dir=args.refs, out_dir=args.out, save_ramp=args.save_ramp,
                        workers=args.workers, config=config)


def calibrate_command(args: argparse.Namespace, out: TextIO) -> int:
    """Calibrate each file; returns 0 if all succeeded, 1 otherwise."""
    failures = 0
    started = time.perf_counter()
    config = StageConfig.load()
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

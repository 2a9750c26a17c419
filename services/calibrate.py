"""``streamcal calibrate FILE... --refs DIR --out DIR [--pipeline ALIAS]`` — run a pipeline by hand, like strun;
``streamcal asn FOLDER`` — write the level-3 ASNs of the stage-2 products in a folder, as ``streamcal run`` does.

Without ``--pipeline`` the pipeline follows from the file: a raw ``_uncal`` runs its route's stage 1, a
``_rate``/``_rateints`` its route's stage 2, an ``*_asn.json`` the pipeline that reads its ``asn_type``
(image3 → calwebb_image3, wfs-image3 → calwebb_wfs-image3, image2 → calwebb_image2). The run specification is
built from the file exactly as the router builds it (:func:`streamcal.calibrate.spec_for`; for an ASN, from its
first science member). Prints, per file, the pipeline, the time taken, the steps that were skipped and where
the products are; a file that fails is reported with its reason and the command goes on with the next (exit
status 1 if any failed). A file that is not input to the ``--pipeline`` asked for (a raw file for a stage-3
pipeline, say) is refused before anything runs, in one line that names what to do instead (exit status 2).
A WFSS exposure's ``_rate`` runs calwebb_spec2 on its level-2 ASN (the one beside it, or one written from the
image3 products of its direct images in the same folder, as the tracker writes it); without them it is
reported "waiting" (not a failure) with what to do first.

``streamcal asn`` groups the folder's stage-2 products (the association members their stage-2 pipeline
declares) by their level-3 candidate, and writes each complete association's ASN under the name the tracker
gives it (:mod:`services.membership`: the same scan, grouping, completeness test and ASN). Incomplete ones are
listed and not written: ``run`` would wait for their other members.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from services.direct_images import find_direct_product
from services.membership import HeaderCache, Member, asn_path_for, build_for, scan_members
from services.metrics import build_version
from services.settings import load_settings
from streamcal.associations import is_complete, write_asn
from streamcal.associations.wfss import WFSS_EXP_TYPES, wfss_asn_name
from streamcal.calibrate import calibrate
from streamcal.datamodels import read_header, split_suffix
from streamcal.errors import ConfigError, StreamcalError
from streamcal.pipelines import PipelineResult, implemented_aliases
from streamcal.routing import RoutingConfig

__all__ = ["add_asn_command", "add_calibrate_command", "asn_command", "calibrate_command"]

_CONFIG_HELP = "configuration folder (default: $STREAMCAL_CONFIG_DIR, else the shipped configs/)"


def add_calibrate_command(sub: argparse._SubParsersAction) -> None:
    """Register ``calibrate`` on the ``streamcal`` parser."""
    cal = sub.add_parser("calibrate", help="run a pipeline by hand on raw files, rate files or ASN files "
                                           "(default: the pipeline the file is input to)",
                         description="Run a pipeline by hand, like jwst's strun: a raw *_uncal.fits runs its "
                                     "route's stage 1, a rate file (_rate, _rateints) its stage 2, a *_asn.json the "
                                     "stage 3 of its type (write level-3 ASNs with streamcal asn). Exit status: "
                                     "0 all calibrated, 1 some failed, 2 a file is not input to --pipeline.")
    cal.add_argument("files", nargs="+", type=Path, help="raw, rate or ASN files")
    cal.add_argument("--pipeline", metavar="ALIAS", choices=sorted(implemented_aliases()),
                     help=f"pipeline alias, one of {', '.join(sorted(implemented_aliases()))} (default: the one "
                          "the file is input to)")
    cal.add_argument("--refs", type=Path, required=True,
                     help="reference store folder, with manifest.json (required)")
    cal.add_argument("--out", type=Path, required=True, help="folder for the products (required)")
    cal.add_argument("--save-ramp", action="store_true",
                     help="also write the calibrated ramp (_ramp) (default: off)")
    cal.add_argument("--workers", type=int, default=1, help="threads per exposure (stage 1)")
    cal.add_argument("--config", type=Path, help=_CONFIG_HELP)


def add_asn_command(sub: argparse._SubParsersAction) -> None:
    """Register ``asn`` on the ``streamcal`` parser."""
    asn = sub.add_parser("asn", help="write the level-3 ASNs of the stage-2 products in a folder, as run does",
                         description="Write the level-3 association (ASN) of each complete group of stage-2 "
                                     "products in FOLDER, named as streamcal run's tracker names it, so that "
                                     "streamcal calibrate FOLDER/*_<type>_asn.json runs its stage 3. Exit status: "
                                     "0 if any ASN was written, 1 if none could be.")
    asn.add_argument("folder", type=Path, help="the folder with the stage-2 products (_cal, _calints, ...)")
    asn.add_argument("--config", type=Path, help=_CONFIG_HELP)


def _stage(path: Path) -> int | None:
    """Which stage's pipelines read this file, by its name: 1 raw, 2 rate, 3 ASN; None if the name does not say."""
    if path.name.endswith(".json"):
        return 3
    try:
        _, suffix = split_suffix(path)
    except StreamcalError:
        return None
    return {"uncal": 1, "rate": 2, "rateints": 2}.get(suffix)


def _mismatch(files: Sequence[Path], alias: str, config: RoutingConfig) -> str | None:
    """Why the files are not input to pipeline ``alias`` (one line naming what to do instead), or None."""
    stage = config.table.registry.stage(alias)
    wrong = [p for p in files if _stage(p) is not None and _stage(p) != stage
             and not (stage == 2 and _stage(p) == 3)]  # a level-2 ASN is stage-2 input
    if not wrong:
        return None
    what = {1: "a raw exposure (*_uncal.fits)", 2: "a _rate/_rateints file (or a level-2 ASN)",
            3: "a level-3 ASN (*_asn.json)"}[stage]
    fix = {1: "leave out --pipeline to run the pipeline the file is input to",
           2: "run stage 1 first (streamcal calibrate FILE_uncal.fits writes its _rate)",
           3: "calibrate stages 1 and 2 first, then write the ASNs with streamcal asn PRODUCTS_FOLDER"}[stage]
    many = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
    return f"{wrong[0].name}{many} is not input to {alias}, which takes {what}: {fix}"


def _one(path: Path, args: argparse.Namespace, config: RoutingConfig) -> PipelineResult:
    return calibrate(path, refs_dir=args.refs, out_dir=args.out, pipeline_alias=args.pipeline, config=config,
                     save_ramp=args.save_ramp, workers=args.workers)


def _wfss_input(path: Path) -> Path | None:
    """What calwebb_spec2 runs on for this file: the file itself, or — for a WFSS exposure's rate, whose stage 2
    reads its direct images' source catalog (:mod:`services.direct_images`) — its level-2 ASN: the one beside
    it, else one written now if an image3 product of its direct images is there; None when there is none yet."""
    if _stage(path) != 2 or path.suffix.lower() != ".fits":
        return path
    header = read_header(path)
    if str(header.get("EXP_TYPE", "")).strip().upper() not in WFSS_EXP_TYPES:
        return path
    root, _ = split_suffix(path)
    beside = path.parent / wfss_asn_name(root)
    if beside.is_file():
        return beside
    level2 = find_direct_product(path.parent, path.name, header, HeaderCache())
    return None if level2 is None else write_asn(level2, beside)


def calibrate_command(args: argparse.Namespace, out: TextIO) -> int:
    """Calibrate each file; returns 0 if all succeeded, 1 otherwise.

    Raises
    ------
    ConfigError
        A file is not input to the ``--pipeline`` asked for (nothing runs). Not retriable.
    """
    failures = 0
    started = time.perf_counter()
    config = RoutingConfig.load(load_settings({"config_dir": args.config}).config_dir)
    files: Sequence[Path] = args.files
    if args.pipeline is not None and (problem := _mismatch(files, args.pipeline, config)) is not None:
        raise ConfigError(problem)
    waiting = 0
    for n, path in enumerate(files, 1):
        print(f"[{n}/{len(files)}] {path.name}", file=out, flush=True)
        try:
            source = _wfss_input(path) if args.pipeline in (None, "calwebb_spec2") else path
            if source is None:
                waiting += 1
                print(f"      waiting: a WFSS exposure's stage 2 needs its direct images' source catalog, and no "
                      f"image3 product of them is in {path.parent} yet: calibrate their image3 ASN (streamcal asn "
                      "FOLDER), then this file again", file=out, flush=True)
                continue
            result = _one(source, args, config)
        except (StreamcalError, OSError) as exc:
            failures += 1
            reason = getattr(exc, "reason", "unreadable")
            print(f"      FAILED ({reason}): {exc}", file=out, flush=True)
            continue
        skipped = [s.name for s in result.steps if s.status == "SKIPPED"]
        print(f"      {result.alias} in {result.seconds:.2f} s; skipped: {', '.join(skipped) or 'none'}", file=out)
        for product in result.products:
            print(f"      -> {product}", file=out, flush=True)
    done = len(files) - failures - waiting
    print(f"\n{done} calibrated, {failures} failed{f', {waiting} waiting' if waiting else ''} in "
          f"{time.perf_counter() - started:.1f} s", file=out)
    return 1 if failures else 0


def _groups(members: list[Member]) -> dict[str, list[Member]]:
    groups: dict[str, list[Member]] = {}
    for member in members:
        groups.setdefault(member.key, []).append(member)
    return groups


def asn_command(args: argparse.Namespace, out: TextIO) -> int:
    """Write the ASN of each complete association among a folder's stage-2 products; 0 if any was written.

    Raises
    ------
    ConfigError
        The folder does not exist. Not retriable.
    """
    folder: Path = args.folder
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder: give the folder with the stage-2 products")
    config = RoutingConfig.load(load_settings({"config_dir": args.config}).config_dir)
    written = 0
    for _, group in sorted(_groups(scan_members(folder, config, HeaderCache())).items()):
        kind = group[0].route.asn_type
        assert kind is not None
        if not is_complete(kind, [m.header for m in group]):
            print(f"not written: the {kind} association of {len(group)} member(s) is incomplete "
                  f"({', '.join(m.product.name for m in group)}); run waits for the others", file=out)
            continue
        asn = build_for(group, code_version=build_version())
        path = write_asn(asn, asn_path_for(folder, asn))
        print(f"{path}  ({kind}, {len(group)} member(s); stage 3: {group[0].route.stage3})", file=out)
        written += 1
    if not written:
        print(f"streamcal asn: error: no complete level-3 association among the stage-2 products in {folder}: "
              "calibrate stage 2 first (streamcal calibrate FOLDER/*_rate*.fits ...)", file=sys.stderr)
        return 1
    print(f"{written} ASN(s) written in {folder}", file=out)
    return 0

"""The ``streamcal`` command.

Subcommands so far:

* ``streamcal simulate --program NAME --out DIR [--refs DIR] [--size small|full] [--seed N] [--all-detectors]
  [--pool]`` — write a simulated observing program (raw exposures + injected truth), a matching reference set
  (``--all-detectors``: every detector's full-frame set) and (``--pool``) its association pool;
* ``streamcal route FILE... [--json]`` — classify exposures by EXP_TYPE/TSOVISIT as the seed table says;
* ``streamcal demo [--workdir DIR]`` — simulate the demo program, route every file, print the routes;
* ``streamcal run --ingest DIR --products DIR --refs DIR [--bus memory|kafka://HOST:PORT] [--until-idle S]``
  — every service in this process: progress lines, then a summary table (:mod:`services.commands`);
* ``streamcal serve watcher|router|worker|tracker --bus kafka://HOST:PORT [--pipeline ALIAS]`` — one service
  (what each Kubernetes Deployment runs);
* ``streamcal deadletters list|replay [--products DIR | --bus kafka://HOST:PORT]``;
* ``streamcal calibrate FILE... --refs DIR --out DIR [--pipeline ALIAS]`` — run a pipeline by hand, like
  jwst's ``strun`` (:mod:`services.calibrate`);
* ``streamcal asn FOLDER`` — write the level-3 ASNs of the stage-2 products in FOLDER, as ``run`` does
  (:mod:`services.calibrate`);
* ``streamcal quicklook FILE... [--out DIR] [--stretch asinh|linear|log|sqrt]`` — a PNG of each image product's
  SCI (:mod:`streamcal.datamodels.quicklook`); prints the PNG paths, skips (with a message) what it cannot draw.

Every option's ``--help`` line gives its default. Exit status: 0 success; 1 some files failed, were
dead-lettered or were skipped (the others were done); 2 a usage or startup error, in one line on stderr that
names the fix; ``run``: 130/143 when interrupted by SIGINT/SIGTERM (issue 16).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from services.calibrate import add_asn_command, add_calibrate_command, asn_command, calibrate_command
from services.commands import add_backbone_commands, deadletters_command, run_command, serve_command
from services.router import decide_file
from services.settings import load_settings
from streamcal import __version__
from streamcal.errors import StreamcalError
from streamcal.routing import Route, RoutingConfig
from streamcal.simulate import PROGRAMS, ProgramResult, simulate_program, write_reference_set
from streamcal.simulate.pool import write_pool

__all__ = ["main"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to an option's help, unless the help already says its default (options whose
    default is None or off say in words what happens without them)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or action.required:
            return text
        return super()._get_help_string(action)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("{:<" + str(w) + "}" for w in widths)
    print(line.format(*header).rstrip(), file=out)
    print(line.format(*("-" * w for w in widths)), file=out)
    for row in rows:
        print(line.format(*row).rstrip(), file=out)


def _route_one(path: Path, config: RoutingConfig) -> Route | StreamcalError | OSError:
    try:
        return decide_file(path, config.table, config.library).route
    except (StreamcalError, OSError) as exc:
        return exc


def route_files(paths: Sequence[Path], *, as_json: bool, out: TextIO, config_dir: Path | None = None) -> int:
    """Print each file's route as the router decides it (or why it has none); returns the number of files that
    could not be routed. ``config_dir``: the configuration folder (default: settings, else the shipped one)."""
    config = RoutingConfig.load(load_settings({"config_dir": config_dir}).config_dir)
    results = [(p, _route_one(p, config)) for p in paths]
    failures = sum(1 for _, r in results if not isinstance(r, Route))
    if as_json:
        records = []
        for p, r in results:
            if isinstance(r, Route):
                records.append({"file": str(p), "route": r.to_dict()})
            else:
                reason = getattr(r, "reason", "unreadable")
                records.append({"file": str(p), "error": str(r), "reason": str(reason)})
        json.dump(records, out, indent=1)
        print(file=out)
        return failures
    # Dead letters get their own table: an error message in a route column would stretch it (issue 16).
    rows = [(p.name, str(r.exp_type), "T" if r.is_tso else "-", r.stage1, r.stage2 or "-", r.stage3 or "-",
             r.stage2_input or "-") for p, r in results if isinstance(r, Route)]
    if rows:
        _table(rows, ("file", "EXP_TYPE", "TSO", "stage 1", "stage 2", "stage 3", "stage-2 input"), out)
    dead = [(p.name, str(getattr(r, "reason", "unreadable")), " ".join(str(r).split()))
            for p, r in results if not isinstance(r, Route)]
    if dead:
        print("\ndead letters" if rows else "dead letters", file=out)
        _table(dead, ("file", "reason", "error"), out)
    print(f"\n{len(results) - failures} routed, {failures} dead-lettered", file=out)
    return failures


def _simulate(args: argparse.Namespace, out: TextIO) -> int:
    started = time.perf_counter()
    refs = args.refs or (args.out.parent / "refs")
    result = simulate_program(args.program, args.out, seed=args.seed, size=args.size)
    print(f"simulated {len(result.exposures)} exposures of program {args.program!r} into {args.out}", file=out)
    if args.pool and result.exposures:
        program = int(str(result.exposures[0].header["PROGRAM"]))
        name = f"jw{program:05d}_{datetime.now(UTC).strftime('%Y%m%dt%H%M%S')}_pool.csv"
        write_pool(args.out / name, [e.path for e in result.exposures])
        print(f"association pool {name} (one observation candidate per observation) in {args.out}", file=out)
    if args.all_detectors:
        write_reference_set(refs)
    else:
        _write_refs(result, refs, args.size)
    print(f"reference set in {refs} ({time.perf_counter() - started:.1f} s)", file=out)
    return 0


def _layouts_of(result: ProgramResult) -> list[tuple[str, str]]:
    """The (DETECTOR, SUBARRAY) layouts a simulated program used."""
    return sorted({(str(e.header["DETECTOR"]), str(e.header["SUBARRAY"])) for e in result.exposures})


def _write_refs(result: ProgramResult, refs: Path, size: str) -> None:
    """Full-frame references for full-size programs; compact ones, cut to the layouts used, for small ones."""
    if size == "full":
        write_reference_set(refs, detectors=sorted({d for d, _ in _layouts_of(result)}))
    else:
        write_reference_set(refs, only=_layouts_of(result))


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    ingest, refs = args.workdir / "ingest", args.workdir / "refs"
    started = time.perf_counter()
    print(f"[1/2] simulating the demo program into {ingest} ...", file=out, flush=True)
    result = simulate_program("demo", ingest, seed=args.seed, size="small")
    _write_refs(result, refs, "small")
    print(f"      {len(result.exposures)} raw exposures and a reference set in "
          f"{time.perf_counter() - started:.1f} s", file=out)
    print("[2/2] routing every file by EXP_TYPE/TSOVISIT (header-only reads):\n", file=out, flush=True)
    files = sorted(ingest.glob("*_uncal.fits"))
    failures = route_files(files, as_json=False, out=out)
    return 1 if failures else 0


def _route(args: argparse.Namespace, out: TextIO) -> int:
    return 1 if route_files(args.files, as_json=args.json, out=out, config_dir=args.config) else 0


#: ``streamcal.datamodels.quicklook.STRETCHES``, spelled out so that the parser does not import astropy.wcs,
#: astropy.visualization and matplotlib (~0.5 s) for every command.
_STRETCHES = ("asinh", "linear", "log", "sqrt")


def _quicklook(args: argparse.Namespace, out: TextIO) -> int:
    """Draw each file it can; skip the others with a one-line message on stderr (exit status 1 if any was)."""
    from streamcal.datamodels.quicklook import render_quicklook

    skipped = 0
    for path in args.files:
        png = args.out / f"{path.stem}.png" if args.out is not None else None
        if path.name.endswith("_uncal.fits"):  # never read: a raw ramp is 4-D, and large
            skipped += 1
            print(f"streamcal quicklook: skipped {path}: a raw ramp; quicklook draws calibrated products "
                  "(_rate, _cal, _i2d, _x1d, ...): calibrate it first (streamcal calibrate FILE)", file=sys.stderr)
            continue
        try:
            written = render_quicklook(path, png, stretch=args.stretch)
        except (StreamcalError, OSError, ValueError) as exc:  # astropy says "cannot read" with a ValueError
            skipped += 1
            print(f"streamcal quicklook: skipped {path}: {' '.join(str(exc).split())}", file=sys.stderr)
            continue
        print(written, file=out)
    if skipped:
        print(f"streamcal quicklook: drew {len(args.files) - skipped}, skipped {skipped}", file=sys.stderr)
    return 1 if skipped else 0


#: Subcommand → handler ``(args, out) -> exit status``.
_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "simulate": _simulate,
    "route": _route,
    "demo": _demo,
    "run": run_command,
    "serve": serve_command,
    "deadletters": deadletters_command,
    "calibrate": calibrate_command,
    "asn": asn_command,
    "quicklook": _quicklook,
}


def _version() -> str:
    """What ``streamcal --version`` prints: the installed distribution's version (issue 14)."""
    if __version__ == "0+unknown":  # streamcal.__version__ when no distribution metadata is found
        return ("streamcal: version unknown, running from a source tree that is not installed "
                "(`pip install .` or `pip install -e .` in the repository records it)")
    return f"streamcal {__version__}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamcal", description=__doc__.split("\n\n")[0],
                                     epilog="Exit status: 0 success; 1 some files failed or were skipped; 2 a usage "
                                            "or startup error; run: 130/143 when interrupted by SIGINT/SIGTERM.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="write a simulated observing program and its reference set")
    sim.add_argument("--program", default="demo", choices=sorted(PROGRAMS),
                     help="; ".join(f"{name}: {text}" for name, text in sorted(PROGRAMS.items())))
    sim.add_argument("--out", type=Path, required=True,
                     help="folder for the raw exposures, the ingest folder (required)")
    sim.add_argument("--refs", type=Path, help="folder for the reference set (default: OUT/../refs)")
    sim.add_argument("--size", choices=("small", "full"), default="small",
                     help="small: subarrays and few groups (seconds); full: full-frame detectors (minutes, GBs)")
    sim.add_argument("--seed", type=int, default=20240611,
                     help="random seed: the same seed writes the same files")
    sim.add_argument("--all-detectors", action="store_true",
                     help="write the full-frame reference set of every detector of every simulated instrument "
                          "(NRCA1-NRCBLONG, NRS1/2, NIS, GUIDER1/2, MIRIMAGE, MIRIFUSHORT/LONG: ~7 GB, minutes) "
                          "instead of only the detectors and layouts the program used (default: off)")
    sim.add_argument("--pool", action="store_true",
                     help="also write the program's association pool into OUT, as the observatory's upstream "
                          "generator reads it: once the pool is declared, associations come from it, not from "
                          "header rules (default: off)")
    rt = sub.add_parser("route", help="print the route of each exposure",
                        description="Print the route of each exposure as the router decides it (header-only "
                                    "reads); files that cannot be routed are listed as dead letters with the "
                                    "reason. Exit status 1 if any was.")
    rt.add_argument("files", nargs="+", type=Path, help="raw exposures (*_uncal.fits)")
    rt.add_argument("--json", action="store_true", help="machine-readable output (default: a table)")
    rt.add_argument("--config", type=Path, help="configuration folder (default: $STREAMCAL_CONFIG_DIR, else the "
                                                "shipped configs/)")
    demo = sub.add_parser("demo", help="simulate the demo program and route every exposure")
    demo.add_argument("--workdir", type=Path, default=Path("demo"),
                      help="folder for ingest/ and refs/")
    demo.add_argument("--seed", type=int, default=20240611, help="random seed of the simulation")
    add_backbone_commands(sub)
    add_calibrate_command(sub)
    add_asn_command(sub)
    ql = sub.add_parser("quicklook", help="draw a PNG of each image product (i2d, wfscmb, cal, rate)",
                        description="Draw a PNG of each image product's SCI (or an _x1d's first spectrum) and "
                                    "print its path. A file it cannot draw (a raw ramp, not FITS, no SCI image) "
                                    "is skipped with a message on stderr and the others are drawn; exit status "
                                    "1 if any was skipped.")
    ql.add_argument("files", nargs="+", type=Path, help="image products (_i2d, _cal, _rate, _wfscmb, _x1d, ...)")
    ql.add_argument("--out", type=Path, help="folder for the PNGs (default: beside each file)")
    ql.add_argument("--stretch", choices=_STRETCHES, default="asinh", help="intensity stretch")
    for command in sub.choices.values():  # every subcommand's help shows its defaults
        command.formatter_class = _HelpFormatter
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``streamcal`` command; returns the exit status."""
    stream = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args, stream)
    except StreamcalError as exc:
        print(f"streamcal {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

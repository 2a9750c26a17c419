"""Which products a run specification's stages write, and whether they are on storage — asked of the pipelines.

A product records the content identity of the raw file it descends from (``SCRAWSUM``, the digest the router
took: :func:`services.ingest.content_digest`), so "done" means "made from this version of the raw file": a
replaced file, or a corrected one re-delivered with its old modification time (``cp -p``, ``rsync -a``), is
calibrated again. Without a digest (an event from an older router) the files' times decide.

The services never name products themselves: each pipeline declares its outputs for a root
(:meth:`streamcal.pipelines.Pipeline.outputs`: every product, the one the next stage reads, the one that makes
the exposure an association member). The services need this to resume after a crash (the watcher re-emits only
files whose stages are not finished; a worker skips a stage whose products are already on storage) and to hand
the next stage its input.
"""

from __future__ import annotations

from pathlib import Path

from streamcal.datamodels import read_header
from streamcal.errors import StreamcalError
from streamcal.pipelines import Outputs, pipeline
from streamcal.pipelines.plan import RAW_DIGEST_KEY
from streamcal.routing import RunSpec

__all__ = ["RAW_DIGEST_KEY", "expected_products", "outputs_of", "products_done", "route_finished"]



def outputs_of(alias: str, root: str, spec: RunSpec) -> Outputs:
    """The outputs pipeline ``alias`` declares for ``root`` under ``spec`` (ConfigError if not implemented)."""
    return pipeline(alias).outputs(root, spec)


def expected_products(alias: str, root: str, spec: RunSpec, products_dir: Path) -> tuple[Path, ...]:
    """Every product a complete run of ``alias`` writes for ``root``."""
    return tuple(products_dir / name for name in outputs_of(alias, root, spec).products)


def products_done(paths: tuple[Path, ...] | None, newer_than: Path, *, digest: str | None = None) -> bool:
    """Whether a stage's products are on storage for this version of its input (blocking).

    Every path exists and the first FITS product records its run specification (a product made before streamcal
    recorded one is made again, once, so that the tracker and the startup rescan can read it). With ``digest``
    (the raw file's content identity), every FITS product records that digest: a product of another version of
    the raw file is not done, whatever its time. Without one, or for products made before streamcal recorded
    it, none may be older than ``newer_than`` (the input file).
    """
    if not paths:
        return False
    try:
        headers = [read_header(p) for p in paths if p.suffix.lower() == ".fits"]
        recorded = {h.get(RAW_DIGEST_KEY) for h in headers}
        if digest is not None and recorded - {None, digest}:
            return False
        if digest is None or None in recorded:
            floor = newer_than.stat().st_mtime_ns
            if not all(p.stat().st_mtime_ns >= floor for p in paths):
                return False
        elif not all(p.exists() for p in paths):
            return False
        return bool(headers) and headers[0].get("SCSTAGE1") is not None
    except (OSError, StreamcalError):
        return False


def route_finished(spec: RunSpec, root: str, raw: Path, products_dir: Path, *, digest: str | None = None) -> bool:
    """Whether the exposure needs nothing more from stages 1 and 2 (stage 3 is the tracker's business); with
    ``digest``, for that version of the raw file (see :func:`products_done`)."""
    route = spec.route
    return all(products_done(expected_products(alias, root, spec, products_dir), raw, digest=digest)
               for alias in (route.stage1, route.stage2) if alias is not None)

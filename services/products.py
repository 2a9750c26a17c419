"""Which products a run specification's stages write, and whether they are on storage — asked of the pipelines.

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
from streamcal.routing import RunSpec

__all__ = ["expected_products", "outputs_of", "products_done", "route_finished"]


def outputs_of(alias: str, root: str, spec: RunSpec) -> Outputs:
    """The outputs pipeline ``alias`` declares for ``root`` under ``spec`` (ConfigError if not implemented)."""
    return pipeline(alias).outputs(root, spec)


def expected_products(alias: str, root: str, spec: RunSpec, products_dir: Path) -> tuple[Path, ...]:
    """Every product a complete run of ``alias`` writes for ``root``."""
    return tuple(products_dir / name for name in outputs_of(alias, root, spec).products)


def products_done(paths: tuple[Path, ...] | None, newer_than: Path) -> bool:
    """Every path exists, none is older than ``newer_than`` (a re-delivered input is redone), and the first
    records its run specification (a product made before streamcal recorded one is made again, once, so that
    the tracker and the startup rescan can read it)."""
    if not paths:
        return False
    try:
        floor = newer_than.stat().st_mtime_ns
        if not all(p.stat().st_mtime_ns >= floor for p in paths):
            return False
        return read_header(paths[0]).get("SCSTAGE1") is not None
    except (OSError, StreamcalError):
        return False


def route_finished(spec: RunSpec, root: str, raw: Path, products_dir: Path) -> bool:
    """Whether the exposure needs nothing more from stages 1 and 2 (stage 3 is the tracker's business)."""
    route = spec.route
    return all(products_done(expected_products(alias, root, spec, products_dir), raw)
               for alias in (route.stage1, route.stage2) if alias is not None)

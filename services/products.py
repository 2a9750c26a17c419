"""Where a route's products are, by their deterministic names, without running anything.

The services need this to resume after a crash (the watcher re-emits only files whose route is not
finished; a worker skips a stage whose products are already on storage) and to hand stage 2 its input:

- stage 1 writes ``<root>_rate.fits`` + ``<root>_rateints.fits`` (calwebb_detector1), ``<root>_dark.fits``
  (calwebb_dark) or ``<root>_cal.fits`` (calwebb_guider);
- stage 2 reads ``<root>_<stage2_input>.fits`` and writes ``<root>_cal.fits`` (from ``rate``) or
  ``<root>_calints.fits`` (from ``rateints``).

Stage-3 products are named after the association (:func:`streamcal.associations.level3_product_name`).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from streamcal.routing import Route

__all__ = [
    "STAGE1_SUFFIXES",
    "expected_products",
    "products_done",
    "route_finished",
    "stage2_input_path",
    "stage2_product_path",
    "stage2_suffix",
]

#: Stage-1 aliases → the suffixes of their products.
STAGE1_SUFFIXES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "calwebb_detector1": ("rate", "rateints"),
    "calwebb_dark": ("dark",),
    "calwebb_guider": ("cal",),
})


def stage2_suffix(route: Route) -> str:
    """``calints`` when stage 2 reads ``rateints``, else ``cal``."""
    return "calints" if route.stage2_input == "rateints" else "cal"


def stage2_input_path(route: Route, root: str, products_dir: Path) -> Path:
    """The stage-1 product stage 2 reads."""
    return products_dir / f"{root}_{route.stage2_input or 'rate'}.fits"


def stage2_product_path(route: Route, root: str, products_dir: Path) -> Path:
    """The stage-2 product the association tracker waits for."""
    return products_dir / f"{root}_{stage2_suffix(route)}.fits"


def expected_products(alias: str, route: Route, root: str, products_dir: Path) -> tuple[Path, ...] | None:
    """The products ``alias`` writes for this exposure, or None when they cannot be named in advance."""
    if alias == route.stage1 and alias in STAGE1_SUFFIXES:
        return tuple(products_dir / f"{root}_{s}.fits" for s in STAGE1_SUFFIXES[alias])
    if alias == route.stage2 and route.stage2 is not None:
        return (stage2_product_path(route, root, products_dir),)
    return None


def products_done(paths: tuple[Path, ...] | None, newer_than: Path) -> bool:
    """Every path exists and none is older than ``newer_than`` (a re-delivered raw file is redone)."""
    if not paths:
        return False
    try:
        floor = newer_than.stat().st_mtime_ns
        return all(p.stat().st_mtime_ns >= floor for p in paths)
    except OSError:
        return False


def route_finished(route: Route, root: str, raw: Path, products_dir: Path) -> bool:
    """Whether the exposure needs nothing more from stages 1 and 2 (stage 3 is the tracker's business)."""
    if not products_done(expected_products(route.stage1, route, root, products_dir), raw):
        return False
    if route.stage2 is None:
        return True
    return products_done(expected_products(route.stage2, route, root, products_dir), raw)

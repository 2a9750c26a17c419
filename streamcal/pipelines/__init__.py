"""Pipelines by alias: what the workers (and ``streamcal calibrate``) run.

``run_pipeline(alias, input_path, refs_dir=..., out_dir=...)`` is a pure function of its arguments, safe to
run in a process pool; ``implemented_aliases()`` says which aliases have an implementation (the rest are
routed to, and wait, but are never faked).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from streamcal.errors import ConfigError
from streamcal.pipelines.guider import run_guider
from streamcal.pipelines.plan import Plan, build_plan
from streamcal.pipelines.result import PipelineResult, StageConfig
from streamcal.pipelines.stage1 import DEFAULT_BLOCK_BYTES, run_stage1


class _Options(NamedTuple):
    save_ramp: bool
    workers: int
    config: StageConfig | None


__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "PipelineResult",
    "Plan",
    "StageConfig",
    "build_plan",
    "implemented_aliases",
    "run_pipeline",
]


def _detector1(path: Path, refs: Path, out: Path, options: _Options) -> PipelineResult:
    return run_stage1("calwebb_detector1", path, refs_dir=refs, out_dir=out, save_ramp=options.save_ramp,
                      workers=options.workers, config=options.config)


def _dark(path: Path, refs: Path, out: Path, options: _Options) -> PipelineResult:
    return run_stage1("calwebb_dark", path, refs_dir=refs, out_dir=out, workers=options.workers,
                      config=options.config)


def _guider(path: Path, refs: Path, out: Path, options: _Options) -> PipelineResult:
    return run_guider("calwebb_guider", path, refs_dir=refs, out_dir=out)


# Stage 2/3 modules are imported when first run: they pull in photutils, scipy.ndimage and drizzle (~1.5 s),
# which a stage-1 worker process never needs.
def _image2(path: Path, refs: Path, out: Path, options: _Options) -> PipelineResult:
    from streamcal.pipelines.image2 import run_image2

    return run_image2("calwebb_image2", path, refs_dir=refs, out_dir=out, config=options.config)


def _image3(path: Path, refs: Path, out: Path, options: _Options) -> PipelineResult:
    from streamcal.pipelines.image3 import run_image3

    return run_image3("calwebb_image3", path, refs_dir=refs, out_dir=out, config=options.config)


def _wfs_image3(path: Path, refs: Path, out: Path, options: _Options) -> PipelineResult:
    from streamcal.pipelines.wfs_image3 import run_wfs_image3

    return run_wfs_image3("calwebb_wfs-image3", path, refs_dir=refs, out_dir=out, config=options.config)


_RUNNERS: MappingProxyType[str, Callable[[Path, Path, Path, _Options], PipelineResult]] = MappingProxyType({
    "calwebb_detector1": _detector1,
    "calwebb_dark": _dark,
    "calwebb_guider": _guider,
    "calwebb_image2": _image2,
    "calwebb_image3": _image3,
    "calwebb_wfs-image3": _wfs_image3,
})


def implemented_aliases() -> frozenset[str]:
    """The pipeline aliases streamcal implements."""
    return frozenset(_RUNNERS)


def run_pipeline(
    alias: str,
    input_path: str | os.PathLike[str],
    *,
    refs_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    save_ramp: bool = False,
    workers: int = 1,
    config: StageConfig | None = None,
) -> PipelineResult:
    """Run the pipeline ``alias`` on one input (stage 1: an ``_uncal`` file).

    ``workers`` > 1 runs stage-1 tiles in that many threads; ``config`` is the parsed configuration
    (:meth:`StageConfig.load`; loaded per call when omitted).

    Raises
    ------
    ConfigError
        ``alias`` has no implementation. Not retriable.
    StreamcalError subclasses
        From the pipeline (bad input, missing references); each says whether it is retriable.
    """
    runner = _RUNNERS.get(alias)
    if runner is None:
        raise ConfigError(f"no implementation of pipeline {alias!r}; implemented: {sorted(_RUNNERS)}")
    return runner(Path(input_path), Path(refs_dir), Path(out_dir), _Options(save_ramp, workers, config))

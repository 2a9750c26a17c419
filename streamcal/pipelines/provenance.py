"""Which steps ran, how long they took, which references they used — and the S_*/R_* keywords saying so."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from streamcal import __version__
from streamcal.dq import Pixel
from streamcal.references import RefType
from streamcal.steps import STATUS_KEYWORDS, StepRecord, StepStatus

if TYPE_CHECKING:
    from streamcal.pipelines.plan import Plan

__all__ = ["Recorder", "product_headers", "provenance_keywords"]


class Recorder:
    """Accumulates per-step time, status, references and counts over the blocks of one exposure."""

    def __init__(self, plan: Plan) -> None:
        self._order = [s.name for s in (*plan.ramp_steps, *plan.rate_steps)]
        self._skipped = dict(plan.skipped)
        self._seconds: dict[str, float] = defaultdict(float)
        self._done: set[str] = set()
        self._notes: dict[str, str] = {}
        self._refs: dict[str, dict[RefType, str]] = defaultdict(dict)
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._lock = threading.Lock()  # blocks may run in threads (run_stage1(workers=...))

    def prepare(self, step: Any, ctx: Any, edges: object) -> None:
        """Run ``step.prepare`` and time it."""
        started = time.perf_counter()
        step.prepare(ctx, edges)
        self._seconds[step.name] += time.perf_counter() - started

    def run(self, step: Any, model: Any, ctx: Any, *, counts: bool) -> Any:
        """Apply ``step`` to one block, record the outcome, return the new model."""
        started = time.perf_counter()
        outcome = step.apply(model, ctx)
        with self._lock:
            self._seconds[step.name] += time.perf_counter() - started
            if outcome.status is StepStatus.COMPLETE:
                self._done.add(step.name)
            elif outcome.note:
                self._notes[step.name] = outcome.note
            self._refs[step.name].update(dict(outcome.references_used))
            if counts:
                for key, value in outcome.counts.items():
                    self._counts[step.name][key] += int(value)
        return outcome.model

    def count_flags(self, out: Any) -> None:
        """Exposure-level counts of the steps that work with a halo (counted on the kept rows only)."""
        dq = out.ints.get("DQ") if out.ints else None
        if dq is None and out.ramp:
            dq = np.bitwise_or.reduce(out.ramp["GROUPDQ"], axis=1)
        if dq is None:
            return
        if "jump" in self._done:
            self._counts["jump"]["pixel_ints_with_jumps"] = int(np.count_nonzero(dq & Pixel.JUMP_DET))
        if "saturation" in self._done:
            self._counts["saturation"]["pixel_ints_saturated"] = int(np.count_nonzero(dq & Pixel.SATURATED))

    def records(self) -> tuple[StepRecord, ...]:
        out = []
        for name in self._order:
            status = StepStatus.COMPLETE if name in self._done else StepStatus.SKIPPED
            out.append(StepRecord(name, status, self._seconds[name], tuple(self._refs[name].items()),
                                  dict(self._counts.get(name, {})),
                                  "" if status is StepStatus.COMPLETE else self._notes.get(name, "")))
        out.extend(StepRecord(name, StepStatus.SKIPPED, note=why) for name, why in self._skipped.items())
        return tuple(out)


def provenance_keywords(records: Iterable[StepRecord], *, alias: str, pars: str | None = None) -> dict[str, object]:
    """S_* status and R_* reference keywords of the steps that ran, plus CAL_VER, PIPELINE (and PARSFILE)."""
    keywords: dict[str, object] = {}
    for record in records:
        status_keyword = STATUS_KEYWORDS.get(record.name)
        if status_keyword:
            keywords[status_keyword] = str(record.status)
        for reftype, filename in record.references:
            keywords[reftype.keyword] = filename
    keywords.update(CAL_VER=f"streamcal {__version__}", PIPELINE=alias)
    if pars is not None:
        keywords["PARSFILE"] = pars
    return keywords


def product_headers(headers: Any, rec: Recorder, plan: Plan) -> tuple[dict[str, object], Mapping[str, object]]:
    """Primary header (raw keywords + provenance) and the SCI header to write."""
    primary: dict[str, object] = dict(headers.primary)
    primary.update(provenance_keywords(rec.records(), alias=plan.alias, pars=plan.pars))
    return primary, headers.sci

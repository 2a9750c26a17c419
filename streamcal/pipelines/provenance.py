"""Which steps ran, how long they took, which references they used — and the S_*/R_* keywords saying so.

One :class:`Recorder` per run of a plan, for every pipeline: the runner (and the tiled stage-1 executor, tile
by tile and from several threads) hands it each step's outcome; it gives back the per-step records and the
provenance keywords products carry.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from streamcal import __version__
from streamcal.pipelines.plan import Plan
from streamcal.references import RefType
from streamcal.steps.base import STATUS_KEYWORDS, StepRecord, StepStatus

__all__ = ["Recorder", "provenance_keywords"]


class Recorder:
    """Accumulates per-step time, status, references and counts over the tiles of one run of ``plan``."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._seconds: dict[str, float] = defaultdict(float)
        self._done: set[str] = set()
        self._notes: dict[str, str] = {}  # why a step was skipped
        self._remarks: dict[str, str] = {}  # what a step that ran wants said (assign_wcs: TAN only)
        self._refs: dict[str, dict[RefType, str]] = defaultdict(dict)
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._lock = threading.Lock()  # tiles may run in threads (RunRequest.workers)

    def prepare(self, step: Any, ctx: Any, earlier: tuple[Any, ...]) -> Any:
        """Run ``step.prepare`` (timed as part of the step) and return the prepared step."""
        started = time.perf_counter()
        prepared = step.prepare(ctx, earlier)
        with self._lock:
            self._seconds[step.name] += time.perf_counter() - started
        return prepared

    def run(self, step: Any, model: Any, ctx: Any, *, counts: bool = True) -> Any:
        """Apply ``step`` to one model (or tile), record the outcome, return the new model."""
        started = time.perf_counter()
        outcome = step.apply(model, ctx)
        with self._lock:
            self._seconds[step.name] += time.perf_counter() - started
            if outcome.status is StepStatus.COMPLETE:
                self._done.add(step.name)
                if outcome.note:
                    self._remarks[step.name] = outcome.note
            elif outcome.note:
                self._notes[step.name] = outcome.note
            self._refs[step.name].update(dict(outcome.references_used))
            if counts:
                for key, value in outcome.counts.items():
                    self._counts[step.name][key] += int(value)
        return outcome.model

    def skip(self, name: str, note: str) -> None:
        """A running step could not be applied (its input was not made); record why."""
        with self._lock:
            self._notes[name] = note

    def set_count(self, name: str, key: str, value: int) -> None:
        """An exposure-level count measured outside ``apply`` (flags counted on the kept pixels only)."""
        with self._lock:
            self._counts[name][key] = int(value)

    def ran(self, name: str) -> bool:
        """Whether step ``name`` completed (on at least one tile)."""
        return name in self._done

    def records(self) -> tuple[StepRecord, ...]:
        """One record per step of the plan, in plan order."""
        out = []
        for entry in self.plan.entries:
            name = entry.name
            if entry.step is None:
                out.append(StepRecord(name, StepStatus.SKIPPED, note=entry.reason))
                continue
            status = StepStatus.COMPLETE if name in self._done else StepStatus.SKIPPED
            out.append(StepRecord(name, status, self._seconds[name], tuple(self._refs[name].items()),
                                  dict(self._counts.get(name, {})),
                                  (self._remarks if status is StepStatus.COMPLETE else self._notes).get(name, "")))
        return tuple(out)

    def keywords(self, *, before: str | None = None) -> dict[str, object]:
        """The provenance keywords of the run (of the steps before step ``before`` only, when given: a product
        written before that step ran, like jwst's ``_cal`` before resample)."""
        records = self.records()
        if before is not None:
            names = [r.name for r in records]
            records = records[:names.index(before)] if before in names else records
        return {**provenance_keywords(records, alias=self.plan.pipeline, pars=self.plan.pars), **self.plan.provenance}


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


"""A stage worker: ``work.<alias>`` → run the pipeline (a :class:`~services.runner.Runner`) → the next hop.

One consumer group per pipeline alias (``streamcal.worker.<alias>``). A worker never looks at EXP_TYPE and
never routes: it runs the stage of the run specification inside the work item that its topic names, and
forwards to the next hop that specification's route names, on the product the pipeline declares for it:

- after stage 1 with a stage 2: a work item for ``work.<stage2>`` on the stage-1 product stage 2 reads — except
  for a WFSS exposure (NIS_WFSS, NRC_WFSS), whose work item goes to the tracker on ``association.member-done``:
  its stage 2 needs the direct images' source catalog, and the tracker releases it once that exists
  (:mod:`services.direct_images`);
- after stage 2 with a stage 3: ``association.member-done`` keyed by the association candidate key;
- otherwise nothing more (stage 3, or a route that stops).

Every run also publishes ``products`` (ProductsWritten). A stage-1 or stage-2 run whose products are already on
storage (newer than its input) is not run again, only forwarded: this is how work resumes after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from pathlib import Path

from services.bus import Bus, Message
from services.codec import decode_as, encode
from services.confine import Roots
from services.consumer import Activity, Consumer, RetryPolicy
from services.deadletters import DeadLetters
from services.events import MEMBER_DONE, PRODUCTS, MemberDone, ProductsWritten, WorkItem, topic_for, work_topic
from services.metrics import Metrics
from services.products import expected_products, outputs_of, products_done
from services.runner import Runner
from services.runtime import log_context
from streamcal.associations.wfss import WFSS_EXP_TYPES
from streamcal.errors import ConfigError, InvalidInputError, MalformedEventError
from streamcal.pipelines import RunRequest, pipeline
from streamcal.routing import RunSpec

__all__ = ["Worker", "worker_group"]

log = logging.getLogger(__name__)


def worker_group(alias: str) -> str:
    """The consumer group of a pipeline's workers."""
    return f"streamcal.worker.{alias}"


class Worker:
    """The worker service of one pipeline alias.

    Parameters
    ----------
    alias : str
        The pipeline this worker runs (its topic is ``streamcal.work.<alias>``).
    bus, metrics, deadletters
        Shared plumbing.
    runner : Runner
        Where pipelines run (the process pool; in tests an in-process runner); its ``processes`` bounds the
        concurrency.
    roots : Roots
        The references and products folders it reads and writes, and the ingest folder a stage-1 input must
        lie in (:mod:`services.confine`; without one, stage-1 work is refused as forbidden, later stages run).
    policy : RetryPolicy
    activity : Activity, optional
    """

    def __init__(self, *, alias: str, bus: Bus, metrics: Metrics, deadletters: DeadLetters, runner: Runner,
                 roots: Roots, policy: RetryPolicy, activity: Activity | None = None) -> None:
        pipeline(alias)  # ConfigError now, at startup, for an alias without an implementation
        if roots.products is None or roots.refs is None:
            raise ConfigError(f"worker {alias} needs its products and references folders")
        self.alias = alias
        self.name = f"worker.{alias}"
        self.bus = bus
        self.metrics = metrics
        self.runner = runner
        self.roots = roots
        self.refs_dir = roots.refs
        self.products_dir = roots.products
        # one lock per exposure being run; an entry lives as long as a handler holds or awaits its lock
        self._running: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.consumer = Consumer(name=self.name, bus=bus, topics=[work_topic(alias)], group=worker_group(alias),
                                 handler=self.handle, metrics=metrics, deadletters=deadletters, policy=policy,
                                 concurrency=runner.processes, activity=activity)

    def longest_attempt(self) -> float:
        """Seconds the oldest handler attempt now running has been running (liveness)."""
        return self.consumer.longest_attempt()

    @property
    def ready(self) -> bool:
        """Subscribed to the work topic."""
        return self.consumer.ready

    async def run(self, stop: asyncio.Event) -> None:
        """Work until stopped (in-flight runs finish within the grace period)."""
        await self.consumer.run(stop)

    async def handle(self, message: Message) -> None:
        """Run one work item and forward its outcome (raises on failure; the consumer classifies)."""
        item = decode_as(message.value, WorkItem)
        if item.pipeline != self.alias:
            raise MalformedEventError(f"a {item.pipeline} work item on the {self.alias} topic")
        spec = RunSpec.from_dict(item.spec)
        route = spec.route
        if self.alias not in route.stages:
            raise InvalidInputError(f"{self.alias} is not a stage of the {route.exp_type} route {route.stages}")
        parked = topic_for(self.alias, route)
        if parked != work_topic(self.alias):  # this pipeline does not take this kind of exposure yet: it waits
            await self.bus.publish(parked, item.exposure_id, message.value)
            log.info("%s does not take %s yet: %s waits in %s", self.alias, route.exp_type, item.exposure_id, parked)
            return
        with log_context(exposure_id=item.exposure_id, exp_type=route.exp_type, pipeline=self.alias):
            await asyncio.to_thread(self._confine, item, route.stage1)
            # A duplicate delivered while the first is running waits for it, then finds the products done.
            lock = self._running.setdefault(item.exposure_id, asyncio.Lock())
            async with lock:
                products, seconds, skipped = await self._run(item, spec)
            next_topic = await self._forward(item, spec, products)
            written = ProductsWritten(pipeline=self.alias, exposure_id=item.exposure_id,
                                      association_id=item.association_id, input_path=item.input_path,
                                      products=products, seconds=seconds, skipped=skipped,
                                      exp_type=str(route.exp_type), landed_at=item.landed_at, next_topic=next_topic)
            await self.bus.publish(PRODUCTS, item.exposure_id, encode(written))

    def _confine(self, item: WorkItem, stage1: str) -> None:
        """Refuse a work item whose input leaves this service's folders (blocking: resolves links): a stage-1
        input is a regular raw file in the ingest folder, a later stage's one in the products folder
        (:mod:`services.confine`). The raw path an item carries along is never opened, so it is not checked (a
        stage-2 worker needs no ingest folder)."""
        first = self.alias == stage1
        self.roots.require_file(item.input_path, "ingest" if first else "products", what=f"{self.alias} input")

    async def _run(self, item: WorkItem, spec: RunSpec) -> tuple[tuple[Path, ...], float, bool]:
        if self.alias != spec.route.stage3:  # stage 3 always reruns: a re-release brings new members
            expected = expected_products(self.alias, item.exposure_id, spec, self.products_dir)
            if await asyncio.to_thread(products_done, expected, item.input_path, digest=item.raw_digest):
                log.info("%s products of %s already on storage: forwarding without a rerun", self.alias,
                         item.exposure_id)
                return expected, 0.0, True
        started = time.perf_counter()
        request = RunRequest(pipeline=self.alias, input_path=item.input_path, spec=spec, refs_dir=self.refs_dir,
                             out_dir=self.products_dir, raw_digest=item.raw_digest)
        result = await self.runner.run(request)
        self.metrics.pipeline_seconds.labels(pipeline=self.alias).observe(result.seconds)
        for step in result.steps:
            self.metrics.step_seconds.labels(pipeline=self.alias, step=step.name).observe(step.seconds)
        log.info("%s on %s: %d product(s) in %.2f s (%.3f s with the pool hop)", self.alias, item.input_path.name,
                 len(result.products), result.seconds, time.perf_counter() - started)
        return result.products, result.seconds, False

    async def _forward(self, item: WorkItem, spec: RunSpec, products: tuple[Path, ...]) -> str | None:
        """Publish the next hop of the route; returns its topic (None when the route ends here)."""
        root, route = item.exposure_id, spec.route
        outputs = outputs_of(self.alias, root, spec)
        if self.alias == route.stage1 and route.stage2 is not None:
            if outputs.next_input is None or self.products_dir / outputs.next_input not in products:
                raise InvalidInputError(f"{self.alias} wrote no {outputs.next_input} for stage 2 "
                                        f"(products: {[p.name for p in products]})")
            nxt = WorkItem(pipeline=route.stage2, input_path=self.products_dir / outputs.next_input,
                           raw_path=item.raw_path, spec=item.spec, exposure_id=root,
                           association_id=item.association_id, landed_at=item.landed_at,
                           raw_digest=item.raw_digest)
            topic = topic_for(route.stage2, route)  # pending when stage 2 does not take this EXP_TYPE yet
            if topic == work_topic(route.stage2) and str(route.exp_type).upper() in WFSS_EXP_TYPES:
                topic = MEMBER_DONE  # the tracker holds it until the direct images' catalog exists
            await self.bus.publish(topic, root, encode(nxt))
            return topic
        if self.alias == route.stage2 and route.stage3 is not None:
            if item.association_id is None:
                raise InvalidInputError(f"{root} has a {route.stage3} stage but no association id")
            if outputs.member is None:
                raise InvalidInputError(f"{self.alias} declares no association-member product")
        if self.alias == route.stage2 and outputs.member is not None:
            # every stage-2 product is reported, stage 3 or not: an upstream association may list it (a target
            # acquisition is a member of jwst's level-3 associations; header rules never group it)
            key = item.association_id or root
            done = MemberDone(association_id=key, exposure_id=root, product_path=self.products_dir / outputs.member,
                              raw_path=item.raw_path, spec=item.spec)
            await self.bus.publish(MEMBER_DONE, key, encode(done))
            return MEMBER_DONE
        return None

"""The event-driven runtime of streamcal (depends on :mod:`streamcal`, never the reverse).

Four services exchange events on a bus (:mod:`services.bus`: embedded or Kafka): the watcher
(:mod:`services.watcher`) turns complete files in the ingest folder into ``exposure.arrived``; the router
(:mod:`services.router`) decides each exposure's route from its headers; a worker per pipeline alias
(:mod:`services.worker`) runs the pipeline in a process pool and forwards to the next hop; the association
tracker (:mod:`services.tracker`) releases stage 3 when an association's last member is done. Events and
their one codec: :mod:`services.events`, :mod:`services.codec`; errors → outcomes: :mod:`services.outcomes`;
metrics: :mod:`services.metrics`; lifecycle and logging: :mod:`services.runtime`; settings:
:mod:`services.settings`; the ``streamcal`` command: :mod:`services.cli`.
"""

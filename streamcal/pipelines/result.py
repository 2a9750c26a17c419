"""What running a pipeline on one input returns: the products and the record of every step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamcal.routing import ParsLibrary, RoutingTable, load_pars, load_routing_table
from streamcal.steps import StepRecord

__all__ = ["PipelineResult", "StageConfig"]


@dataclass(frozen=True, slots=True)
class StageConfig:
    """The routing table and parameter files a pipeline run reads (about 60 ms to parse).

    Load it once per process with :meth:`load` and pass it to every run; a run given none loads its own.
    """

    table: RoutingTable
    pars: ParsLibrary

    @classmethod
    def load(cls) -> StageConfig:
        """Parse and validate ``configs/`` (raises ConfigError, not retriable)."""
        table = load_routing_table()
        return cls(table, load_pars(registry=table.registry))


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """The outcome of one pipeline run (picklable; crosses the process-pool boundary)."""

    alias: str
    exposure_id: str
    products: tuple[Path, ...]
    seconds: float
    steps: tuple[StepRecord, ...]

    def product(self, suffix: str) -> Path:
        """The product with this suffix (``rate``, ``rateints``, ...); KeyError if there is none."""
        for path in self.products:
            if path.name.endswith(f"_{suffix}.fits"):
                return path
        raise KeyError(f"{self.alias} wrote no _{suffix} product for {self.exposure_id}")

    def to_dict(self) -> dict[str, object]:
        return {"alias": self.alias, "exposure_id": self.exposure_id, "products": [str(p) for p in self.products],
                "seconds": round(self.seconds, 4), "steps": [s.to_dict() for s in self.steps]}

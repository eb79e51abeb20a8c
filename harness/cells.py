"""Cells: the unit of measurement (experiment x variant x engine x size x dtype)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.config import engines_for
from harness.experiments import registry as experiment_registry

KEY_FIELDS = ("experiment", "variant", "engine", "size", "dtype")


@dataclass(frozen=True)
class Cell:
    """One measured cell; ``cell_id`` is its stable name in raw.jsonl."""

    experiment: str
    variant: str
    engine: str
    size: int
    dtype: str

    @property
    def cell_id(self) -> str:
        """E.g. 'E2/step-b64/torch/n=600/float64'."""
        return f"{self.experiment}/{self.variant}/{self.engine}/n={self.size}/{self.dtype}"

    def keys(self) -> dict[str, Any]:
        """The cell's key fields as a dict (written on every raw.jsonl line)."""
        return asdict(self)


def plan(config: dict[str, Any]) -> list[Cell]:
    """Expand a validated config into the ordered list of cells to measure."""
    experiments = experiment_registry()
    dtype = config["run"]["dtype"]
    cells = []
    for name in config["run"]["experiments"]:
        experiment = experiments[name]
        for variant, size in experiment.cells(config[name]):
            for engine in engines_for(config, name):
                cells.append(Cell(name, variant, engine, size, dtype))
    return cells

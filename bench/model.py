"""The result model of a sweep: what a run is parameterised by (:class:`RunConfig`)
and what it measures (:class:`Point`, :class:`EngineRun`, :class:`MetricRuns`), and
:func:`to_json`, which turns them into the plain values of ``results.json``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engines import BuildParams
from .suites import DEFAULT_EF_CONSTRUCTION, DEFAULT_M, Suite

# The recall targets of the summary line.
SUMMARY_RECALLS = (0.90, 0.95, 0.99)

Interval = tuple[float, float]


@dataclass
class RunConfig:
    """Everything a run is parameterised by (the CLI fills it)."""

    suite: Suite
    engines: list[str]
    threads: int = 1
    k: int = 10
    M: int = DEFAULT_M
    ef_construction: int = DEFAULT_EF_CONSTRUCTION
    seed: int = 0
    ef_sweep: tuple[int, ...] = ()
    repetitions: int = 3
    min_calls: int = 300
    max_queries: int | None = None
    sweep_metrics: str | list[str] = "native"
    memory: bool = True
    funnel: bool = True
    gssf: bool = True
    cache_dir: Path | None = None

    @property
    def params(self) -> BuildParams:
        return BuildParams(self.M, self.ef_construction, self.seed)


@dataclass
class Point:
    """One engine at one ef (ef None: the exact engine)."""

    ef: int | None
    recall: float
    qps: float
    batch_qps: float
    p50_us: float
    p99_us: float
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)       # query set -> task -> score
    task_ci: dict[str, dict[str, Interval]] = field(default_factory=dict)   # query set -> task -> 95% CI
    task_loss: dict[str, dict[str, float]] = field(default_factory=dict)   # query set -> task -> loss
    task_qps: dict[str, float] = field(default_factory=dict)               # query set -> QPS of its task search
    task_ef: dict[str, int] = field(default_factory=dict)                  # query set -> ef of its task search
    set_recall: dict[str, float] = field(default_factory=dict)             # recall@k of the other query sets


@dataclass
class EngineRun:
    engine: str
    metric: str
    build_s: float = math.nan
    index_bytes: int | None = None
    bytes_per_vector: float | None = None
    peak_bytes: int | None = None
    resident_bytes: int | None = None
    points: list[Point] = field(default_factory=list)


@dataclass
class MetricRuns:
    """All engines on one (dataset, metric)."""

    metric: str
    exact_tasks: dict[str, dict[str, float]]
    exact_ci: dict[str, dict[str, Interval]]
    runs: list[EngineRun]
    summary: dict[str, Any]


def to_json(obj: Any) -> Any:
    """Dataclasses and numpy scalars to plain JSON values (nan/inf -> None)."""
    if hasattr(obj, "__dataclass_fields__"):
        return to_json(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj

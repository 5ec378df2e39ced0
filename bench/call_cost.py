"""The fixed cost of one search call: each graph engine searched one query per call on
a tiny index built from the dataset's first vectors, where the graph walk is short and the
cost of getting into the library and back (argument checks, result arrays) is most of it.

Every engine gets the same beam, hnswlib's default ef, and the same k; the engines are
interleaved (bench.timing.timed_single) and the cost is the best pass's mean latency.
"""

from __future__ import annotations

from typing import Any

from .datasets import Dataset
from .distances import BUILTIN
from .sweep import Runner
from .suites import CALL_COST_EF, CALL_COST_QUERIES, CALL_COST_VECTORS
from .timing import timed_single

MICROSECONDS = 1e6


def measure_call_cost(ds: Dataset, runner: Runner) -> dict[str, Any] | None:
    """{"vectors", "ef", "k", "us_per_call": {engine: µs}} of the graph engines on ``ds``'s
    first vectors under its own metric, or None when no graph engine takes that metric."""
    cfg = runner.cfg
    metric = BUILTIN[ds.metric]
    engines = [e for e in runner.make_engines(metric) if e.graph]
    if not engines:
        return None
    base = ds.base[:CALL_COST_VECTORS]
    queries = ds.query_sets[0].vectors[:CALL_COST_QUERIES]
    k = min(cfg.k, len(base))
    try:
        for e in engines:
            e.build(base, metric, cfg.params)
            e.set_ef(CALL_COST_EF)
        timings = timed_single({e.name: (e, e.prepare(queries)) for e in engines}, k, cfg.repetitions, cfg.min_calls)
    finally:
        for e in engines:
            e.close()
    cost = {name: MICROSECONDS / best_qps if best_qps > 0 else float("inf")
            for name, (best_qps, _, _) in timings.items()}
    runner.log(f"  one call on {len(base)} vectors at ef {CALL_COST_EF}: "
               + " | ".join(f"{name} {us:.2f} µs" for name, us in cost.items()))
    return {"vectors": len(base), "ef": CALL_COST_EF, "k": k, "us_per_call": cost}


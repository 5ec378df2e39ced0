"""The ``metric-speed`` pipeline: one engine under several metrics on the same data.

Every (engine, metric) gets its own index over the same base vectors; at each ef
of the suite the indexes are timed one query per call, *interleaved* across
metrics (bench.timing), so drift in machine load hits every metric alike. Recall
is judged against each metric's own exact neighbours. The figure of interest is
each metric's QPS relative to the first metric swept (l2 in the suite): snr is
served as squared L2 over centred vectors and should cost about the same.
"""

from __future__ import annotations

import time
from typing import Any

from . import measures
from .datasets import Dataset
from .distances import BUILTIN, rowwise
from .engines import Engine
from .sweep import Runner
from .timing import timed_single


def mark_relative_qps(rows: list[dict[str, Any]], reference_metric: str) -> None:
    """Gives every point ``qps_vs_reference``: its QPS over the same engine's QPS at the
    same ef under the reference metric (None where that was not measured)."""
    reference = {(r["engine"], p["ef"]): p["qps"] for r in rows if r["metric"] == reference_metric for p in r["points"]}
    for r in rows:
        for p in r["points"]:
            base = reference.get((r["engine"], p["ef"]))
            p["qps_vs_reference"] = p["qps"] / base if base else None


def run_metric_speed(ds: Dataset, runner: Runner) -> dict[str, Any]:
    """Builds every engine under every metric, then times them interleaved per ef."""
    cfg = runner.cfg
    t0 = time.perf_counter()
    primary = ds.primary.head(cfg.max_queries) if cfg.max_queries else ds.primary
    metrics = runner.sweep_metrics(ds)
    built: dict[str, tuple[Engine, str]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        for engine in runner.make_engines(BUILTIN[metric]):
            label = f"{engine.name} {metric}"
            start = time.perf_counter()
            engine.build(ds.base, BUILTIN[metric], cfg.params)
            rows[label] = {"engine": engine.name, "metric": metric, "build_s": time.perf_counter() - start,
                           "points": []}
            built[label] = (engine, metric)
            runner.log(f"  built {label} in {rows[label]['build_s']:.1f} s")
    gts = {m: runner.gt(ds, primary, BUILTIN[m])[1] for m in metrics}
    for ef in cfg.ef_sweep:
        for engine, _ in built.values():
            engine.set_ef(ef)
        timings = timed_single({label: (e, e.prepare(primary.vectors)) for label, (e, _) in built.items()}, cfg.k,
                               cfg.repetitions, cfg.min_calls)
        for label, (qps, lat, found) in timings.items():
            metric = built[label][1]
            recall = measures.recall_at_k(rowwise(BUILTIN[metric], primary.vectors, ds.base, found), gts[metric], cfg.k)
            rows[label]["points"].append({"ef": ef, "recall": recall, "qps": qps,
                                          "p50_us": measures.percentile_us(lat, 50),
                                          "p99_us": measures.percentile_us(lat, 99)})
        runner.log(f"  ef {ef:>4d}: " + " | ".join(f"{label} r={r['points'][-1]['recall']:.3f} "
                                                   f"{r['points'][-1]['qps']:,.0f} q/s" for label, r in rows.items()))
    for engine, _ in built.values():
        engine.close()
    mark_relative_qps(list(rows.values()), metrics[0] if metrics else "")
    return {"kind": "metric-speed", "name": ds.name, "source": ds.source, "licence": ds.licence,
            "n": len(ds.base), "dim": ds.base.shape[1], "metric": ds.metric, "queries": len(primary.vectors),
            "reference_metric": metrics[0] if metrics else None, "rows": list(rows.values()),
            "wall_s": time.perf_counter() - t0}

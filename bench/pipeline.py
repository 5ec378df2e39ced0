"""The per-dataset pipeline: every metric's sweep, the check of exact task scores
against the dataset's own reference, the information loss funnel and the
meta-features, as one JSON-ready dict.
"""

from __future__ import annotations

import time
from typing import Any

from .call_cost import measure_call_cost
from .datasets import Dataset
from .distances import BUILTIN
from .funnel import meta_features, run_funnel
from .model import MetricRuns
from .suites import SWEEP
from .sweep import Runner

# Exact scores may differ from a dataset's meta.json reference by tie order; beyond this, say so.
REFERENCE_TOLERANCE = 0.006


def run_dataset(ds: Dataset, runner: Runner) -> dict[str, Any]:
    """Sweeps, reference check, funnel and meta-features of one dataset, as a JSON-ready dict."""
    cfg = runner.cfg
    t0 = time.perf_counter()
    qsets = [q.head(cfg.max_queries) if cfg.max_queries else q for q in ds.query_sets]
    sweeps: dict[str, MetricRuns] = {}
    for name in runner.sweep_metrics(ds):
        runner.log(f"  metric {name}" + (" (native)" if name == ds.metric else ""))
        sweeps[name] = runner.run_metric(ds, qsets, BUILTIN[name])
    checks = []
    native = sweeps.get(ds.metric)
    if native is not None:
        for (qname, task), ref in sorted(ds.reference.items()):
            ours = native.exact_tasks.get(qname, {}).get(task)
            if ours is None:
                continue
            checks.append({"query_set": qname, "task": task, "reference": ref, "exact": ours})
            if abs(ours - ref) > REFERENCE_TOLERANCE and not cfg.max_queries:
                runner.notice(f"{ds.name}: exact {qname}/{task} = {ours:.4f}, meta.json reference {ref:.4f}")
    funnel = run_funnel(ds, qsets, runner, sweeps) if cfg.funnel and ds.has_task else None
    meta = funnel["meta"] if funnel else meta_features(ds, cfg.seed)
    if funnel is None:
        runner.log(f"  meta-features: norm CV {meta['norm_cv']:.3f}, relative contrast {meta['relative_contrast']:.2f}")
    call_cost = measure_call_cost(ds, runner) if cfg.suite.call_cost else None
    return {
        "kind": SWEEP, "name": ds.name, "source": ds.source, "licence": ds.licence, "n": len(ds.base), "dim": ds.base.shape[1],
        "metric": ds.metric,
        "query_sets": [{"name": q.name, "n": len(q.vectors), "tasks": [t.name for t in q.tasks],
                        "depth": max(cfg.k, q.task_depth), "excludes_seen": q.exclude is not None} for q in qsets],
        "sweeps": list(sweeps.values()), "reference_check": checks, "funnel": funnel, "meta_features": meta,
        "call_cost": call_cost,
        "wall_s": time.perf_counter() - t0,
    }

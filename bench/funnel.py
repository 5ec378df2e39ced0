"""Iceberg's "information loss funnel" and the data's meta-features.

For each dataset with a task, every metric the harness can judge (l2, ip,
cosine, snr, and gssf when vsearch ships it: trained here on the base labels)
gets, side by side:

* the task score under *exact* search with that metric (metric loss shows as
  the gap to the best metric);
* vsearch's recall@k at a fixed ef against that metric's exact neighbours,
  its task score and the task loss (exact minus ANN) -- a metric can reach
  high recall and still give wrong answers: metric misuse;
* the overlap of that metric's exact top-k with the native metric's.

Next to it: meta-features of the data (coefficient of variation of the norms,
relative contrast, Davies-Bouldin index under Euclidean and cosine distance)
and the metric Iceberg's rule suggests from them, against the metric that
actually scored best.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from . import measures
from .datasets import Dataset, QuerySet, array_hash
from .distances import BUILTIN, MetricSpec, gssf_spec, rowwise, spec
from .engines import VsearchEngine
from .model import MetricRuns
from .sweep import Runner, score_found, task_ef

# Meta-features are computed on samples of at most this many queries / base points.
META_MAX_QUERIES = 200
META_MAX_POINTS = 5000
# Without labels, the Davies-Bouldin index uses k-means clusters of this many centres.
META_KMEANS_CLUSTERS = 10
# GSSF block sizes tried, largest first (the first that divides the dimension is used).
GSSF_BLOCK_SIZES = (16, 8, 4, 2, 1)
# Scores closer than this count as a tie for "best metric".
SCORE_TIE = 1e-9


def meta_features(ds: Dataset, seed: int = 0) -> dict[str, Any]:
    """CV of norms, relative contrast, DBI (Euclidean, cosine) and the suggested metric."""
    rng = np.random.default_rng(seed)
    base, queries = ds.base, ds.primary.vectors
    q = queries[rng.choice(len(queries), min(len(queries), META_MAX_QUERIES), replace=False)]
    idx = np.sort(rng.choice(len(base), min(len(base), META_MAX_POINTS), replace=False))
    if ds.base_labels is not None:
        labels, clusters = ds.base_labels[idx], "labels"
    else:
        from sklearn.cluster import KMeans

        labels = KMeans(META_KMEANS_CLUSTERS, n_init=1, random_state=seed).fit_predict(base[idx])
        clusters = f"k-means ({META_KMEANS_CLUSTERS})"
    cv = measures.norm_cv(base)
    dbi_e = measures.davies_bouldin(base[idx], labels, "euclidean")
    dbi_c = measures.davies_bouldin(base[idx], labels, "cosine")
    return {"norm_cv": cv, "relative_contrast": measures.relative_contrast(base, q), "dbi_euclidean": dbi_e,
            "dbi_cosine": dbi_c, "clusters": clusters, "suggested": measures.suggest_metric(dbi_e, dbi_c, cv)}


def train_gssf(ds: Dataset, runner: Runner) -> MetricSpec | None:
    """A GSSF metric trained on (a sample of) the base labels."""
    if "vsearch" not in runner.cfg.engines:
        return None
    import vsearch

    if ds.base_labels is None:
        runner.notice(f"gssf needs labels; {ds.name} has none, so the funnel has no gssf row")
        return None
    dim = ds.base.shape[1]
    block = next(b for b in GSSF_BLOCK_SIZES if dim % b == 0)
    rng = np.random.default_rng(runner.cfg.seed)
    limit = runner.cfg.suite.gssf_max_train or len(ds.base)
    idx = np.sort(rng.choice(len(ds.base), min(len(ds.base), limit), replace=False))
    t0 = time.perf_counter()
    try:
        model = vsearch.GSSF(dim, block_size=block).fit(ds.base[idx], ds.base_labels[idx], progress=False)
    except vsearch.errors.InvalidParameterError as error:  # e.g. too few labels with two members
        runner.notice(f"gssf cannot be trained on {ds.name}: {error}")
        return None
    runner.log(f"  trained gssf (block {block}) on {len(idx):,} labelled base vectors in {time.perf_counter() - t0:.1f} s")
    return gssf_spec(model, f"gssf{array_hash(model.weights())}")


def funnel_metrics(ds: Dataset, runner: Runner) -> list[MetricSpec]:
    """Every metric the harness can judge, plus those vsearch adds (data-driven)."""
    metrics = [BUILTIN[m] for m in BUILTIN]
    if "vsearch" not in runner.cfg.engines:
        return metrics
    import vsearch

    for name in vsearch.METRICS:
        if name not in BUILTIN:
            runner.notice(f"vsearch metric {name} has no exact reference in bench.distances; not in the funnel")
    if runner.cfg.gssf:
        g = train_gssf(ds, runner)
        if g is not None:
            metrics.append(g)
    return metrics


def headline(qsets: Sequence[QuerySet]) -> tuple[str, str] | None:
    """(query set, task) of the dataset's headline task: the first task of the first set with one."""
    for q in qsets:
        if q.tasks:
            return q.name, q.tasks[0].name
    return None


def _ann(ds: Dataset, qsets: Sequence[QuerySet], metric: MetricSpec, runner: Runner,
         gts: dict[str, tuple[np.ndarray, np.ndarray]], swept: MetricRuns | None) -> dict[str, Any] | None:
    """vsearch at the suite's funnel ef: recall@k and task scores (reused from the sweep when it ran there)."""
    k, ef = runner.cfg.k, runner.cfg.suite.funnel_ef
    if swept is not None:
        run = next((r for r in swept.runs if r.engine == "vsearch"), None)
        point = next((p for p in run.points if p.ef == ef), None) if run else None
        if point is not None:
            return {"recall": point.recall, "tasks": point.tasks, "task_ci": point.task_ci, "build_s": run.build_s}
    if "vsearch" not in runner.cfg.engines:
        return None
    engine = VsearchEngine(runner.cfg.threads)
    if not engine.supports(metric):
        return None
    t0 = time.perf_counter()
    try:
        engine.build(ds.base, metric, runner.cfg.params)
    except Exception as error:
        runner.notice(f"vsearch failed to build {ds.name} with {metric.name}: {type(error).__name__}: {error}")
        return None
    build_s = time.perf_counter() - t0
    out: dict[str, Any] = {"recall": float("nan"), "tasks": {}, "task_ci": {}, "build_s": build_s}
    for q in qsets:
        depth = max(k, q.task_depth)
        engine.set_ef(task_ef(ef, depth, k))
        found = engine.search_batch(q.vectors, depth)
        if q is qsets[0]:
            if depth > k:  # recall is judged at the sweep's own ef
                engine.set_ef(ef)
                top = engine.search_batch(q.vectors, k)
            else:
                top = found[:, :k]
            out["recall"] = measures.recall_at_k(rowwise(metric, q.vectors, ds.base, top), gts[q.name][1], k)
        if q.tasks:
            out["tasks"][q.name], out["task_ci"][q.name] = score_found(ds, q, found, runner.cfg.seed)
    engine.close()
    return out


def run_funnel(ds: Dataset, qsets: list[QuerySet], runner: Runner, swept: dict[str, MetricRuns]) -> dict[str, Any]:
    """The funnel table of one dataset (see the module docstring)."""
    k, ef = runner.cfg.k, runner.cfg.suite.funnel_ef
    runner.log(f"  funnel: exact task scores per metric, vsearch at ef={ef}")
    native_ids = runner.gt(ds, qsets[0], spec(ds.metric))[0][:, :k]
    rows = []
    for metric in funnel_metrics(ds, runner):
        gts = {q.name: runner.gt(ds, q, metric) for q in qsets}
        exact, exact_ci = runner.exact_task_scores(ds, qsets, metric)
        ann = _ann(ds, qsets, metric, runner, gts, swept.get(metric.name) if metric.model is None else None)
        row: dict[str, Any] = {"metric": metric.name, "exact": exact, "exact_ci": exact_ci,
                               "overlap_with_native": measures.overlap_at_k(gts[qsets[0].name][0][:, :k], native_ids, k),
                               "ann": ann}
        if ann is not None:
            row["loss"] = {qn: {t: measures.task_loss(exact[qn][t], s) for t, s in scores.items()}
                           for qn, scores in ann["tasks"].items()}
        rows.append(row)
        head = headline(qsets)
        shown = f"{exact[head[0]][head[1]]:.3f}" if head else "-"
        recall = "n/a" if ann is None else f"{ann['recall']:.3f}"
        runner.log(f"    {metric.name:7s} exact {head[1] if head else 'task'} {shown}, vsearch recall@{k} {recall}")
    head = headline(qsets)
    best: list[str] = []
    if head:
        scores = {r["metric"]: r["exact"][head[0]][head[1]] for r in rows}
        top = max(scores.values())
        best = [m for m, s in scores.items() if s >= top - SCORE_TIE]
    meta = meta_features(ds, runner.cfg.seed)
    return {"ef": ef, "engine": "vsearch", "headline": head, "rows": rows, "best": best, "meta": meta,
            "suggested": meta["suggested"],
            "agrees": any(measures.same_family(meta["suggested"], b) for b in best) if best else None}

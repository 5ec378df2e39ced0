"""The sweep of one (dataset, metric): builds every engine, times searches over the
ef sweep with the engines interleaved (bench.timing), and scores recall and the
downstream tasks, each task score with a bootstrap confidence interval over queries.

A task that needs deeper results than k (movielens: 100 before dropping seen
items) or a second query set (debian's retrieval queries) gets its own pass (one
repetition) at ef scaled by depth / k; its QPS is that pass's.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import numpy as np

from . import measures, probes, tasks
from .datasets import Dataset, QuerySet, ground_truth
from .distances import BUILTIN, MetricSpec, rowwise
from .engines import ENGINES, Engine
from .model import SUMMARY_RECALLS, EngineRun, Interval, MetricRuns, Point, RunConfig
from .timing import qps, timed_batch, timed_pass, timed_single

Log = Callable[[str], None]
# Engines whose QPS vsearch's is compared to in the summary.
BASELINES = ("hnswlib", "faiss")
# The engine the summary is about.
SUBJECT = "vsearch"


# ----------------------------------------------------------------------------- scoring
def score_found(ds: Dataset, qset: QuerySet, found: np.ndarray, seed: int = 0
                ) -> tuple[dict[str, float], dict[str, Interval]]:
    """The task scores of found ids (Q, >= task depth) for one query set, and their
    bootstrap confidence intervals over queries."""
    per_query = tasks.per_query(qset.tasks, found, base_labels=ds.base_labels, query_labels=qset.labels,
                                relevant=qset.relevant, exclude=qset.exclude)
    scores = {name: measures.mean_defined(v) for name, v in per_query.items()}
    return scores, {name: measures.bootstrap_ci(v, seed=seed) for name, v in per_query.items()}


def reusable_for_tasks(qset: QuerySet, k: int) -> bool:
    """Whether the primary timed pass (k results) is enough to score this set's tasks."""
    return qset.task_depth <= k and qset.exclude is None


def task_ef(ef: int, depth: int, k: int) -> int:
    """ef of a deeper task search: the sweep's ef scaled by depth / k (never below ef)."""
    return max(ef, math.ceil(ef * depth / k))


def at_target(points: Sequence[Point], target: float) -> dict[str, Any]:
    """An engine's QPS at a target recall (interpolated on its curve). When even its
    cheapest setting (smallest ef) already passes the target, that QPS is only a lower
    bound, and ``passed_at_ef``/``recall_there`` say where it was passed."""
    cell: dict[str, Any] = {"qps": measures.qps_at_recall([(p.recall, p.qps) for p in points], target),
                            "passed_at_ef": None, "recall_there": None}
    cheapest = min(points, key=lambda p: p.ef)
    if cheapest.recall >= target:
        cell["passed_at_ef"], cell["recall_there"] = cheapest.ef, cheapest.recall
    return cell


def ratio_cell(subject: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """subject QPS / baseline QPS at one target: ``bound`` ">=" when only the subject's
    figure is a lower bound, "<=" when only the baseline's is; no ratio when both are."""
    subject_bound, baseline_bound = subject["passed_at_ef"] is not None, baseline["passed_at_ef"] is not None
    if subject_bound and baseline_bound:
        return {"ratio": math.nan, "bound": None}
    return {"ratio": subject["qps"] / baseline["qps"],
            "bound": ">=" if subject_bound else "<=" if baseline_bound else None}


def summarise(runs: Sequence[EngineRun], subject: str = SUBJECT) -> dict[str, Any]:
    """Each graph engine's QPS at each summary recall, and the subject's ratio to each
    baseline's (same run)."""
    curves = {r.engine: r.points for r in runs if r.points and all(p.ef is not None for p in r.points)}
    out: dict[str, Any] = {"qps": {}, "ratio": {}}
    for name, points in curves.items():
        out["qps"][name] = {f"{t:.2f}": at_target(points, t) for t in SUMMARY_RECALLS}
    if subject in curves:
        for base in BASELINES:
            if base in curves:
                out["ratio"][base] = {t: ratio_cell(out["qps"][subject][t], out["qps"][base][t])
                                      for t in out["qps"][subject]}
    return out


class Runner:
    """Runs the suite's measurements on one dataset at a time."""

    def __init__(self, cfg: RunConfig, log: Log) -> None:
        self.cfg = cfg
        self.log = log
        self.notices: list[str] = []

    def notice(self, message: str) -> None:
        """Records and prints a one-line notice (each distinct message once)."""
        if message not in self.notices:
            self.notices.append(message)
            self.log(f"note: {message}")

    def make_engines(self, metric: MetricSpec) -> list[Engine]:
        out = []
        for name in self.cfg.engines:
            e = ENGINES[name](self.cfg.threads)
            if e.supports(metric):
                out.append(e)
            else:
                self.notice(f"{name} has no {metric.name} metric; its {metric.name} runs are skipped")
        return out

    def gt(self, ds: Dataset, qset: QuerySet, metric: MetricSpec) -> tuple[np.ndarray, np.ndarray]:
        depth = max(self.cfg.k, qset.task_depth)
        return ground_truth(ds, qset, metric, depth, self.cfg.cache_dir, self.log)

    def exact_task_scores(self, ds: Dataset, qsets: Sequence[QuerySet], metric: MetricSpec
                          ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Interval]]]:
        """Task scores of exact search under ``metric`` per query set, and their intervals."""
        scores, intervals = {}, {}
        for q in qsets:
            if q.tasks:
                ids, _ = self.gt(ds, q, metric)
                scores[q.name], intervals[q.name] = score_found(ds, q, ids[:, : q.task_depth], self.cfg.seed)
        return scores, intervals

    def build(self, engines: list[Engine], ds: Dataset, metric: MetricSpec) -> dict[str, EngineRun]:
        runs: dict[str, EngineRun] = {}
        parts = []
        for e in list(engines):
            run = EngineRun(e.name, metric.name)
            t0 = time.perf_counter()
            try:
                e.build(ds.base, metric, self.cfg.params)
            except Exception as error:  # an engine failing must not stop the others
                self.notice(f"{e.name} failed to build {ds.name}/{metric.name}: {type(error).__name__}: {error}")
                engines.remove(e)
                continue
            run.build_s = time.perf_counter() - t0
            run.index_bytes = e.index_bytes()
            if run.index_bytes is not None:
                run.bytes_per_vector = run.index_bytes / len(ds.base)
            runs[e.name] = run
            parts.append(f"{e.name} {run.build_s:.2f} s")
        self.log(f"  built ({self.cfg.threads} thread{'s' if self.cfg.threads > 1 else ''}): " + ", ".join(parts))
        return runs

    def sweep_metrics(self, ds: Dataset) -> list[str]:
        chosen = self.cfg.sweep_metrics
        if chosen == "native":
            return [ds.metric]
        if chosen == "all":
            names = [ds.metric] + [m for m in BUILTIN if m != ds.metric]
        else:
            names = list(chosen)
        supported = set()
        for name in self.cfg.engines:
            if ENGINES[name].graph:
                supported.update(ENGINES[name](1).metric_names())
        keep = []
        for m in names:
            if m not in BUILTIN:
                self.notice(f"metric {m} cannot be judged by the harness (no exact reference); skipped")
            elif m not in supported:
                self.notice(f"no graph engine offers metric {m}; skipped")
            else:
                keep.append(m)
        return keep

    def run_metric(self, ds: Dataset, qsets: list[QuerySet], metric: MetricSpec) -> MetricRuns:
        cfg = self.cfg
        gts = {q.name: self.gt(ds, q, metric) for q in qsets}
        exact_tasks, exact_ci = self.exact_task_scores(ds, qsets, metric)
        engines = self.make_engines(metric)
        runs = self.build(engines, ds, metric)
        graph = [e for e in engines if e.graph]
        flat = [e for e in engines if not e.graph]
        schedule: list[tuple[int | None, list[Engine]]] = [(ef, graph) for ef in cfg.ef_sweep if graph]
        schedule += [(None, [e]) for e in flat]
        for ef, group in schedule:
            try:
                points = self.measure(ds, qsets, metric, gts, exact_tasks, group, ef)
            except Exception as error:
                self.notice(f"search failed on {ds.name}/{metric.name} at ef={ef}: {type(error).__name__}: {error}")
                continue
            for name, p in points.items():
                runs[name].points.append(p)
            self.log("  " + ("ef " + f"{ef:>4d}" if ef is not None else "exact  ") + ": " + " | ".join(
                f"{n} r={p.recall:.3f} {p.qps:>9,.0f} q/s" for n, p in points.items()))
        if cfg.memory:
            self.memory(ds, metric, runs)
        for e in engines:
            e.close()
        ordered = [runs[n] for n in cfg.engines if n in runs]
        return MetricRuns(metric.name, exact_tasks, exact_ci, ordered, summarise(ordered))

    def measure(self, ds: Dataset, qsets: list[QuerySet], metric: MetricSpec,
                gts: dict[str, tuple[np.ndarray, np.ndarray]], exact_tasks: dict[str, dict[str, float]],
                group: list[Engine], ef: int | None) -> dict[str, Point]:
        """One ef for a group of engines: the interleaved primary timing, batch timing, then
        quality and the separate task passes."""
        cfg, k, primary = self.cfg, self.cfg.k, qsets[0]
        for e in group:
            if ef is not None:
                e.set_ef(ef)
        timings = timed_single({e.name: (e, e.prepare(primary.vectors)) for e in group}, k, cfg.repetitions,
                               cfg.min_calls)
        points: dict[str, Point] = {}
        for e in group:
            single_qps, lat, found = timings[e.name]
            found_d = rowwise(metric, primary.vectors, ds.base, found)
            recall = measures.recall_at_k(found_d, gts[primary.name][1], k)
            p = Point(ef, recall, single_qps, timed_batch(e, primary.vectors, k, cfg.repetitions),
                      measures.percentile_us(lat, 50), measures.percentile_us(lat, 99))
            if primary.tasks and reusable_for_tasks(primary, k):
                p.tasks[primary.name], p.task_ci[primary.name] = score_found(ds, primary, found, cfg.seed)
                p.task_qps[primary.name], p.task_ef[primary.name] = single_qps, ef or 0
            points[e.name] = p
        for q in qsets:
            if q is primary and (not q.tasks or reusable_for_tasks(q, k)):
                continue
            depth = max(k, q.task_depth)
            this_ef = task_ef(ef, depth, k) if ef is not None else None
            for e in group:
                if this_ef is not None:
                    e.set_ef(this_ef)
                lat, found = timed_pass(e, e.prepare(q.vectors), depth, 1)
                p = points[e.name]
                if q.tasks:
                    p.tasks[q.name], p.task_ci[q.name] = score_found(ds, q, found, cfg.seed)
                    p.task_qps[q.name] = qps(lat)
                    p.task_ef[q.name] = this_ef or 0
                if q is not primary:
                    found_d = rowwise(metric, q.vectors, ds.base, found[:, :k])
                    p.set_recall[q.name] = measures.recall_at_k(found_d, gts[q.name][1], k)
        for p in points.values():
            for qname, scores in p.tasks.items():
                p.task_loss[qname] = {t: measures.task_loss(exact_tasks[qname][t], s) for t, s in scores.items()}
        return points

    def memory(self, ds: Dataset, metric: MetricSpec, runs: dict[str, EngineRun]) -> None:
        """Peak build memory of each engine, rebuilt in a fresh process (bench.probes)."""
        parts = []
        with probes.base_file(ds) as path:
            for name, run in runs.items():
                try:
                    m = probes.build_in_child(name, metric.name, path, self.cfg.params, self.cfg.threads)
                except Exception as error:
                    self.notice(f"peak memory of {name} on {ds.name} not measured: {error}")
                    continue
                run.peak_bytes, run.resident_bytes = m["peak_bytes"], m["resident_bytes"]
                if run.peak_bytes is not None:
                    parts.append(f"{name} {run.peak_bytes / 2**20:.1f} MiB")
        if parts:
            self.log("  peak build memory (fresh process): " + ", ".join(parts))



"""The sweep: builds every engine on a dataset, times searches over an ef sweep
with the engines interleaved, and scores recall and the downstream tasks.

Timing rules:

* single-thread QPS: one query per call, the queries cycled up to the suite's
  ``min_calls``; ``repetitions`` passes per (engine, ef), the engines taking
  turns within each repetition (their order rotates), the best pass kept.
  QPS = calls / the summed latency of the calls; p50/p99 latency pool every
  call of every pass;
* batch QPS: all queries in one call on ``threads`` threads, best of the passes;
* a task that needs deeper results than k (movielens: 100 before dropping seen
  items) or a second query set (debian's retrieval queries) gets its own pass
  (one repetition) at ef scaled by depth / k; its QPS is that pass's.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import measures, tasks
from .datasets import Dataset, QuerySet, ground_truth
from .distances import BUILTIN, MetricSpec, rowwise
from .engines import ENGINES, BuildParams, Engine
from .suites import Suite

Log = Callable[[str], None]
# The recall targets of the summary line.
SUMMARY_RECALLS = (0.90, 0.95, 0.99)
# Engines whose QPS vsearch's is compared to in the summary.
BASELINES = ("hnswlib", "faiss")
NANOSECONDS = 1e9


@dataclass
class RunConfig:
    """Everything a run is parameterised by (the CLI fills it)."""

    suite: Suite
    engines: list[str]
    threads: int = 1
    k: int = 10
    M: int = 16
    ef_construction: int = 200
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
    error: str | None = None


@dataclass
class MetricRuns:
    """All engines on one (dataset, metric)."""

    metric: str
    exact_tasks: dict[str, dict[str, float]]
    runs: list[EngineRun]
    summary: dict[str, Any]


# ----------------------------------------------------------------------------- timing
def _pass(engine: Engine, prepared: Sequence[Any], k: int, cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """One timed pass: every prepared query, ``cycles`` times, one call each.
    Returns (latencies ns (calls,), ids of the first cycle (Q, k))."""
    n = len(prepared)
    lat = np.empty(n * cycles, np.int64)
    found = np.full((n, k), -1, np.int64)
    clock, search = time.perf_counter_ns, engine.search_one
    call = 0
    for cycle in range(cycles):
        for i, q in enumerate(prepared):
            t0 = clock()
            ids = search(q, k)
            lat[call] = clock() - t0
            call += 1
            if cycle == 0:
                m = min(len(ids), k)
                found[i, :m] = ids[:m]
    return lat, found


def timed_single(engines: Sequence[Engine], prepared: dict[str, Sequence[Any]], k: int, repetitions: int,
                 min_calls: int) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """Interleaved one-query-per-call timing: {engine: (best QPS, all latencies ns, ids)}."""
    n = len(next(iter(prepared.values())))
    cycles = max(1, math.ceil(min_calls / n))
    best: dict[str, float] = {e.name: 0.0 for e in engines}
    lats: dict[str, list[np.ndarray]] = {e.name: [] for e in engines}
    found: dict[str, np.ndarray] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rep in range(repetitions):
            shift = rep % len(engines)
            for e in list(engines[shift:]) + list(engines[:shift]):  # rotate who goes first
                lat, ids = _pass(e, prepared[e.name], k, cycles)
                best[e.name] = max(best[e.name], len(lat) * NANOSECONDS / max(int(lat.sum()), 1))
                lats[e.name].append(lat)
                found[e.name] = ids
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: (best[name], np.concatenate(lats[name]), found[name]) for name in best}


def timed_batch(engine: Engine, queries: np.ndarray, k: int, repetitions: int) -> float:
    """Best-of-repetitions QPS of one batch call over all queries."""
    best = math.inf
    for _ in range(repetitions):
        t0 = time.perf_counter()
        engine.search_batch(queries, k)
        best = min(best, time.perf_counter() - t0)
    return len(queries) / best if best > 0 else math.inf


# ----------------------------------------------------------------------------- scoring
def score_found(ds: Dataset, qset: QuerySet, found: np.ndarray) -> dict[str, float]:
    """The task scores of found ids (Q, >= task depth) for one query set."""
    return tasks.score(qset.tasks, found, base_labels=ds.base_labels, query_labels=qset.labels,
                       relevant=qset.relevant, exclude=qset.exclude)


def reusable_for_tasks(qset: QuerySet, k: int) -> bool:
    """Whether the primary timed pass (k results) is enough to score this set's tasks."""
    return qset.task_depth <= k and qset.exclude is None


def task_ef(ef: int, depth: int, k: int) -> int:
    """ef of a deeper task search: the sweep's ef scaled by depth / k (never below ef)."""
    return max(ef, math.ceil(ef * depth / k))


def summarise(runs: Sequence[EngineRun], subject: str = "vsearch") -> dict[str, Any]:
    """vsearch's QPS at each summary recall and its ratio to each baseline's (same run)."""
    curves = {r.engine: [(p.recall, p.qps) for p in r.points] for r in runs
              if r.points and all(p.ef is not None for p in r.points)}  # graph engines only
    out: dict[str, Any] = {"qps": {}, "ratio": {}}
    for name, pts in curves.items():
        out["qps"][name] = {f"{t:.2f}": measures.qps_at_recall(pts, t) for t in SUMMARY_RECALLS}
    if subject in curves:
        for base in BASELINES:
            if base in curves:
                out["ratio"][base] = {t: out["qps"][subject][t] / out["qps"][base][t]
                                      for t in out["qps"][subject]}
    return out


# ----------------------------------------------------------------------------- the sweep
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

    def exact_task_scores(self, ds: Dataset, qsets: Sequence[QuerySet], metric: MetricSpec) -> dict[str, dict[str, float]]:
        out = {}
        for q in qsets:
            if q.tasks:
                ids, _ = self.gt(ds, q, metric)
                out[q.name] = score_found(ds, q, ids[:, : q.task_depth])
        return out

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
        exact_tasks = self.exact_task_scores(ds, qsets, metric)
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
        return MetricRuns(metric.name, exact_tasks, ordered, summarise(ordered))

    def measure(self, ds: Dataset, qsets: list[QuerySet], metric: MetricSpec,
                gts: dict[str, tuple[np.ndarray, np.ndarray]], exact_tasks: dict[str, dict[str, float]],
                group: list[Engine], ef: int | None) -> dict[str, Point]:
        """One ef for a group of engines: the interleaved primary timing, batch timing, then
        quality and the separate task passes."""
        cfg, k, primary = self.cfg, self.cfg.k, qsets[0]
        for e in group:
            if ef is not None:
                e.set_ef(ef)
        prepared = {e.name: e.prepare(primary.vectors) for e in group}
        timings = timed_single(group, prepared, k, cfg.repetitions, cfg.min_calls)
        points: dict[str, Point] = {}
        for e in group:
            qps, lat, found = timings[e.name]
            found_d = rowwise(metric, primary.vectors, ds.base, found)
            recall = measures.recall_at_k(found_d, gts[primary.name][1], k)
            p = Point(ef, recall, qps, timed_batch(e, primary.vectors, k, cfg.repetitions),
                      measures.percentile_us(lat, 50), measures.percentile_us(lat, 99))
            if primary.tasks and reusable_for_tasks(primary, k):
                p.tasks[primary.name] = score_found(ds, primary, found)
                p.task_qps[primary.name], p.task_ef[primary.name] = qps, ef or 0
            points[e.name] = p
        for q in qsets:
            if q is primary and (not q.tasks or reusable_for_tasks(q, k)):
                continue
            depth = max(k, q.task_depth)
            this_ef = task_ef(ef, depth, k) if ef is not None else None
            for e in group:
                if this_ef is not None:
                    e.set_ef(this_ef)
                lat, found = _pass(e, e.prepare(q.vectors), depth, 1)
                p = points[e.name]
                if q.tasks:
                    p.tasks[q.name] = score_found(ds, q, found)
                    p.task_qps[q.name] = len(lat) * NANOSECONDS / max(int(lat.sum()), 1)
                    p.task_ef[q.name] = this_ef or 0
                if q is not primary:
                    found_d = rowwise(metric, q.vectors, ds.base, found[:, :k])
                    p.set_recall[q.name] = measures.recall_at_k(found_d, gts[q.name][1], k)
        for p in points.values():
            for qname, scores in p.tasks.items():
                p.task_loss[qname] = {t: measures.task_loss(exact_tasks[qname][t], s) for t, s in scores.items()}
        return points

    def memory(self, ds: Dataset, metric: MetricSpec, runs: dict[str, EngineRun]) -> None:
        from .memory import run_child

        base_file = ds.base_file
        tmp: Path | None = None
        if base_file is None or not base_file.exists():
            import tempfile

            tmp = Path(tempfile.mkdtemp(prefix="vsearch-bench-")) / "base.npy"
            np.save(tmp, ds.base)
            base_file = tmp
        parts = []
        try:
            for name, run in runs.items():
                try:
                    m = run_child(name, metric.name, base_file, self.cfg.params, self.cfg.threads)
                except Exception as error:
                    self.notice(f"peak memory of {name} on {ds.name} not measured: {error}")
                    continue
                run.peak_bytes, run.resident_bytes = m.get("peak_bytes"), m.get("resident_bytes")
                if run.peak_bytes is not None:
                    parts.append(f"{name} {run.peak_bytes / 2**20:.1f} MiB")
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
                tmp.parent.rmdir()
        if parts:
            self.log("  peak build memory (fresh process): " + ", ".join(parts))


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


# Exact scores may differ from a dataset's meta.json reference by tie order; beyond this, say so.
REFERENCE_TOLERANCE = 0.006


def run_dataset(ds: Dataset, runner: Runner) -> dict[str, Any]:
    """Sweeps, reference check, funnel and meta-features of one dataset, as a JSON-ready dict."""
    from .funnel import meta_features, run_funnel  # the funnel builds on this module

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
    return {
        "name": ds.name, "source": ds.source, "licence": ds.licence, "n": len(ds.base), "dim": ds.base.shape[1],
        "metric": ds.metric,
        "query_sets": [{"name": q.name, "n": len(q.vectors), "tasks": [t.name for t in q.tasks],
                        "depth": max(cfg.k, q.task_depth), "excludes_seen": q.exclude is not None} for q in qsets],
        "sweeps": list(sweeps.values()), "reference_check": checks, "funnel": funnel, "meta_features": meta,
        "wall_s": time.perf_counter() - t0,
    }

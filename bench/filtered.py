"""The ``filter`` pipeline: k-nearest-neighbour search among the ids a filter lets pass, and
range search.

Every engine of the run that can filter (bench.engines ``filters``) is built once on the
dataset, with the run's threads. The first ``queries`` queries of the dataset's primary set
are searched, one query per call on one thread, under filters letting ``shares`` of the base
ids pass (``max(1, round(share x n))`` ids each), of two kinds, the queries the same for both:

* random: ids drawn at random without replacement (seeded; every share from the same seed);
* cluster: the rows of the dataset's largest label class first, then the other rows, each
  part by ascending distance (under the dataset's metric) to that class's centroid; a filter
  passes the first ones. Up to the class's share that is a filter like "category = X" (one
  cluster), beyond it the class and its surroundings; without labels, the rows nearest to the
  first base vector. The passing ids are one region of the space, near the queries of that
  class and far from the others: the hard case for a filtered graph walk, which then meets few
  passing ids on its way.

Each engine gets its own filter object (bench.engines ``prepare_filter``: vsearch's
``Index.prepare_filter``, hnswlib a Python callable, FAISS an ``IDSelectorBitmap``), made once
per filter, outside the timed loop. A series is an engine under one of its plans (vsearch:
auto, graph, exact); vsearch's default plan also runs given the array of allowed ids itself
(``, id array``: what a one-off filter costs, its ids looked up on every call). At each ef,
the series of that ef (FilterPlan.swept run every ef, the others only the main ef) are timed
interleaved (bench.timing): first one pass over the queries each, whose ids are scored; a
series whose pass took longer than ``slow_pass_s`` keeps that pass as its figure, the others
are timed again with the suite's repetitions and min_calls (best pass kept).

Recall@k is judged against brute force over the passing rows only (bench.distances), as true
ones found over ``min(k, passing)`` (bench.measures.capped_recall_at_k); an id failing the
filter counts as a miss, and such ids are counted (an engine should never return one).

vsearch against FAISS "at equal or better recall", per filter: the target is the lower of the
two series' best recalls over the ef sweep, so both reach it; each series' QPS is the one at
its cheapest ef reaching the target, and the figure is their ratio. When vsearch reaches
FAISS's best recall, that is vsearch at its cheapest ef doing so against FAISS at its best
point. Beside it, the ratio of the two QPS interpolated at the target on each curve (as the
speed suites compare; ef steps of 2x make the cheapest-ef figure coarse). Against hnswlib: the
ratio of the two at the main ef.

For reference, every engine is also timed without a filter at the main ef (plain recall@k).

Range search (engines with ``ranges``, at their default ef): the radius for ``n`` hits is the
mean over queries of the exact distance to the n-th nearest base vector, for each n of
``range_hits``; the truth is every base vector within it (brute force); recall = true hits
found / true hits, pooled over queries; a returned id beyond the radius, failing the filter or
repeated is a false hit. It runs once more with the random filter of ``range_filter_share``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from . import measures
from .datasets import Dataset
from .distances import BUILTIN, MetricSpec, exact_topk, exact_within, rowwise
from .engines import Engine, allowed_mask
from .suites import CLUSTER_FILTER, FAISS_SERIES, FILTER, HNSWLIB_SERIES, RANDOM_FILTER, SUBJECT_SERIES, FilterPlan
from .sweep import Runner
from .tables import fmt_share
from .timing import NANOSECONDS, OneQuerySearch, timed_single

# What a series given the allowed ids themselves (not a prepared filter) adds to its label.
IDS_SUFFIX = ", id array"


# ----------------------------------------------------------------------------- filters
def passing_count(share: float, n: int) -> int:
    """Ids a filter of ``share`` lets pass out of ``n``: at least one."""
    return max(1, round(share * n))


def random_filter(n: int, share: float, seed: int) -> np.ndarray:
    """Sorted ids drawn at random without replacement."""
    return np.sort(np.random.default_rng(seed).choice(n, passing_count(share, n), replace=False)).astype(np.int64)


def cluster_order(base: np.ndarray, labels: np.ndarray | None, metric: MetricSpec) -> np.ndarray:
    """Base rows in the cluster filter's order: the largest label class first (ties: the smaller
    label), then the others, each part by ascending distance to the class's centroid; without
    labels, every row by distance to the first base vector."""
    if labels is None:
        outside, centre = np.zeros(len(base), bool), np.asarray(base[0], np.float64)
    else:
        values, counts = np.unique(labels, return_counts=True)
        outside = labels != values[np.argmax(counts)]
        centre = np.asarray(base[~outside], np.float64).mean(0)
    return np.lexsort((metric.pairwise(centre[None, :], np.asarray(base, np.float64))[0], outside))


@dataclass
class Filter:
    """One filter: its kind, the share it was asked for, and the ids it lets pass."""

    kind: str
    share: float
    allowed: np.ndarray   # sorted int64 base rows
    mask: np.ndarray      # bool per base row

    @classmethod
    def of(cls, kind: str, share: float, allowed: np.ndarray, n: int) -> "Filter":
        return cls(kind, share, allowed, allowed_mask(allowed, n))

    def clean(self, found: np.ndarray) -> tuple[np.ndarray, int]:
        """``found`` with the ids failing the filter replaced by -1, and how many there were."""
        failing = (found >= 0) & ~self.mask[np.clip(found, 0, len(self.mask) - 1)]
        return np.where(failing, -1, found), int(failing.sum())


def make_filters(ds: Dataset, metric: MetricSpec, plan: FilterPlan, seed: int) -> list[Filter]:
    """Every (kind, share) filter of the plan, in its order."""
    n = len(ds.base)
    order = cluster_order(ds.base, ds.base_labels, metric) if CLUSTER_FILTER in plan.kinds else None
    out = []
    for kind in plan.kinds:
        for share in plan.shares:
            if kind == RANDOM_FILTER:
                allowed = random_filter(n, share, seed)
            elif kind == CLUSTER_FILTER:
                allowed = np.sort(order[: passing_count(share, n)]).astype(np.int64)
            else:
                raise ValueError(f"unknown filter kind {kind!r}; known: {RANDOM_FILTER}, {CLUSTER_FILTER}")
            out.append(Filter.of(kind, share, allowed, n))
    return out


# ----------------------------------------------------------------------------- comparisons
def cheapest_reaching(points: Sequence[dict[str, Any]], target: float) -> dict[str, Any]:
    """The point of smallest ef whose recall reaches ``target``."""
    return min((p for p in points if p["recall"] >= target), key=lambda p: p["ef"])


def at_equal_recall(subject: Sequence[dict[str, Any]], rival: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The subject's QPS over the rival's at the best recall both reach (see the module
    docstring), and, as the speed suites compare, the ratio of their QPS interpolated at that
    recall on each curve (bench.measures.qps_at_recall); None when either has no point."""
    if not subject or not rival:
        return None
    best_rival = max(p["recall"] for p in rival)
    target = min(max(p["recall"] for p in subject), best_rival)
    ours, theirs = cheapest_reaching(subject, target), cheapest_reaching(rival, target)
    ours_at, theirs_at = (measures.qps_at_recall([(p["recall"], p["qps"]) for p in points], target)
                          for points in (subject, rival))
    return {"target": target, "at_rival_best": target == best_rival, "ef": ours["ef"], "qps": ours["qps"],
            "rival_ef": theirs["ef"], "rival_qps": theirs["qps"],
            "ratio": ours["qps"] / theirs["qps"] if theirs["qps"] else None,
            "interpolated_ratio": ours_at / theirs_at if theirs_at else None}


def at_same_ef(subject: Sequence[dict[str, Any]], rival: Sequence[dict[str, Any]], ef: int) -> dict[str, Any] | None:
    """The subject's QPS over the rival's, both at ``ef``; None when either did not run it."""
    ours, theirs = (next((p for p in points if p["ef"] == ef), None) for points in (subject, rival))
    if ours is None or theirs is None:
        return None
    return {"ef": ef, "qps": ours["qps"], "rival_qps": theirs["qps"],
            "ratio": ours["qps"] / theirs["qps"] if theirs["qps"] else None}


# ----------------------------------------------------------------------------- the pipeline
@dataclass(frozen=True)
class Series:
    """An engine searching under one of its plans (None: the engine's own), given its prepared
    filter or (``ids``) the array of allowed ids itself."""

    engine: Engine
    plan: str | None
    ids: bool = False

    @property
    def label(self) -> str:
        return self.engine.name + (f" {self.plan}" if self.plan else "") + (IDS_SUFFIX if self.ids else "")


def series_of(engine: Engine) -> list[Series]:
    """An engine's series: each of its plans with its prepared filter, and, for an engine that
    takes the allowed ids themselves, its own plan with those (what a one-off filter costs)."""
    plans = engine.plans or (None,)
    return [Series(engine, plan) for plan in plans] + ([Series(engine, plans[0], ids=True)] if engine.takes_ids else [])


class Call:
    """A search as bench.timing calls it, ``search_one(query, k)``."""

    def __init__(self, search: Callable[[Any, int], np.ndarray]) -> None:
        self.search_one = search


class Filtered:
    """One dataset's run: its queries, engines and filters, and the measurements."""

    def __init__(self, ds: Dataset, runner: Runner) -> None:
        self.ds, self.runner, self.cfg = ds, runner, runner.cfg
        plan = runner.cfg.suite.filter
        if plan is None:
            raise ValueError(f"the {runner.cfg.suite.name} suite has no filter plan")
        self.plan = plan
        self.metric: MetricSpec = BUILTIN[ds.metric]
        self.queries = ds.primary.head(min(plan.queries, self.cfg.max_queries or plan.queries)).vectors
        self.efs = tuple(sorted(set(self.cfg.ef_sweep) | {plan.main_ef}))

    def engines(self) -> list[Engine]:
        """The run's engines that can filter (a notice for each other one)."""
        out = []
        for engine in self.runner.make_engines(self.metric):
            if engine.filters:
                out.append(engine)
            else:
                self.runner.notice(f"{engine.name} cannot search with a filter; not in the filter suite")
        return out

    def time(self, calls: dict[str, tuple[OneQuerySearch, Sequence[Any]]]) -> dict[str, dict[str, Any]]:
        """Interleaved one-query timing (see the module docstring): per label its QPS, latencies,
        the ids of its first pass, and whether it was timed again."""
        first = timed_single(calls, self.cfg.k, 1, len(self.queries))
        fast = {label: c for label, c in calls.items() if first[label][1].sum() <= self.plan.slow_pass_s * NANOSECONDS}
        again = timed_single(fast, self.cfg.k, self.cfg.repetitions, self.cfg.min_calls) if fast else {}
        out = {}
        for label in calls:
            qps, lat, _ = again.get(label, first[label])
            out[label] = {"qps": qps, "p50_us": measures.percentile_us(lat, 50),
                          "p99_us": measures.percentile_us(lat, 99), "found": first[label][2],
                          "timed_again": label in again}
        return out

    def unfiltered(self, engines: list[Engine], prepared: dict[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
        """Every engine without a filter at the main ef: what the filtered figures are read against."""
        _, gt_dist = exact_topk(self.ds.base, self.queries, self.metric, self.cfg.k)
        for e in engines:
            e.set_ef(self.plan.main_ef)
        out = {}
        for name, t in self.time({e.name: (e, prepared[e.name]) for e in engines}).items():
            found_dist = rowwise(self.metric, self.queries, self.ds.base, t.pop("found"))
            out[name] = {"ef": self.plan.main_ef, "recall": measures.recall_at_k(found_dist, gt_dist, self.cfg.k), **t}
        self.runner.log(f"  no filter, ef {self.plan.main_ef}: " + " | ".join(
            f"{name} r={p['recall']:.3f} {p['qps']:,.0f} q/s" for name, p in out.items()))
        return out

    def search(self, flt: Filter, series: list[Series], prepared: dict[str, Sequence[Any]]) -> dict[str, Any]:
        """Every series under one filter, at its ef values: one row per series."""
        k = self.cfg.k
        _, gt_dist = exact_topk(self.ds.base[flt.allowed], self.queries, self.metric, min(k, len(flt.allowed)))
        engines = {s.engine.name: s.engine for s in series}
        filters = {name: e.prepare_filter(flt.allowed, len(self.ds.base)) for name, e in engines.items()}
        rows = {s.label: {"label": s.label, "engine": s.engine.name, "plan": s.plan, "points": []} for s in series}
        for ef in self.efs:
            group = [s for s in series if ef == self.plan.main_ef or s.label in self.plan.swept]
            calls = {}
            for s in group:
                s.engine.set_ef(ef)
                search = partial(s.engine.search_filtered_one, allowed=flt.allowed if s.ids else filters[s.engine.name])
                calls[s.label] = (Call(partial(search, plan=s.plan) if s.plan else search), prepared[s.engine.name])
            for label, t in self.time(calls).items():
                found, failing = flt.clean(t.pop("found"))
                found_dist = rowwise(self.metric, self.queries, self.ds.base, found)
                recall = measures.capped_recall_at_k(found_dist, gt_dist, k)
                rows[label]["points"].append({"ef": ef, "recall": recall, "failing": failing, **t})
            self.runner.log(f"    ef {ef:>4d}: " + " | ".join(
                f"{label} r={rows[label]['points'][-1]['recall']:.3f} {rows[label]['points'][-1]['qps']:,.0f} q/s"
                for label in calls))
        points = {label: row["points"] for label, row in rows.items()}
        subject = points.get(SUBJECT_SERIES, [])
        return {"kind": flt.kind, "share": flt.share, "passing": len(flt.allowed), "rows": list(rows.values()),
                "vs_faiss": at_equal_recall(subject, points.get(FAISS_SERIES, [])),
                "vs_hnswlib": at_same_ef(subject, points.get(HNSWLIB_SERIES, []), self.plan.main_ef)}

    def radii(self) -> dict[int, float]:
        """The range radius for each number of hits of the plan (see the module docstring)."""
        n = len(self.ds.base)
        _, dist = exact_topk(self.ds.base, self.queries, self.metric, min(max(self.plan.range_hits), n))
        return {hits: float(dist[:, min(hits, n) - 1].mean()) for hits in self.plan.range_hits}

    def range_searches(self, engines: list[Engine], prepared: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
        """Range search at each radius, and once under a random filter: one entry each."""
        rangers = [e for e in engines if e.ranges]
        if not rangers:
            return []
        n = len(self.ds.base)
        share = self.plan.range_filter_share
        shared = Filter.of(RANDOM_FILTER, share, random_filter(n, share, self.cfg.seed), n)
        radii = self.radii()
        cases = [(hits, None) for hits in self.plan.range_hits] + [(self.plan.range_filter_hits, shared)]
        return [self.range_case(hits, radii[hits], flt, ef, rangers, prepared)
                for ef in self.plan.range_efs for hits, flt in cases]

    def range_case(self, hits: int, radius: float, flt: Filter | None, ef: int, rangers: list[Engine],
                   prepared: dict[str, Sequence[Any]]) -> dict[str, Any]:
        """Every range engine at one radius (under ``flt``, if given) and beam width, timed, then judged."""
        n = len(self.ds.base)
        truth = exact_within(self.ds.base, self.queries, self.metric, radius)
        if flt is not None:
            truth = [t[flt.mask[t]] for t in truth]
        searches = {e.name: partial(e.range_search_one, radius=radius, ef=ef,
                                    allowed=None if flt is None else e.prepare_filter(flt.allowed, n)) for e in rangers}
        timings = self.time({name: (Call(lambda q, _k, s=s: s(q)), prepared[name]) for name, s in searches.items()})
        rows = []
        for name, search in searches.items():
            found_dist, failing = [], 0
            for i, q in enumerate(prepared[name]):  # an untimed pass: the timed one keeps only k ids
                ids = np.asarray(search(q), np.int64)[None, :]
                if flt is not None:
                    ids, fails = flt.clean(ids)
                    failing += fails
                found_dist.append(rowwise(self.metric, self.queries[i : i + 1], self.ds.base, ids)[0])
            t = timings[name]
            t.pop("found")
            rows.append({"engine": name, **measures.range_recall(found_dist, [len(x) for x in truth], radius),
                         "failing": failing, **t})
        entry = {"hits": hits, "radius": radius, "ef": ef, "share": None if flt is None else flt.share,
                 "mean_true": float(np.mean([len(x) for x in truth])), "rows": rows}
        where = "" if flt is None else f", {fmt_share(flt.share)} filter"
        self.runner.log(f"  range r={radius:.4g} (~{hits} hits{where}, {entry['mean_true']:.1f} true on average), "
                        f"ef {ef}: "
                        + " | ".join(f"{r['engine']} recall {r['recall']:.3f}, {r['false_hits']} false, "
                                     f"{r['qps']:,.0f} q/s" for r in rows))
        return entry


def run_filtered(ds: Dataset, runner: Runner) -> dict[str, Any]:
    """Filtered search and range search on every engine that filters (see the module docstring)."""
    t0 = time.perf_counter()
    run = Filtered(ds, runner)
    engines = run.engines()
    builds = runner.build(engines, ds, run.metric)
    prepared = {e.name: e.prepare(run.queries) for e in engines}
    series = [s for e in engines for s in series_of(e)]
    unfiltered = run.unfiltered(engines, prepared)
    results = []
    for flt in make_filters(ds, run.metric, run.plan, runner.cfg.seed):
        runner.log(f"  {flt.kind} filter, {fmt_share(flt.share)} passing ({len(flt.allowed):,} ids)")
        results.append(run.search(flt, series, prepared))
    ranges = run.range_searches(engines, prepared)
    for engine in engines:
        engine.close()
    return {"kind": FILTER, "name": ds.name, "source": ds.source, "licence": ds.licence, "n": len(ds.base),
            "dim": ds.base.shape[1], "metric": ds.metric, "queries": len(run.queries), "main_ef": run.plan.main_ef,
            "slow_pass_s": run.plan.slow_pass_s,
            "subject": SUBJECT_SERIES, "builds": builds, "unfiltered": unfiltered, "filters": results, "range": ranges,
            "wall_s": time.perf_counter() - t0}

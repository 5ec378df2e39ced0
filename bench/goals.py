"""Goals: figures a suite checks against a threshold, reported as met or missed.

A goal reads one dataset's JSON-ready result (bench.pipeline, bench.metric_speed,
bench.persistence, bench.churn, bench.filtered) and returns its figure, or None when that
dataset does not measure it. Goals never change a run's exit status: a benchmark reports, it
does not fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .suites import CALL_COST_EF, CALL_COST_VECTORS, CHURN, FILTER, FILTER_PLAN, REMOVAL_PHASE, ROUNDS_PHASE

# The recall at which QPS is compared.
GOAL_RECALL = "0.95"
# Label recall of the gssf goals, and the datasets they are about.
GSSF_TASK = "label_recall@10"
GSSF_SYNTHETIC, GSSF_REAL = "synthetic-misuse", "fortunes_minilm"
# The plain metrics GSSF is compared with.
GSSF_RIVALS = ("cosine", "l2")
POINTS = 100.0
# The churn goals: the subject engine, the phases of bench.churn ("removal" steps, "churn"
# rounds), and the removal step whose time is compared with the build's.
CHURN_SUBJECT = "vsearch"
TIMED_REMOVAL = 0.1
# vsearch with storage="float16" (bench.engines), and issue 12's target for it on 100,000 x 128 clustered.
HALF_ENGINE = "vsearch-f16"
HALF_TARGET = 1.8
# The engine whose failing ids and range search the filter goals check.
FILTER_ENGINE = "vsearch"

Figure = Callable[[dict[str, Any]], "float | None"]


@dataclass(frozen=True)
class Goal:
    """``figure(dataset) <op> threshold``, where op is ">=" or "<="."""

    name: str
    what: str
    op: str
    threshold: float
    figure: Figure

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold


def _native_sweep(ds: dict[str, Any]) -> dict[str, Any] | None:
    """The sweep of a dataset under its own metric, if it ran."""
    return next((s for s in ds.get("sweeps", []) if s["metric"] == ds["metric"]), None)


def _native_runs(ds: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sweep = _native_sweep(ds)
    return {r["engine"]: r for r in sweep["runs"]} if sweep else {}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b and math.isfinite(a) and math.isfinite(b) else None


def qps_vs_hnswlib(ds: dict[str, Any]) -> float | None:
    sweep = _native_sweep(ds)
    cell = sweep["summary"]["ratio"].get("hnswlib", {}).get(GOAL_RECALL) if sweep else None
    return None if cell is None else cell["ratio"]


def half_qps_vs_hnswlib(ds: dict[str, Any]) -> float | None:
    sweep = _native_sweep(ds)
    qps = sweep["summary"]["qps"] if sweep else {}
    return _ratio(qps.get(HALF_ENGINE, {}).get(GOAL_RECALL, {}).get("qps"),
                  qps.get("hnswlib", {}).get(GOAL_RECALL, {}).get("qps"))


def build_vs_hnswlib(ds: dict[str, Any]) -> float | None:
    runs = _native_runs(ds)
    return _ratio(runs.get("vsearch", {}).get("build_s"), runs.get("hnswlib", {}).get("build_s"))


def call_cost_vs_hnswlib(ds: dict[str, Any]) -> float | None:
    cost = (ds.get("call_cost") or {}).get("us_per_call", {})
    return _ratio(cost.get("vsearch"), cost.get("hnswlib"))


def memory_vs_hnswlib(ds: dict[str, Any]) -> float | None:
    runs = _native_runs(ds)
    return _ratio(runs.get("vsearch", {}).get("resident_bytes"), runs.get("hnswlib", {}).get("resident_bytes"))


def snr_vs_l2(ds: dict[str, Any]) -> float | None:
    """The lowest snr/l2 QPS ratio over the ef values swept."""
    ratios = [p["qps_vs_reference"] for r in ds.get("rows", []) if ds.get("kind") == "metric-speed"
              and r["engine"] == "vsearch" and r["metric"] == "snr" for p in r["points"]
              if p.get("qps_vs_reference") is not None]
    return min(ratios) if ratios else None


def _load(ds: dict[str, Any], engine: str, mmap: bool) -> dict[str, Any] | None:
    if ds.get("kind") != "persistence":
        return None
    return next((r for r in ds["rows"] if r["engine"] == engine and r["mmap"] == mmap), None)


def mmap_load_time(ds: dict[str, Any]) -> float | None:
    mapped, theirs = _load(ds, "vsearch", True), _load(ds, "hnswlib", False)
    return _ratio(mapped["seconds"], theirs["seconds"]) if mapped and theirs else None


def mmap_resident(ds: dict[str, Any]) -> float | None:
    mapped = _load(ds, "vsearch", True)
    return _ratio(mapped["resident_bytes"], mapped["file_bytes"]) if mapped else None


def load_vs_hnswlib(ds: dict[str, Any]) -> float | None:
    ours, theirs = _load(ds, "vsearch", False), _load(ds, "hnswlib", False)
    return _ratio(ours["seconds"], theirs["seconds"]) if ours and theirs else None


def gssf_gain(dataset: str) -> Figure:
    """Points of label recall@10 that vsearch with learned GSSF gains over the best of the
    plain metrics, both searched by vsearch at the funnel's ef, on one dataset."""

    def figure(ds: dict[str, Any]) -> float | None:
        funnel = ds.get("funnel")
        if ds["name"] != dataset or not funnel:
            return None
        scores = {r["metric"]: r["ann"]["tasks"].get("queries", {}).get(GSSF_TASK) for r in funnel["rows"] if r["ann"]}
        rivals = [scores[m] for m in GSSF_RIVALS if scores.get(m) is not None]
        if scores.get("gssf") is None or not rivals:
            return None
        return POINTS * (scores["gssf"] - max(rivals))

    return figure


def _churned_and_fresh(ds: dict[str, Any], phase: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(churned point, fresh point) of the subject at each ef of each step of one churn phase."""
    if ds.get("kind") != CHURN:
        return []
    pairs = []
    for step in ds["steps"]:
        if step["phase"] != phase:
            continue
        rows = {r["fresh"]: r for r in step["rows"] if r["engine"] == CHURN_SUBJECT}
        if False in rows and True in rows:
            pairs += list(zip(rows[False]["points"], rows[True]["points"]))
    return pairs


def churn_recall(phase: str) -> Figure:
    """The lowest, over the phase's steps and the ef values, of the subject's recall minus its
    fresh build's, in points."""

    def figure(ds: dict[str, Any]) -> float | None:
        gaps = [POINTS * (ours["recall"] - fresh["recall"]) for ours, fresh in _churned_and_fresh(ds, phase)]
        return min(gaps) if gaps else None

    return figure


def churn_qps(phase: str) -> Figure:
    """The lowest, over the phase's steps and the ef values, of the subject's QPS over its
    fresh build's."""

    def figure(ds: dict[str, Any]) -> float | None:
        ratios = [r for r in (_ratio(ours["qps"], fresh["qps"]) for ours, fresh in _churned_and_fresh(ds, phase))
                  if r is not None]
        return min(ratios) if ratios else None

    return figure


def removal_time(ds: dict[str, Any]) -> float | None:
    """The subject's time to remove TIMED_REMOVAL of the vectors, consolidation included, over
    its build time."""
    if ds.get("kind") != CHURN or CHURN_SUBJECT not in ds["builds"]:
        return None
    step = next((s for s in ds["steps"] if s["phase"] == REMOVAL_PHASE and s["share"] == TIMED_REMOVAL), None)
    row = next((r for r in step["rows"] if r["engine"] == CHURN_SUBJECT and not r["fresh"]), None) if step else None
    if row is None:
        return None
    return _ratio(row["remove_s"] + row["consolidate_s"], ds["builds"][CHURN_SUBJECT]["build_s"])


def churn_memory(ds: dict[str, Any]) -> float | None:
    """The subject's index bytes after the last churn round over those after the first."""
    if ds.get("kind") != CHURN or not ds["memory"]:
        return None
    first, last = (ds["memory"][i]["engines"].get(CHURN_SUBJECT, {}).get("index_bytes") for i in (0, -1))
    return _ratio(last, first)


def _filters(ds: dict[str, Any]) -> list[dict[str, Any]]:
    return ds["filters"] if ds.get("kind") == FILTER else []


def _lowest(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def filter_recall(at_main_ef: bool) -> Figure:
    """The subject's lowest recall@10 over the filters (every kind and share), at the main ef or
    the best over its ef sweep (what a caller can reach by raising ef)."""

    def figure(ds: dict[str, Any]) -> float | None:
        return _lowest([max(p["recall"] for p in r["points"] if not at_main_ef or p["ef"] == ds["main_ef"])
                        for f in _filters(ds) for r in f["rows"] if r["label"] == ds["subject"]])

    return figure


def filter_ratio(key: str, field: str = "ratio") -> Figure:
    """The lowest, over the filters, of the subject's QPS over a rival's (``vs_faiss``: at equal
    or better recall, interpolated on both curves as the speed suites compare; ``vs_hnswlib``: at
    the main ef), as bench.filtered computes them."""

    def figure(ds: dict[str, Any]) -> float | None:
        return _lowest([f[key][field] for f in _filters(ds) if f[key] is not None])

    return figure


def filter_failing_ids(ds: dict[str, Any]) -> float | None:
    """Ids failing the filter that vsearch returned, every plan, ef and range search together."""
    if ds.get("kind") != FILTER:
        return None
    counts = [p["failing"] for f in ds["filters"] for r in f["rows"] if r["engine"] == FILTER_ENGINE
              for p in r["points"]]
    counts += [r["failing"] for c in ds["range"] for r in c["rows"] if r["engine"] == FILTER_ENGINE]
    return float(sum(counts)) if counts else None


def range_search_recall(widest: bool) -> Figure:
    """vsearch's lowest range-search recall over the radii (and the filtered search), at the
    default ef or at the widest the suite runs."""

    def figure(ds: dict[str, Any]) -> float | None:
        if ds.get("kind") != FILTER or not ds["range"]:
            return None
        ef = (max if widest else min)(c["ef"] for c in ds["range"])
        return _lowest([r["recall"] for c in ds["range"] if c["ef"] == ef for r in c["rows"]
                        if r["engine"] == FILTER_ENGINE])

    return figure


GOALS: dict[str, Goal] = {g.name: g for g in (
    Goal("qps-vs-hnswlib", f"vsearch QPS / hnswlib QPS at recall@10 = {GOAL_RECALL}", ">=", 1.0, qps_vs_hnswlib),
    Goal("f16-qps-vs-hnswlib", f"{HALF_ENGINE} (storage float16) QPS / hnswlib QPS at recall@10 = {GOAL_RECALL}", ">=",
         HALF_TARGET, half_qps_vs_hnswlib),
    Goal("build-vs-hnswlib", "vsearch build time / hnswlib build time", "<=", 1.2, build_vs_hnswlib),
    Goal("memory-vs-hnswlib", "vsearch resident memory after build / hnswlib's", "<=", 1.0, memory_vs_hnswlib),
    Goal("call-cost-vs-hnswlib", f"vsearch time per one-query call / hnswlib's, on a {CALL_COST_VECTORS}-vector index "
         f"at ef {CALL_COST_EF}", "<=", 1.0, call_cost_vs_hnswlib),
    Goal("snr-vs-l2", "vsearch QPS under snr / under l2 (lowest over the ef values)", ">=", 0.9, snr_vs_l2),
    Goal("mmap-load-time", "vsearch load(mmap=True) time / hnswlib load time", "<=", 0.05, mmap_load_time),
    Goal("mmap-resident", "vsearch mmap resident growth / file size", "<=", 0.10, mmap_resident),
    Goal("load-vs-hnswlib", "vsearch load time / hnswlib load time", "<=", 1.0, load_vs_hnswlib),
    Goal("gssf-gain-synthetic", f"GSSF label recall@10 gain over the best of {'/'.join(GSSF_RIVALS)}, points, "
         f"on {GSSF_SYNTHETIC}", ">=", 10.0, gssf_gain(GSSF_SYNTHETIC)),
    Goal("gssf-gain-real", f"GSSF label recall@10 gain over the best of {'/'.join(GSSF_RIVALS)}, points, "
         f"on {GSSF_REAL}", ">=", 0.0, gssf_gain(GSSF_REAL)),
    Goal("removal-recall", "vsearch recall@10 - fresh build's after removing 10/50/90%, points (lowest)", ">=",
         -1.0, churn_recall(REMOVAL_PHASE)),
    Goal("removal-qps", "vsearch QPS / fresh build's after removing 10/50/90% (lowest)", ">=", 0.9,
         churn_qps(REMOVAL_PHASE)),
    Goal("removal-time", f"vsearch time to remove {TIMED_REMOVAL:.0%} (consolidation included) / build time",
         "<=", 0.25, removal_time),
    Goal("churn-recall", "vsearch recall@10 - fresh build's after churn rounds, points (lowest)", ">=", -1.0,
         churn_recall(ROUNDS_PHASE)),
    Goal("churn-qps", "vsearch QPS / fresh build's after churn rounds (lowest)", ">=", 0.9, churn_qps(ROUNDS_PHASE)),
    Goal("churn-memory", "vsearch index memory after the last churn round / after round 1", "<=", 1.1,
         churn_memory),
    Goal("filter-recall", "vsearch plan=auto recall@10 under a filter, best over the ef sweep, every share and kind "
         "(lowest)", ">=", 0.95, filter_recall(at_main_ef=False)),
    Goal("filter-recall-main-ef", f"vsearch plan=auto recall@10 at ef {FILTER_PLAN.main_ef} under a filter, every "
         "share and kind (lowest)", ">=", 0.95, filter_recall(at_main_ef=True)),
    Goal("filter-vs-faiss", "vsearch plan=auto QPS / FAISS QPS at equal recall (interpolated), per filter (lowest)",
         ">=", 1.0, filter_ratio("vs_faiss", "interpolated_ratio")),
    Goal("filter-vs-hnswlib", f"vsearch plan=auto QPS / hnswlib (Python filter) QPS at ef {FILTER_PLAN.main_ef}, per "
         "filter (lowest)", ">=", 10.0, filter_ratio("vs_hnswlib")),
    Goal("filter-failing-ids", "ids failing the filter returned by vsearch (every plan, ef, range search)", "<=", 0.0,
         filter_failing_ids),
    Goal("range-recall", "vsearch range search recall (true hits found / true hits) at the default ef, every radius "
         "(lowest)", ">=", 0.95, range_search_recall(widest=False)),
    Goal("range-recall-wide", f"vsearch range search recall at ef {max(FILTER_PLAN.range_efs)}, every radius "
         "(lowest)", ">=", 0.95, range_search_recall(widest=True)),
)}


def check(goal_names: tuple[str, ...], datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (goal, dataset that measures it): the figure and whether it is met."""
    rows = []
    for name in goal_names:
        goal = GOALS[name]
        for ds in datasets:
            value = goal.figure(ds)
            if value is not None and math.isfinite(value):
                rows.append({"goal": name, "what": goal.what, "dataset": ds["name"], "value": value,
                             "target": f"{goal.op} {goal.threshold:g}", "met": goal.met(value)})
    return rows

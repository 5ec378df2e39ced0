"""Reports: the overview printed at the end of a run, ``report.md``, ``results.json``,
the plots (bench.plots) and the README blocks of reference runs (bench.reference).

Everything here reads the JSON-ready result dicts (bench.model.to_json output),
so a report can be redrawn from a saved ``results.json``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from .plots import plot_dataset
from .suites import CHURN, FILTER, METRIC_SPEED, PERSISTENCE, REMOVAL_PHASE, ROUNDS_PHASE, SUITES, SWEEP
from .tables import (OPERATING_RECALL, churn_memory_table, churn_steps_table, engines_table, filter_legend,
                     filter_sweep_table, filter_table, fmt, funnel_overview, funnel_table, goals_table, meta_line,
                     metric_speed_table, persistence_table, range_table, removal_time_table, summary_table,
                     sweep_table, unfiltered_line)

# The README shows the recall plot of the first of these datasets that a run has.
README_PLOT_ORDER = ("siftsmall", "synthetic-clustered")


def overview(results: dict[str, Any]) -> str:
    """The tables printed at the end of a run (and at the top of report.md)."""
    k = results["meta"]["k"]
    by_kind = {kind: [d for d in results["datasets"] if d.get("kind", SWEEP) == kind]
               for kind in (SWEEP, METRIC_SPEED, PERSISTENCE, CHURN, FILTER)}
    ds = by_kind[SWEEP]
    parts = []
    if ds:
        parts += [f"## Summary: vsearch QPS at recall@{k} = 0.90 / 0.95 / 0.99, and its ratio to hnswlib and FAISS "
                  "(same run)\n", summary_table(ds),
                  f"\n## Engines at their first ef reaching recall@{k} >= {OPERATING_RECALL}\n", engines_table(ds, k)]
    with_meta = [d for d in ds if d.get("meta_features")]
    if with_meta:
        parts += ["\n## Metric choice: meta-features, Iceberg's rule, and the metric that scored best\n",
                  funnel_overview(with_meta)]
    for d in ds:
        if d.get("funnel"):
            parts += [f"\n## Information loss funnel: {d['name']} (exact search per metric; vsearch at "
                      f"ef={d['funnel']['ef']})\n", funnel_table(d, k)]
    for d in by_kind[METRIC_SPEED]:
        parts += [f"\n## Speed per metric: {d['name']} ({d['n']:,} x {d['dim']}, {d['queries']:,} queries, "
                  "metrics interleaved, 1 thread, 1 query per call)\n", metric_speed_table(d)]
    for d in by_kind[PERSISTENCE]:
        parts += [f"\n## Save and load: {d['name']} ({d['n']:,} x {d['dim']}, median of {d['repetitions']})\n",
                  persistence_table(d)]
    for d in by_kind[CHURN]:
        parts += [f"\n## Churn: {d['name']}\n", churn_tables(d, k),
                  f"\n### {d['name']}: memory after every churn round\n", churn_memory_table(d)]
    for d in by_kind[FILTER]:
        parts += [f"\n## Filtered search: {d['name']}\n", filter_tables(d, k),
                  f"\n### {d['name']}: every ef swept\n", filter_sweep_table(d, k)]
    if results.get("goals"):
        parts += ["\n## Goals\n", goals_table(results["goals"])]
    return "\n".join(parts).lstrip("\n")


def churn_tables(ds: dict[str, Any], k: int) -> str:
    """A churn dataset's removal steps, their times and its churn rounds, each step next to
    fresh builds on the same live vectors."""
    return "\n\n".join([
        f"**{ds['name']}** ({ds['n']:,} x {ds['dim']}, {ds['metric']}, {ds['queries']:,} queries; {ds['per_round']:,} "
        f"removed and added per round from a pool of {ds['pool']:,}; recall and 1-thread QPS, the fresh build's "
        "beside them):",
        churn_steps_table(ds, REMOVAL_PHASE, k), removal_time_table(ds, REMOVAL_PHASE),
        churn_steps_table(ds, ROUNDS_PHASE, k)])


def filter_tables(ds: dict[str, Any], k: int) -> str:
    """A filter dataset's filtered searches at the main ef, and its range searches."""
    builds = ", ".join(f"{name} {fmt(run['build_s'], 1)} s" for name, run in ds["builds"].items())
    return "\n\n".join([
        f"**{ds['name']}** ({ds['n']:,} x {ds['dim']}, {ds['metric']}, {ds['queries']:,} queries, 1 thread, 1 query "
        f"per call, ef {ds['main_ef']}; built in {builds}). Without a filter: {unfiltered_line(ds)}.",
        filter_table(ds, k), filter_legend(k, ds["slow_pass_s"]),
        f"**{ds['name']}**: range search, at the default ef and wider:", range_table(ds)])


def markdown(results: dict[str, Any], plots: dict[str, list[str]]) -> str:
    m = results["meta"]
    lines = [
        "# vsearch benchmark report",
        "",
        f"{m['started']} · `{m['command']}` · suite **{m['suite']}** · {m['wall_s']:.0f} s wall",
        "",
        f"Machine: {m['machine']}. Engines: " + ", ".join(f"{k} {v}" for k, v in m["engines"].items()) + ".",
        f"Graph engines all use M={m['M']}, ef_construction={m['ef_construction']}; threads: {m['threads']} "
        f"(build and batch search; one-query calls always use one thread); k={m['k']}; ef sweep {m['ef_sweep']}; "
        f"{m['repetitions']} interleaved repetitions (best kept), at least {m['min_calls']} calls each.",
        f"Recall@{m['k']} is distance-tolerant (ann-benchmarks convention: ties at rank {m['k']} count). Task scores: "
        "kNN accuracy = majority vote (ties: the tied label seen first); label recall@K = same-label hits / "
        "min(K, class size); hit@K = a relevant id in the top K; task loss = exact score − ANN score.",
        "",
        overview(results),
    ]
    if results["notices"]:
        lines += ["", "## Notices", ""] + [f"* {n}" for n in results["notices"]]
    for ds in (d for d in results["datasets"] if d.get("kind", SWEEP) == SWEEP):
        lines += ["", f"## {ds['name']}", "",
                  f"{ds['n']:,} x {ds['dim']}, native metric {ds['metric']}; query sets: " +
                  ", ".join(f"{q['name']} ({q['n']:,}; tasks {', '.join(q['tasks']) or 'none'}; depth {q['depth']}"
                            + ("; seen items dropped" if q["excludes_seen"] else "") + ")" for q in ds["query_sets"]),
                  f"Source: {ds['source']}." + (f" Licence: {ds['licence']}." if ds["licence"] else ""),
                  f"Wall time: {ds['wall_s']:.1f} s."]
        if ds["reference_check"]:
            lines += ["", "Exact task scores against the dataset's own reference (meta.json): " + ", ".join(
                f"{c['query_set']}/{c['task']} {c['exact']:.3f} (ref {c['reference']:.3f})" for c in ds["reference_check"])]
        for sw in ds["sweeps"]:
            lines += ["", f"### {ds['name']}: all points, metric {sw['metric']}", "", sweep_table(ds, sw, m["k"])]
        lines += ["", "Metric choice (the funnel table is above): " + meta_line(ds)]
        for name in plots.get(ds["name"], []):
            lines += ["", f"![{name}]({name})"]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path, plots_enabled: bool = True) -> dict[str, list[str]]:
    """Writes results.json, the plots and report.md into ``out``; returns {dataset: plot files}."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    k = results["meta"]["k"]
    if plots_enabled and importlib.util.find_spec("matplotlib") is None:
        print("notice: matplotlib is not installed, so no plots (pip install matplotlib, or vsearch[bench])")
        plots_enabled = False
    plots = {ds["name"]: plot_dataset(ds, out, k) for ds in results["datasets"]
             if ds.get("kind", SWEEP) == SWEEP} if plots_enabled else {}
    (out / "report.md").write_text(markdown(results, plots))
    return plots


# ----------------------------------------------------------------------------- the README's blocks
def readme_block(results: dict[str, Any], plots: dict[str, list[str]], out: Path, root: Path) -> str:
    """The README block of a reference run: the sections its suite lists (Suite.readme),
    headed by the command, the machine and the date that produced them."""
    m = results["meta"]
    suite = SUITES[m["suite"]]
    folder = out.resolve().relative_to(root.resolve()).as_posix()
    kernels = f", vsearch {m['vsearch_kernels']} kernels" if m.get("vsearch_kernels") else ""
    parts = [f"Produced by `{m['command']}` on {m['machine']}{kernels}, {m['started'][:10]}, in {m['wall_s']:.0f} s "
             f"(full report: [{folder}/report.md]({folder}/report.md)). These machines are shared and noisy: rerun "
             "it before trusting a small difference."]
    sweeps = [d for d in results["datasets"] if d.get("kind", SWEEP) == SWEEP]
    k = m["k"]
    for section in suite.readme:
        if section == "summary" and sweeps:
            parts.append(summary_table(sweeps))
        elif section == "engines" and sweeps:
            parts.append(engines_table(sweeps, k))
        elif section == "funnel":
            parts += [f"**{d['name']}** (exact search per metric; vsearch at ef={d['funnel']['ef']}):\n\n"
                      + funnel_table(d, k) for d in sweeps if d.get("funnel")]
        elif section == METRIC_SPEED:
            parts += [metric_speed_table(d) for d in results["datasets"] if d.get("kind") == METRIC_SPEED]
        elif section == PERSISTENCE:
            parts += [persistence_table(d) for d in results["datasets"] if d.get("kind") == PERSISTENCE]
        elif section == CHURN:
            parts += [churn_tables(d, k) for d in results["datasets"] if d.get("kind") == CHURN]
        elif section == FILTER:
            parts += [filter_tables(d, k) for d in results["datasets"] if d.get("kind") == FILTER]
        elif section == "goals" and results.get("goals"):
            parts.append(goals_table(results["goals"]))
        elif section == "plot":
            shown = next((f for name in README_PLOT_ORDER for f in plots.get(name, []) if f.startswith("recall_qps")),
                         next((f for files in plots.values() for f in files), None))
            if shown:
                parts.append(f"![{shown}]({folder}/{shown})")
    return "\n\n".join(parts)

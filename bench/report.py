"""Reports: the markdown tables (printed and in ``report.md``), ``results.json`` and
the PNG plots (recall@k vs QPS and task score vs QPS per dataset, one line per engine).

Everything here reads the JSON-ready result dicts (bench.runner.to_json output),
so a report can be redrawn from a saved ``results.json``.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any, Sequence

from .measures import same_family
from .model import SUMMARY_RECALLS
from .suites import METRIC_SPEED, PERSISTENCE, SUITES, SWEEP
from .sweep import BASELINES, SUBJECT

# The "operating point" of an engine in the overview: its first ef reaching this recall.
OPERATING_RECALL = 0.95
# Plot geometry (inches, dots per inch): small files, readable text.
PLOT_SIZE = (7.0, 4.6)
PLOT_DPI = 100
SUBPLOT_WIDTH_SHARE = 0.75  # side-by-side task plots are each this fraction of a single plot's width
ENGINE_STYLE = {"vsearch": ("tab:red", "o"), "hnswlib": ("tab:blue", "s"), "faiss": ("tab:green", "^"),
                "usearch": ("tab:purple", "D"), "exact": ("black", "*")}
SUMMARY_LEGEND = (
    "QPS at a recall is interpolated on each engine's measured (recall, log QPS) curve. A cell \"≥ 0.90 at "
    "ef=10 (N)\" means the cheapest ef swept already passed that recall: N was measured there and is a lower "
    "bound on the QPS at the target. A ratio marked ≥ or ≤ is such a bound; – means not reached, or both "
    "engines passed the target at their cheapest ef.")
# The README shows the recall plot of the first of these datasets that a run has.
README_PLOT_ORDER = ("siftsmall", "synthetic-clustered")
# Task-vs-QPS plots label each point with its ef in this font size; CI whiskers are this wide.
EF_LABEL_SIZE = 7
ERROR_CAP = 3
TASK_LABELS = {"knn_acc": "kNN accuracy@{k}", "label_recall": "label recall@{k}", "hit": "hit@{k}",
               "relevant_recall": "recall@{k} of relevant items"}


# ----------------------------------------------------------------------------- formatting
def fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def fmt_qps(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:,.0f}"


def fmt_ratio(cell: dict[str, Any] | None) -> str:
    """A ratio cell of the summary (bench.sweep.ratio_cell): "1.23x", or a bound "≥ 1.23x"."""
    if cell is None or cell["ratio"] is None or not math.isfinite(cell["ratio"]):
        return "–"
    bound = {">=": "≥ ", "<=": "≤ "}.get(cell["bound"] or "", "")
    return f"{bound}{cell['ratio']:.2f}x"


def fmt_target(cell: dict[str, Any] | None, target: str) -> str:
    """A QPS-at-recall cell (bench.sweep.at_target): the interpolated QPS, or, when the
    cheapest ef already passed the target, where it did and the QPS measured there."""
    if cell is None:
        return "–"
    if cell["passed_at_ef"] is not None:
        return f"≥ {target} at ef={cell['passed_at_ef']} ({fmt_qps(cell['qps'])})"
    return fmt_qps(cell["qps"])


def fmt_ci(score: Any, interval: Sequence[Any] | None) -> str:
    """A task score with its bootstrap confidence interval: "0.952 [0.93, 0.97]"."""
    if interval is None or any(v is None for v in interval):
        return fmt(score)
    return f"{fmt(score)} [{interval[0]:.2f}, {interval[1]:.2f}]"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def task_label(name: str) -> str:
    kind, _, k = name.partition("@")
    return TASK_LABELS.get(kind, kind + "@{k}").format(k=k)


def operating_point(points: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The first point (ascending ef) reaching OPERATING_RECALL, else the best-recall one."""
    if not points:
        return None
    for p in points:
        if p["recall"] is not None and p["recall"] >= OPERATING_RECALL:
            return p
    return max(points, key=lambda p: p["recall"] or 0.0)


def interval_of(intervals: dict[str, dict[str, Any]], where: Sequence[str]) -> Sequence[Any] | None:
    """The confidence interval of (query set, task) in a ``task_ci``/``exact_ci`` dict, if any."""
    return intervals.get(where[0], {}).get(where[1])


def headline_of(ds: dict[str, Any]) -> tuple[str, str] | None:
    for q in ds["query_sets"]:
        if q["tasks"]:
            return q["name"], q["tasks"][0]
    return None


# ----------------------------------------------------------------------------- tables
def summary_table(datasets: Sequence[dict[str, Any]]) -> str:
    """One line per (dataset, metric): vsearch QPS at each target recall and its ratios."""
    rows = []
    targets = [f"{t:.2f}" for t in SUMMARY_RECALLS]
    for ds in datasets:
        for sw in ds["sweeps"]:
            s = sw["summary"]
            v = s["qps"].get("vsearch", {})
            row = [ds["name"], sw["metric"], f"{ds['n']:,} x {ds['dim']}"]
            row += [fmt_target(v.get(t), t) for t in targets]
            for base in BASELINES:
                r = s["ratio"].get(base, {})
                row.append(" / ".join(fmt_ratio(r.get(t)) for t in targets))
            rows.append(row)
    short = "/".join(t.lstrip("0") for t in targets)
    header = ["dataset", "metric", "n x dim"] + [f"{SUBJECT} QPS @{t}" for t in targets] + \
             [f"vs {base} @{short}" for base in BASELINES]
    return table(header, rows) + "\n\n" + SUMMARY_LEGEND


def engines_table(datasets: Sequence[dict[str, Any]], k: int = 10) -> str:
    """Per (dataset, metric, engine): build, memory, and the operating point's figures."""
    rows = []
    for ds in datasets:
        head = headline_of(ds)
        for sw in ds["sweeps"]:
            exact = sw["exact_tasks"]
            for run in sw["runs"]:
                p = operating_point(run["points"])
                if p is None:
                    continue
                task = loss = "–"
                if head and head[0] in p["tasks"]:
                    task = fmt_ci(p["tasks"][head[0]][head[1]], interval_of(p["task_ci"], head))
                    loss = fmt(p["task_loss"][head[0]][head[1]])
                peak = run["peak_bytes"]
                rows.append([
                    ds["name"], sw["metric"], run["engine"], fmt(run["build_s"], 2), fmt(run["bytes_per_vector"], 0),
                    "–" if peak is None else f"{peak / 2**20:.1f}", "–" if p["ef"] is None else str(p["ef"]),
                    fmt(p["recall"]), fmt_qps(p["qps"]), fmt_qps(p["batch_qps"]),
                    f"{p['p50_us']:.0f} / {p['p99_us']:.0f}",
                    (f"{task} ({fmt_ci(exact[head[0]][head[1]], interval_of(sw['exact_ci'], head))})"
                     if head and head[0] in exact else task), loss,
                ])
    header = ["dataset", "metric", "engine", "build s", "index B/vec", "peak build MiB", "ef",
              f"recall@{k}", "QPS (1 thread, 1 query/call)", "batch QPS", "p50 / p99 µs",
              "task [95% CI] (exact [95% CI])", "task loss"]
    return table(header, rows)


def sweep_table(ds: dict[str, Any], sw: dict[str, Any], k: int = 10) -> str:
    """Every point of every engine on one (dataset, metric)."""
    rows = []
    for run in sw["runs"]:
        for p in run["points"]:
            tasks = "; ".join(f"{qn}: " + ", ".join(f"{t} {fmt(s)}" for t, s in scores.items())
                              for qn, scores in p["tasks"].items()) or "–"
            extra = ", ".join(f"{qn} recall {fmt(r)}" for qn, r in p["set_recall"].items())
            rows.append([run["engine"], "–" if p["ef"] is None else str(p["ef"]), fmt(p["recall"]), fmt_qps(p["qps"]),
                         fmt_qps(p["batch_qps"]), f"{p['p50_us']:.0f}", f"{p['p99_us']:.0f}",
                         tasks + (f" ({extra})" if extra else "")])
    return table(["engine", "ef", f"recall@{k}", "QPS", "batch QPS", "p50 µs", "p99 µs", "task scores"], rows)


def funnel_table(ds: dict[str, Any], k: int = 10) -> str:
    f = ds["funnel"]
    head = f["headline"]
    rows = []
    for r in f["rows"]:
        ann = r["ann"]
        exact = r["exact"]
        row = [r["metric"] + (" (native)" if r["metric"] == ds["metric"] else "")]
        row.append(fmt_ci(exact[head[0]][head[1]], interval_of(r["exact_ci"], head)) if head else "–")
        others = [f"{t} {fmt(s)}" for qn, scores in exact.items() for t, s in scores.items()
                  if (qn, t) != tuple(head or ())]
        row.append(", ".join(others) or "–")
        row.append(fmt(r["overlap_with_native"]))
        if ann is None:
            row += ["n/a", "n/a", "n/a"]
        else:
            score = ann["tasks"].get(head[0], {}).get(head[1]) if head else None
            row += [fmt(ann["recall"]), fmt_ci(score, interval_of(ann["task_ci"], head) if head else None), fmt(r["loss"].get(head[0], {}).get(head[1]) if head else None)]
        rows.append(row)
    name = task_label(head[1]) if head else "task"
    header = ["metric", f"exact {name} [95% CI]", "other exact task scores", f"top-{k} overlap with native",
              f"vsearch recall@{k} (ef={f['ef']})", f"vsearch {name} [95% CI]", "task loss"]
    return table(header, rows)


def rule_caveat(ds: dict[str, Any]) -> str:
    """When Iceberg's rule and the measured winner disagree: both scores and which to trust."""
    f = ds["funnel"]
    if not f or f["agrees"] is not False or not f["headline"]:
        return ""
    rows = {r["metric"]: r for r in f["rows"]}
    head = f["headline"]

    def scored(metric: str) -> str:
        row = rows.get(metric)
        return "not measured" if row is None else fmt_ci(row["exact"][head[0]][head[1]], interval_of(row["exact_ci"], head))

    def score(metric: str) -> float:
        return rows[metric]["exact"][head[0]][head[1]]

    winner = f["best"][0]
    family = [m for m in rows if same_family(m, f["suggested"])]
    if not family:
        return ""
    suggested = max(family, key=score)
    overlap = ""
    lo_winner = (interval_of(rows[winner]["exact_ci"], head) or [None])[0]
    hi_suggested = (interval_of(rows[suggested]["exact_ci"], head) or [None, None])[1]
    if lo_winner is not None and hi_suggested is not None and hi_suggested >= lo_winner:
        overlap = " The two intervals overlap, so the gap may be noise of this query sample."
    return (f"Caveat ({ds['name']}): Iceberg's rule suggests {f['suggested']}; the best of its family, {suggested}, "
            f"scores {task_label(head[1])} {scored(suggested)} under exact search, but {winner} scored best "
            f"({scored(winner)}). The rule is a heuristic on meta-features; the measured task score is what to go "
            f"by.{overlap}")


def meta_line(ds: dict[str, Any]) -> str:
    m = ds["meta_features"]
    f = ds["funnel"]
    best = ", ".join(f["best"]) if f and f["best"] else "–"
    agrees = "" if not f or f["agrees"] is None else (" (agrees)" if f["agrees"] else " (disagrees)")
    caveat = rule_caveat(ds)
    return (f"norm CV {fmt(m['norm_cv'])}, relative contrast {fmt(m['relative_contrast'], 2)}, "
            f"DBI Euclidean {fmt(m['dbi_euclidean'], 2)} vs cosine {fmt(m['dbi_cosine'], 2)} "
            f"(clusters: {m['clusters']}) -> Iceberg's rule suggests **{m['suggested']}**; "
            f"best exact task score: **{best}**{agrees}" + (f". {caveat}" if caveat else ""))


def funnel_overview(datasets: Sequence[dict[str, Any]]) -> str:
    rows = []
    for ds in datasets:
        m, f = ds["meta_features"], ds["funnel"]
        best = ", ".join(f["best"]) if f and f["best"] else "–"
        rows.append([ds["name"], ds["metric"], fmt(m["norm_cv"]), fmt(m["relative_contrast"], 2),
                     fmt(m["dbi_euclidean"], 2), fmt(m["dbi_cosine"], 2), m["suggested"], best,
                     "–" if not f or f["agrees"] is None else ("yes" if f["agrees"] else "no")])
    caveats = [c for c in (rule_caveat(ds) for ds in datasets) if c]
    return table(["dataset", "native metric", "norm CV", "rel. contrast", "DBI eucl.", "DBI cos.",
                  "suggested (Iceberg rule)", "best exact task metric", "same family"], rows) + \
        "".join(f"\n\n{c}" for c in caveats)


# ----------------------------------------------------------------------------- plots
def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def curve(ax: Any, engine: str, xs: Sequence[float], ys: Sequence[float], efs: Sequence[int | None],
          intervals: Sequence[Sequence[Any] | None] | None = None) -> None:
    """One engine's line on a plot: its points, each labelled with its ef, and the
    horizontal error bars of their confidence intervals when given."""
    color, marker = ENGINE_STYLE.get(engine, ("gray", "x"))
    ax.plot(xs, ys, marker=marker, color=color, label=engine, linestyle="-" if len(xs) > 1 else "none",
            markersize=9 if marker == "*" else 5)
    if intervals is not None:
        known = [(x, y, ci) for x, y, ci in zip(xs, ys, intervals) if ci is not None and None not in ci]
        if known:
            ax.errorbar([x for x, _, _ in known], [y for _, y, _ in known],
                        xerr=[[x - ci[0] for x, _, ci in known], [ci[1] - x for x, _, ci in known]],
                        fmt="none", ecolor=color, alpha=0.5, capsize=ERROR_CAP)
    for x, y, ef in zip(xs, ys, efs):
        if ef is not None:
            ax.annotate(f"{ef}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=EF_LABEL_SIZE,
                        color=color)


def plot_dataset(ds: dict[str, Any], out: Path, k: int = 10) -> list[str]:
    """recall@k-vs-QPS and task-vs-QPS plots of one dataset; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for sw in ds["sweeps"]:
        title = f"{ds['name']} ({ds['n']:,} x {ds['dim']}, {sw['metric']})"
        fig, ax = plt.subplots(figsize=PLOT_SIZE)
        for run in sw["runs"]:
            pts = [p for p in run["points"] if p["recall"] is not None and p["qps"]]
            if not pts:
                continue
            curve(ax, run["engine"], [p["recall"] for p in pts], [p["qps"] for p in pts], [p["ef"] for p in pts])
        ax.set_yscale("log")
        ax.set_xlabel(f"recall@{k}")
        ax.set_ylabel("queries per second (1 thread, 1 query per call)")
        ax.set_title(f"recall vs speed: {title}; points labelled with ef")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        name = f"recall_qps_{_slug(ds['name'])}_{sw['metric']}.png"
        fig.tight_layout()
        fig.savefig(out / name, dpi=PLOT_DPI)
        plt.close(fig)
        files.append(name)

        task_sets = [q for q in ds["query_sets"] if q["tasks"]]
        if not task_sets:
            continue
        width = PLOT_SIZE[0] * (1 if len(task_sets) == 1 else SUBPLOT_WIDTH_SHARE) * len(task_sets)
        fig, axes = plt.subplots(1, len(task_sets), figsize=(width, PLOT_SIZE[1]), squeeze=False)
        for ax, q in zip(axes[0], task_sets):
            task = q["tasks"][0]
            for run in sw["runs"]:
                pts = [p for p in run["points"] if q["name"] in p["tasks"] and p["tasks"][q["name"]].get(task) is not None]
                if not pts:
                    continue
                curve(ax, run["engine"], [p["tasks"][q["name"]][task] for p in pts],
                      [p["task_qps"][q["name"]] for p in pts], [p["task_ef"].get(q["name"]) or None for p in pts],
                      [interval_of(p["task_ci"], (q["name"], task)) for p in pts])
            exact = sw["exact_tasks"].get(q["name"], {}).get(task)
            if exact is not None:
                ax.axvline(exact, color="black", linestyle="--", linewidth=1, label=f"exact search ({exact:.3f})")
            ax.set_yscale("log")
            ax.set_xlabel(f"{task_label(task)} ({q['name']})")
            ax.set_ylabel("queries per second (1 thread, 1 query per call)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize="small")
        fig.suptitle(f"task score vs speed: {title}; ef labels, 95% CI bars")
        name = f"task_qps_{_slug(ds['name'])}_{sw['metric']}.png"
        fig.tight_layout()
        fig.savefig(out / name, dpi=PLOT_DPI)
        plt.close(fig)
        files.append(name)
    return files


# ----------------------------------------------------------------------------- the report
def metric_speed_table(ds: dict[str, Any]) -> str:
    """One line per (engine, metric): build time and, per ef, recall and QPS relative to the
    reference metric."""
    efs = [p["ef"] for p in ds["rows"][0]["points"]] if ds["rows"] else []
    rows = []
    for r in ds["rows"]:
        cells = [r["engine"], r["metric"], fmt(r["build_s"], 1)]
        for p in r["points"]:
            cells.append(f"{fmt(p['recall'])} · {fmt_qps(p['qps'])} ({fmt(p['qps_vs_reference'], 2)})")
        rows.append(cells)
    header = ["engine", "metric", "build s"] + [f"ef {ef}: recall@10 · QPS (vs {ds['reference_metric']})" for ef in efs]
    return table(header, rows)


def persistence_table(ds: dict[str, Any]) -> str:
    """One line per (engine, plain or mmap load): file size, save, load, memory, first query."""
    rows = [[r["engine"] + (" (mmap)" if r["mmap"] else ""), f"{r['file_bytes'] / 2**20:.1f}", fmt(r["save_s"]),
             fmt(r["seconds"], 4), "–" if r["resident_bytes"] is None else f"{r['resident_bytes'] / 2**20:.1f}",
             "–" if r["first_query_seconds"] is None else f"{r['first_query_seconds'] * 1e3:.2f}"]
            for r in ds["rows"]]
    return table(["engine (load)", "file MiB", "save s (median)", "load s (median, fresh process)",
                  "resident growth MiB", "first query ms"], rows)


def goals_table(goals: Sequence[dict[str, Any]]) -> str:
    rows = [[g["what"], g["dataset"], fmt(g["value"], 3), g["target"], "met" if g["met"] else "**missed**"]
            for g in goals]
    return table(["goal", "dataset", "measured", "target", ""], rows)


def overview(results: dict[str, Any]) -> str:
    """The tables printed at the end of a run (and at the top of report.md)."""
    k = results["meta"]["k"]
    by_kind = {kind: [d for d in results["datasets"] if d.get("kind", SWEEP) == kind]
               for kind in (SWEEP, METRIC_SPEED, PERSISTENCE)}
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
    if results.get("goals"):
        parts += ["\n## Goals\n", goals_table(results["goals"])]
    return "\n".join(parts).lstrip("\n")


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
        elif section == "goals" and results.get("goals"):
            parts.append(goals_table(results["goals"]))
        elif section == "plot":
            shown = next((f for name in README_PLOT_ORDER for f in plots.get(name, []) if f.startswith("recall_qps")),
                         next((f for files in plots.values() for f in files), None))
            if shown:
                parts.append(f"![{shown}]({folder}/{shown})")
    return "\n\n".join(parts)

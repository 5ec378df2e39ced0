"""The markdown tables of a report, and the formatting of their cells.

Everything here reads the JSON-ready result dicts (bench.model.to_json output), so
tables can be redrawn from a saved ``results.json``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .measures import same_family
from .model import SUMMARY_RECALLS
from .sweep import BASELINES, SUBJECT

# The "operating point" of an engine in the overview: its first ef reaching this recall.
OPERATING_RECALL = 0.95
SUMMARY_LEGEND = (
    "QPS at a recall is interpolated on each engine's measured (recall, log QPS) curve. A cell \"≥ 0.90 at "
    "ef=10 (N)\" means the cheapest ef swept already passed that recall: N was measured there and is a lower "
    "bound on the QPS at the target. A ratio marked ≥ or ≤ is such a bound; – means not reached, or both "
    "engines passed the target at their cheapest ef.")
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
    """A task score with its bootstrap confidence interval: "0.952 [0.931, 0.970]"."""
    if interval is None or any(v is None for v in interval):
        return fmt(score)
    return f"{fmt(score)} [{fmt(interval[0])}, {fmt(interval[1])}]"


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


def fmt_mib(x: Any) -> str:
    return "–" if x is None else f"{x / 2**20:.1f}"


def fmt_times(a: float | None, b: float | None) -> str:
    """a / b as "0.97x"; – when either is unknown or b is zero."""
    return "–" if a is None or not b else f"{a / b:.2f}x"


def churn_steps_table(ds: dict[str, Any], phase: str, k: int = 10) -> str:
    """One line per (step of a churn phase, engine): per ef, the churned index's recall and QPS
    with its fresh build's beside them, and the churned index's memory."""
    steps = [s for s in ds["steps"] if s["phase"] == phase]
    efs = [p["ef"] for p in steps[0]["rows"][0]["points"]] if steps and steps[0]["rows"] else []
    rows = []
    for step in steps:
        fresh = {r["engine"]: r for r in step["rows"] if r["fresh"]}
        for r in (r for r in step["rows"] if not r["fresh"]):
            twin = fresh.get(r["engine"])
            cells = [step["step"], f"{step['live']:,}", r["engine"]]
            for i, p in enumerate(r["points"]):
                q = twin["points"][i] if twin else None
                cells.append(f"{fmt(p['recall'])} ({fmt(q['recall'] if q else None)})")
                cells.append(f"{fmt_qps(p['qps'])} ({fmt_times(p['qps'], q['qps'] if q else None)})")
            cells += [str(sum(p["returned_removed"] for p in r["points"])), fmt_mib(r["index_bytes"]),
                      fmt_mib(twin["index_bytes"] if twin else None)]
            rows.append(cells)
    header = ["step", "live", "engine"]
    for ef in efs:
        header += [f"ef {ef}: recall@{k} (fresh)", f"ef {ef}: QPS (/ fresh)"]
    header += ["removed ids returned", "index MiB", "fresh MiB"]
    return table(header, rows)


def removal_time_table(ds: dict[str, Any], phase: str) -> str:
    """Per engine: its build time and, per removal step, the time to remove and consolidate."""
    steps = [s for s in ds["steps"] if s["phase"] == phase]
    rows = []
    for name, build in ds["builds"].items():
        cells = [name, fmt(build["build_s"], 2)]
        for step in steps:
            r = next(r for r in step["rows"] if r["engine"] == name and not r["fresh"])
            total = r["remove_s"] + r["consolidate_s"]
            cells.append(f"{fmt(r['remove_s'], 2)} + {fmt(r['consolidate_s'], 2)} = "
                         f"{fmt(total / build['build_s'] if build['build_s'] else None)}")
        rows.append(cells)
    return table(["engine", "build s"] + [f"{s['step']}: remove s + consolidate s = / build" for s in steps], rows)


def churn_memory_table(ds: dict[str, Any]) -> str:
    """One line after the build, then one per churn round: each engine's index memory and slot
    counts, the time of the round's removal and addition, and the whole process's resident memory."""
    names = list(ds["builds"])
    rows = [["build"] + [cell for name in names for cell in (fmt_mib(ds["builds"][name]["index_bytes"]), "–", "–")]
            + ["–"]]
    for m in ds["memory"]:
        cells = [str(m["round"])]
        for name in names:
            f = m["engines"].get(name, {})
            slots = "/".join(str(f[key]) for key in ("slots", "removed", "free_slots") if key in f)
            cells += [fmt_mib(f.get("index_bytes")), slots or "–", f"{fmt(f.get('remove_s'), 2)} / {fmt(f.get('add_s'), 2)}"]
        cells.append(fmt_mib(m["rss_bytes"]))
        rows.append(cells)
    header = ["round"]
    for name in names:
        header += [f"{name} index MiB", f"{name} slots/removed/free", f"{name} remove s / add s"]
    return table(header + ["process RSS MiB (every engine)"], rows)


def filter_legend(k: int, slow_pass_s: float) -> str:
    """What the filter tables' cells mean."""
    return (f"Recall@{k} is judged against brute force over the passing ids only, over min({k}, passing) true ones; "
            "an id failing the filter counts as a miss (and in the last column). A QPS marked * is a single pass "
            f"over the queries (a pass over {slow_pass_s:g} s is not repeated); the others are the best of "
            "interleaved repetitions. \"At equal recall\": the target is the lower of the two series' best recalls "
            "over the ef sweep, and each series is taken at its cheapest ef reaching it (the goal's figure); "
            "\"interpolated\": their QPS interpolated at the target on each (recall, log QPS) curve.")


def fmt_share(share: float) -> str:
    """A share of ids as a percentage without trailing zeros: "50%", "0.01%"."""
    return f"{share * 100:g}%"


def unfiltered_line(ds: dict[str, Any]) -> str:
    """Each engine's recall and QPS without a filter, as "vsearch 0.950 · 5,000"."""
    return ", ".join(f"{name} {fmt_point(p)}" for name, p in ds["unfiltered"].items())


def fmt_point(p: dict[str, Any] | None) -> str:
    """A filtered-search point: "recall · QPS", with "*" when that QPS is a single pass."""
    if p is None:
        return "–"
    return f"{fmt(p['recall'])} · {fmt_qps(p['qps'])}{'' if p['timed_again'] else '*'}"


def by_share(filters: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The filters from the widest share to the narrowest, the kinds of one share together."""
    return sorted(filters, key=lambda f: -f["share"])


def filter_table(ds: dict[str, Any], k: int = 10) -> str:
    """One line per (share, kind) of a filter dataset: every series' recall and QPS at the main
    ef, the subject's QPS ratios to FAISS (at equal or better recall) and to hnswlib, and the
    failing ids each engine returned."""
    ef = ds["main_ef"]
    labels = [r["label"] for r in ds["filters"][0]["rows"]] if ds["filters"] else []
    engines = list(dict.fromkeys(r["engine"] for f in ds["filters"] for r in f["rows"]))
    rows = []
    for f in by_share(ds["filters"]):
        found = {r["label"]: r for r in f["rows"]}
        cells = [fmt_share(f["share"]), f["kind"], f"{f['passing']:,}"]
        cells += [fmt_point(next((p for p in found[label]["points"] if p["ef"] == ef), None)) if label in found
                  else "–" for label in labels]
        vs = f["vs_faiss"]
        cells.append("–" if vs is None else
                     f"{fmt_times(vs['qps'], vs['rival_qps'])} (r ≥ {fmt(vs['target'])}: ef {vs['ef']} vs ef "
                     f"{vs['rival_ef']}{'' if vs['at_rival_best'] else ', FAISS best not reached'}; interpolated "
                     f"{fmt(vs['interpolated_ratio'], 2)}x)")
        hnswlib = f["vs_hnswlib"]
        cells.append("–" if hnswlib is None else fmt_times(hnswlib["qps"], hnswlib["rival_qps"]))
        failing = {name: sum(p["failing"] for r in f["rows"] if r["engine"] == name for p in r["points"])
                   for name in engines}
        cells.append(", ".join(f"{name} {count}" for name, count in failing.items()))
        rows.append(cells)
    header = ["passing", "kind", "ids"] + [f"{label}: recall@{k} · QPS" for label in labels] + [
        f"{ds['subject']} / faiss at equal recall", f"{ds['subject']} / hnswlib at ef {ef}", "failing ids returned"]
    return table(header, rows)


def filter_sweep_table(ds: dict[str, Any], k: int = 10) -> str:
    """One line per (share, kind, series that ran more than the main ef): recall and QPS per ef."""
    swept = [r for r in (ds["filters"][0]["rows"] if ds["filters"] else []) if len(r["points"]) > 1]
    efs = [p["ef"] for p in swept[0]["points"]] if swept else []
    labels = [r["label"] for r in swept]
    rows = []
    for f in by_share(ds["filters"]):
        for r in (r for r in f["rows"] if r["label"] in labels):
            points = {p["ef"]: p for p in r["points"]}
            rows.append([fmt_share(f["share"]), f["kind"], r["label"]] + [fmt_point(points.get(ef)) for ef in efs])
    return table(["passing", "kind", "series"] + [f"ef {ef}: recall@{k} · QPS" for ef in efs], rows)


def range_table(ds: dict[str, Any]) -> str:
    """One line per (radius, engine) of a filter dataset's range searches."""
    rows = []
    for c in ds["range"]:
        for r in c["rows"]:
            rows.append([f"{c['radius']:.4g} (~{c['hits']:,})", "–" if c["share"] is None else fmt_share(c["share"]),
                         str(c["ef"]),
                         fmt(c["mean_true"], 1), r["engine"], fmt(r["recall"]), f"{r['found']:,} / {r['true']:,}",
                         f"{r['false_hits']:,}", f"{r['failing']:,}", fmt(r["returned"] / ds["queries"], 1),
                         f"{fmt_qps(r['qps'])}{'' if r['timed_again'] else '*'}", f"{r['p50_us']:.0f}"])
    return table(["radius (for ~hits)", "random filter", "ef", "true hits / query", "engine", "recall", "found / true",
                  "false hits", "failing ids", "returned / query", "QPS (1 thread)", "p50 µs"], rows)

"""The PNG plots of a sweep: recall@k vs QPS and task score vs QPS per (dataset,
metric), one line per engine, each point labelled with its ef, task scores with
their 95% confidence intervals as horizontal error bars.

Like bench.report, everything here reads the JSON-ready result dicts, so plots can
be redrawn from a saved ``results.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .tables import interval_of, task_label

# Plot geometry (inches, dots per inch): small files, readable text.
PLOT_SIZE = (7.0, 4.6)
PLOT_DPI = 100
SUBPLOT_WIDTH_SHARE = 0.75  # side-by-side task plots are each this fraction of a single plot's width
ENGINE_STYLE = {"vsearch": ("tab:red", "o"), "hnswlib": ("tab:blue", "s"), "faiss": ("tab:green", "^"),
                "usearch": ("tab:purple", "D"), "exact": ("black", "*")}
# Task-vs-QPS plots label each point with its ef in this font size; CI whiskers are this wide.
EF_LABEL_SIZE = 7
ERROR_CAP = 3


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



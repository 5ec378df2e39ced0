"""What the reports claim: QPS-at-recall cells that say when the target was passed at
the cheapest ef, ratio bounds, bootstrap confidence intervals, ef labels and error
bars on the plots, and the caveat when Iceberg's rule and the measured winner disagree."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1]))  # `bench` lives at the repo root

from bench import measures, plots, tables, tasks  # noqa: E402
from bench.model import EngineRun, Point  # noqa: E402
from bench.sweep import at_target, ratio_cell, summarise  # noqa: E402
from bench.tasks import Task  # noqa: E402


def points(*pairs: tuple[int, float, float]) -> list[Point]:
    return [Point(ef, recall, qps, qps, 1.0, 2.0) for ef, recall, qps in pairs]


def test_a_target_passed_at_the_cheapest_ef_is_a_bound_not_a_measurement():
    curve = points((10, 0.992, 9000.0), (20, 0.998, 5000.0))
    cell = at_target(curve, 0.99)
    assert cell == {"qps": 9000.0, "passed_at_ef": 10, "recall_there": 0.992}
    assert tables.fmt_target(cell, "0.99") == "≥ 0.99 at ef=10 (9,000)"
    interpolated = at_target(points((10, 0.90, 8000.0), (20, 1.0, 2000.0)), 0.95)
    assert interpolated["passed_at_ef"] is None and interpolated["qps"] == pytest.approx(4000.0)
    assert tables.fmt_target(interpolated, "0.95") == "4,000"
    assert math.isnan(at_target(points((10, 0.5, 100.0)), 0.9)["qps"])     # never reached


def test_ratios_of_bounds_say_so():
    exact = {"qps": 100.0, "passed_at_ef": None}
    bound = {"qps": 300.0, "passed_at_ef": 10}
    assert ratio_cell(exact, exact) == {"ratio": 1.0, "bound": None}
    assert ratio_cell(bound, exact) == {"ratio": 3.0, "bound": ">="}
    assert ratio_cell(exact, bound) == {"ratio": pytest.approx(1 / 3), "bound": "<="}
    assert math.isnan(ratio_cell(bound, bound)["ratio"])
    assert [tables.fmt_ratio(ratio_cell(*c)) for c in ((bound, exact), (exact, bound), (bound, bound))] == \
        ["≥ 3.00x", "≤ 0.33x", "–"]


def test_summary_table_marks_cells_passed_at_the_cheapest_ef():
    runs = [EngineRun("vsearch", "l2", points=points((10, 0.995, 9000.0), (20, 0.999, 6000.0))),
            EngineRun("hnswlib", "l2", points=points((10, 0.93, 7000.0), (20, 0.999, 3000.0)))]
    summary = summarise(runs)
    ds = {"name": "d", "n": 10, "dim": 2, "sweeps": [{"metric": "l2", "summary": summary}]}
    row = tables.summary_table([ds]).splitlines()[2]
    assert "≥ 0.90 at ef=10 (9,000)" in row and "≥ 0.99 at ef=10 (9,000)" in row
    assert "– / ≥ " in row                                  # hnswlib also passed 0.90 at ef 10: no ratio there
    assert "lower bound" in tables.SUMMARY_LEGEND


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_queries():
    rng = np.random.default_rng(0)
    small, large = rng.random(50) < 0.7, rng.random(5000) < 0.7
    lo, hi = measures.bootstrap_ci(small.astype(float))
    assert lo < small.mean() < hi
    lo2, hi2 = measures.bootstrap_ci(large.astype(float))
    assert hi2 - lo2 < (hi - lo) / 5
    assert measures.bootstrap_ci(np.ones(30)) == (1.0, 1.0)
    assert measures.bootstrap_ci(np.array([1.0, math.nan, 0.0]), seed=1) == measures.bootstrap_ci(
        np.array([1.0, 0.0]), seed=1)                       # undefined queries are left out
    assert all(math.isnan(v) for v in measures.bootstrap_ci(np.array([math.nan])))


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    covered = 0
    trials = 200
    for trial in range(trials):
        lo, hi = measures.bootstrap_ci((rng.random(200) < 0.3).astype(float), resamples=400, seed=trial)
        covered += lo <= 0.3 <= hi
    assert 0.88 <= covered / trials <= 0.99


def test_per_query_scores_average_to_the_task_scores():
    rng = np.random.default_rng(2)
    base_labels = rng.integers(0, 4, 60)
    query_labels = rng.integers(0, 5, 12)                 # label 4 has no base vector: undefined for label recall
    found = rng.integers(-1, 60, (12, 10))
    chosen = (Task("knn_acc", 5), Task("label_recall", 10))
    per = tasks.per_query(chosen, found, base_labels=base_labels, query_labels=query_labels)
    means = tasks.score(chosen, found, base_labels=base_labels, query_labels=query_labels)
    assert np.isnan(per["label_recall@10"][query_labels == 4]).all()
    assert means["knn_acc@5"] == pytest.approx(per["knn_acc@5"].mean())
    assert means["label_recall@10"] == pytest.approx(np.nanmean(per["label_recall@10"]))
    assert means["label_recall@10"] == measures.label_recall_at_k(found, base_labels, query_labels, 10)


def test_plot_points_carry_their_ef_and_interval():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plots.curve(ax, "vsearch", [0.8, 0.9], [900.0, 400.0], [10, 40], [(0.75, 0.85), (0.86, 0.94)])
    assert [t.get_text() for t in ax.texts] == ["10", "40"]
    bars = [c for c in ax.collections if c.get_segments()]
    assert bars and np.allclose(sorted(s[:, 0].min() for s in bars[0].get_segments()), [0.75, 0.86])
    plt.close(fig)


def _funnel_ds(suggested: str, scores: dict[str, tuple[float, float, float]]) -> dict:
    head = ["queries", "knn_acc@10"]
    rows = [{"metric": m, "exact": {"queries": {"knn_acc@10": s}}, "exact_ci": {"queries": {"knn_acc@10": [lo, hi]}}}
            for m, (s, lo, hi) in scores.items()]
    best = max(scores, key=lambda m: scores[m][0])
    agrees = measures.same_family(suggested, best)
    return {"name": "d", "funnel": {"headline": head, "rows": rows, "best": [best], "suggested": suggested,
                                    "agrees": agrees}}


def test_a_rule_that_disagrees_with_the_winner_gets_a_caveat():
    ds = _funnel_ds("ip", {"l2": (0.9, 0.85, 0.95), "ip": (0.6, 0.55, 0.65), "cosine": (0.7, 0.65, 0.75)})
    caveat = tables.rule_caveat(ds)
    assert "suggests ip" in caveat and "cosine" in caveat and "but l2 scored best" in caveat
    assert "0.700 [0.650, 0.750]" in caveat and "0.900 [0.850, 0.950]" in caveat and "heuristic" in caveat
    assert "overlap" not in caveat
    close = _funnel_ds("ip", {"l2": (0.9, 0.80, 0.95), "cosine": (0.88, 0.83, 0.93)})
    assert "overlap" in tables.rule_caveat(close)
    assert tables.rule_caveat(_funnel_ds("l2", {"l2": (0.9, 0.8, 0.95), "ip": (0.5, 0.4, 0.6)})) == ""

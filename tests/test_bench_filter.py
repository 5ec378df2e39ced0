"""The filter suite (bench.filtered) end to end on tiny data: its filters' shares and kinds, the
recall of filtered and range search on hand-made cases, the equal-recall comparison, the goals
read from the measured figures, the tables; and that an engine returning ids that fail the
filter is caught."""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # `bench` lives at the repo root

from bench import __main__ as cli  # noqa: E402
from bench import datasets, goals, measures  # noqa: E402
from bench.distances import spec  # noqa: E402
from bench.engines import ENGINES, ExactEngine  # noqa: E402
from bench.filtered import at_equal_recall, make_filters, passing_count, run_filtered  # noqa: E402
from bench.model import RunConfig  # noqa: E402
from test_bench_suites import QUICK, needs  # noqa: E402
from bench.suites import CLUSTER_FILTER, RANDOM_FILTER, SUITES  # noqa: E402
from bench.sweep import Runner  # noqa: E402

INF = math.inf
# A dataset small enough for a test: 2,000 x 16 clustered vectors, 40 of their queries.
TINY = {"synthetic-clustered": (2000, 16, 60)}
TINY_QUERIES = 40


def tiny_suite():
    suite = SUITES["filter"]
    return dataclasses.replace(suite, sizes=TINY, filter=dataclasses.replace(suite.filter, queries=TINY_QUERIES))


def tiny_dataset() -> datasets.Dataset:
    return datasets.load_synthetic("synthetic-clustered", TINY)


# ----------------------------------------------------------------------------- filters
def test_filters_pass_their_share_of_the_ids_in_both_kinds():
    ds, plan = tiny_dataset(), SUITES["filter"].filter
    filters = make_filters(ds, spec("l2"), plan, seed=0)
    assert [(f.kind, f.share) for f in filters] == [(kind, share) for kind in (RANDOM_FILTER, CLUSTER_FILTER)
                                                    for share in plan.shares]
    for f in filters:
        count = max(1, round(f.share * 2000))
        assert len(f.allowed) == count == passing_count(f.share, 2000) == f.mask.sum()
        assert f.allowed.dtype == np.int64 and (np.diff(f.allowed) > 0).all()
        assert f.mask[f.allowed].all()
    assert [len(f.allowed) for f in filters[:5]] == [1000, 200, 20, 2, 1]   # 0.1% and 0.01% of 2,000: at least 1
    again = make_filters(ds, spec("l2"), plan, seed=0)
    assert all(np.array_equal(a.allowed, b.allowed) for a, b in zip(filters, again))    # seeded
    other = make_filters(ds, spec("l2"), plan, seed=1)
    assert not np.array_equal(filters[0].allowed, other[0].allowed)


def test_a_cluster_filter_passes_the_largest_class_nearest_its_centre_first():
    ds = tiny_dataset()
    filters = make_filters(ds, spec("l2"), SUITES["filter"].filter, seed=0)
    largest = np.bincount(ds.base_labels).argmax()
    inside = ds.base_labels == largest
    assert 0.01 < inside.mean() < 0.1                               # 20 clusters: about 5% each
    d = ((ds.base - ds.base[inside].astype(np.float64).mean(0)) ** 2).sum(1)
    for f in (f for f in filters if f.kind == CLUSTER_FILTER):
        if f.share <= inside.mean():                                # within the class: nearest to its centre
            assert inside[f.allowed].all() and d[f.mask].max() <= d[inside & ~f.mask].min(), f.share
        else:                                                       # the whole class, then the nearest others
            assert f.mask[inside].all(), f.share
            assert d[f.mask & ~inside].max() <= d[~f.mask].min(), f.share
    random = next(f for f in filters if f.kind == RANDOM_FILTER and f.share == 0.01)
    assert inside[random.allowed].mean() < 0.5                      # random ids come from every cluster


# ----------------------------------------------------------------------------- measures
def test_capped_recall_counts_the_true_ones_found_over_those_that_pass():
    gt = np.array([[1.0, 2.0, 3.0]])                                # only 3 ids pass: recall@10 over 3
    assert measures.capped_recall_at_k(np.array([[1.0, 2.0, 3.0] + [INF] * 7]), gt, 10) == 1.0
    assert measures.capped_recall_at_k(np.array([[1.0, INF, 3.0] + [INF] * 7]), gt, 10) == pytest.approx(2 / 3)
    assert measures.capped_recall_at_k(np.array([[INF] * 9 + [2.0]]), gt, 10) == pytest.approx(1 / 3)  # any rank
    assert measures.capped_recall_at_k(np.array([[1.0, 2.0, 3.5] + [INF] * 7]), gt, 10) == pytest.approx(2 / 3)
    one = np.array([[5.0], [7.0]])                                  # a single passing id, two queries
    assert measures.capped_recall_at_k(np.array([[5.0, INF], [INF, INF]]), one, 10) == 0.5
    deep = np.array([[0.0, 1.0, 1.0, 2.0]])                         # enough pass: the same as recall_at_k
    for found in ([[0.0, 1.0]], [[0.0, 2.0]], [[1.0, 1.0]]):
        assert measures.capped_recall_at_k(np.array(found), deep, 2) == measures.recall_at_k(np.array(found), deep, 2)


def test_range_recall_pools_true_hits_and_counts_false_ones():
    # query 0: 4 true hits within 1.0, 3 found plus one beyond the radius; query 1: 1 true hit, missed
    found = [np.array([0.1, 0.5, 1.0, 1.5]), np.array([INF])]       # inf: an id that failed the filter
    figures = measures.range_recall(found, [4, 1], 1.0)
    assert figures == {"recall": 3 / 5, "found": 3, "true": 5, "false_hits": 2, "returned": 5}
    assert measures.range_recall([np.array([1.0 + 1e-7])], [1], 1.0)["recall"] == 1.0   # within the tolerance
    assert math.isnan(measures.range_recall([np.array([])], [0], 1.0)["recall"])


def test_equal_recall_compares_at_the_best_recall_both_reach():
    def points(*pairs):
        return [{"ef": ef, "recall": r, "qps": q} for ef, r, q in pairs]

    faiss = points((32, 0.80, 4000.0), (64, 0.90, 2000.0), (128, 0.95, 1000.0))
    ours = at_equal_recall(points((32, 0.93, 6000.0), (64, 0.97, 3000.0), (128, 0.99, 1500.0)), faiss)
    interpolated = math.exp(math.log(6000.0) + 0.5 * math.log(3000.0 / 6000.0)) / 1000.0  # 0.95: half-way 32 -> 64
    assert ours == {"target": 0.95, "at_rival_best": True, "ef": 64, "qps": 3000.0, "rival_ef": 128,
                    "rival_qps": 1000.0, "ratio": 3.0, "interpolated_ratio": pytest.approx(interpolated)}
    short = at_equal_recall(points((32, 0.70, 9000.0), (64, 0.85, 5000.0)), faiss)   # never reaches 0.95
    assert (short["target"], short["at_rival_best"], short["ef"], short["rival_ef"], short["ratio"]) == \
        (0.85, False, 64, 64, 2.5)
    assert at_equal_recall([], faiss) is None


# ----------------------------------------------------------------------------- the suite
def by_label(f: dict) -> dict:
    return {r["label"]: r for r in f["rows"]}


def cheapest(points: list[dict], target: float) -> dict:
    return min((p for p in points if p["recall"] >= target), key=lambda p: p["ef"])


def test_filter_suite_end_to_end_with_goals_from_its_figures(tmp_path, monkeypatch):
    needs("vsearch", "hnswlib", "faiss")
    monkeypatch.setitem(SUITES, "filter", tiny_suite())
    out = tmp_path / "out"
    assert cli.main(["--suite", "filter", "--datasets", "synthetic-clustered", *QUICK, "--out", str(out),
                     "--cache-dir", str(tmp_path / "cache")]) == 0
    results = json.loads((out / "results.json").read_text())
    ds = results["datasets"][0]
    plan = SUITES["filter"].filter
    assert ds["kind"] == "filter" and (ds["n"], ds["dim"], ds["queries"]) == (2000, 16, TINY_QUERIES)
    assert set(ds["builds"]) == {"vsearch", "hnswlib", "faiss"} and all(b["build_s"] > 0 for b in ds["builds"].values())
    assert [(f["kind"], f["share"], f["passing"]) for f in ds["filters"]] == [
        (kind, share, max(1, round(share * 2000))) for kind in plan.kinds for share in plan.shares]
    for f in ds["filters"]:
        rows = by_label(f)
        assert list(rows) == ["vsearch auto", "vsearch graph", "vsearch exact", "vsearch auto, id array", "hnswlib",
                              "faiss"]
        for label, row in rows.items():
            assert [p["ef"] for p in row["points"]] == ([32, 64, 128, 256] if label in plan.swept else [64])
            for p in row["points"]:
                assert p["failing"] == 0 and p["qps"] > 0 and 0.0 <= p["recall"] <= 1.0, (f["kind"], f["share"], label)
        assert rows["vsearch exact"]["points"][0]["recall"] == pytest.approx(1.0)      # brute force over the passing
        assert rows["vsearch auto, id array"]["points"][0]["recall"] == rows["vsearch auto"]["points"][1]["recall"]
        assert rows["hnswlib"]["points"][0]["recall"] >= 0.9, f                        # its walk finds them all
        assert all(p["recall"] >= 0.9 for p in rows["vsearch auto"]["points"]), f
        faiss, auto = rows["faiss"]["points"], rows["vsearch auto"]["points"]
        target = min(max(p["recall"] for p in faiss), max(p["recall"] for p in auto))
        assert f["vs_faiss"]["ratio"] == pytest.approx(cheapest(auto, target)["qps"] / cheapest(faiss, target)["qps"])
        assert f["vs_hnswlib"]["ratio"] == pytest.approx(auto[1]["qps"] / rows["hnswlib"]["points"][0]["qps"])
    assert list(ds["unfiltered"]) == ["vsearch", "hnswlib", "faiss"]                  # the reference, no filter
    assert all(p["ef"] == 64 and p["recall"] >= 0.9 and p["qps"] > 0 for p in ds["unfiltered"].values())
    narrow = by_label(ds["filters"][4])["faiss"]["points"]                            # 1 id of 2,000 passes
    assert min(p["recall"] for p in narrow) < 0.9                                     # FAISS's walk misses it

    cases = [(c["ef"], c["hits"], c["share"]) for c in ds["range"]]
    assert cases == [(ef, hits, share) for ef in (64, 256) for hits, share in ((10, None), (100, None), (1000, None),
                                                                              (100, 0.1))]
    plain = {c["hits"]: c for c in ds["range"] if c["share"] is None and c["ef"] == 64}
    assert plain[10]["radius"] < plain[100]["radius"] < plain[1000]["radius"]
    assert 10 <= plain[10]["mean_true"] < plain[100]["mean_true"] < plain[1000]["mean_true"] <= 2000
    filtered = ds["range"][3]
    assert filtered["radius"] == plain[100]["radius"] and filtered["mean_true"] < 0.2 * plain[100]["mean_true"]
    for c in ds["range"]:
        (row,) = c["rows"]
        assert row["engine"] == "vsearch" and row["true"] == round(c["mean_true"] * ds["queries"])
        assert row["recall"] >= 0.9 and row["false_hits"] == row["failing"] == 0 and row["qps"] > 0

    # every goal is computed from the figures above
    found = {g["goal"]: g for g in results["goals"]}
    assert set(found) == set(SUITES["filter"].goals)
    expected = {
        "filter-recall": min(max(p["recall"] for p in by_label(f)["vsearch auto"]["points"]) for f in ds["filters"]),
        "filter-recall-main-ef": min(by_label(f)["vsearch auto"]["points"][1]["recall"] for f in ds["filters"]),
        "filter-vs-faiss": min(f["vs_faiss"]["interpolated_ratio"] for f in ds["filters"]),
        "filter-vs-hnswlib": min(f["vs_hnswlib"]["ratio"] for f in ds["filters"]),
        "filter-failing-ids": 0.0,
        "range-recall": min(c["rows"][0]["recall"] for c in ds["range"] if c["ef"] == 64),
        "range-recall-wide": min(c["rows"][0]["recall"] for c in ds["range"] if c["ef"] == 256),
    }
    for name, value in expected.items():
        assert found[name]["value"] == pytest.approx(value), name
        assert found[name]["met"] == goals.GOALS[name].met(value)

    report = (out / "report.md").read_text()
    assert "## Filtered search: synthetic-clustered" in report and "every ef swept" in report
    assert "| 0.01% | cluster | 1 |" in report and "| 50% | random | 1,000 |" in report
    assert "range search, at the default ef and wider" in report and "| 10% |" in report
    assert "Without a filter: vsearch" in report and "vsearch plan=auto QPS / FAISS QPS at equal recall" in report


def _filter_result(auto_recall: float, vs_faiss: float, vs_hnswlib: float, failing: int, range_recall: float) -> dict:
    """A filter result of two filters; the second carries the figures given, the first passes every goal."""
    def entry(recall: float, faiss: float, hnswlib: float, fails: int) -> dict:
        rows = [{"label": "vsearch auto", "engine": "vsearch", "points": [{"ef": 64, "recall": recall, "failing": 0},
                                                                         {"ef": 128, "recall": 0.2, "failing": 0},
                                                                         {"ef": 256, "recall": recall, "failing": 0}]},
                {"label": "vsearch graph", "engine": "vsearch",
                 "points": [{"ef": 64, "recall": 0.1, "failing": fails}]},
                {"label": "hnswlib", "engine": "hnswlib", "points": [{"ef": 64, "recall": 1.0, "failing": 7}]}]
        return {"rows": rows, "vs_faiss": {"ratio": 2 * faiss, "interpolated_ratio": faiss},
                "vs_hnswlib": {"ratio": hnswlib}}

    return {"kind": "filter", "name": "x", "subject": "vsearch auto", "main_ef": 64,
            "filters": [entry(0.99, 3.0, 50.0, 0), entry(auto_recall, vs_faiss, vs_hnswlib, failing)],
            "range": [{"share": share, "ef": ef, "rows": [{"engine": "vsearch", "recall": recall, "failing": 0}]}
                      for ef in (64, 256) for share, recall in ((None, 0.99), (0.1, range_recall))]}


def test_filter_goals_are_missed_when_the_figures_miss_them():
    names = SUITES["filter"].goals
    missed = {g["goal"]: g for g in goals.check(names, [_filter_result(0.9, 0.8, 4.0, 2, 0.7)])}
    assert missed["filter-recall"]["value"] == pytest.approx(0.9)      # the best ef (not ef 128's 0.2)
    assert missed["filter-recall-main-ef"]["value"] == pytest.approx(0.9)
    assert missed["filter-vs-faiss"]["value"] == pytest.approx(0.8)  # interpolated, not the cheapest-ef 1.6
    assert missed["filter-vs-hnswlib"]["value"] == pytest.approx(4.0)
    assert missed["filter-failing-ids"]["value"] == 2                  # vsearch's only (not hnswlib's 7)
    assert missed["range-recall"]["value"] == pytest.approx(0.7)
    assert missed["range-recall-wide"]["value"] == pytest.approx(0.7)
    assert not any(g["met"] for g in missed.values()) and len(missed) == len(names)
    met = goals.check(names, [_filter_result(0.96, 1.1, 12.0, 0, 0.97)])
    assert all(g["met"] for g in met) and len(met) == len(names)


class LeakyFilterEngine(ExactEngine):
    """Brute force that ignores the filter: it returns ids that fail it."""

    name = "leaky"
    filters = True

    def prepare_filter(self, allowed: np.ndarray, n: int) -> np.ndarray:
        return allowed

    def search_filtered_one(self, query, k: int, allowed, plan=None) -> np.ndarray:
        return self.search_one(query, k)


class HonestFilterEngine(LeakyFilterEngine):
    """Brute force over the allowed rows only."""

    name = "honest"

    def search_filtered_one(self, query, k: int, allowed, plan=None) -> np.ndarray:
        order = self._top(self._scores(query)[:, allowed], k)[0]
        return np.where(order >= 0, allowed[np.clip(order, 0, len(allowed) - 1)], -1)


def test_ids_failing_the_filter_count_as_misses(monkeypatch):
    for engine in (LeakyFilterEngine, HonestFilterEngine):
        monkeypatch.setitem(ENGINES, engine.name, engine)
    cfg = RunConfig(suite=tiny_suite(), engines=["leaky", "honest"], ef_sweep=(64,), repetitions=1, min_calls=1)
    result = run_filtered(tiny_dataset(), Runner(cfg, lambda _: None))
    assert result["range"] == []                                        # neither engine searches a radius
    for f in result["filters"]:
        rows = by_label(f)
        leaky, honest = rows["leaky"]["points"][0], rows["honest"]["points"][0]
        assert honest["recall"] == pytest.approx(1.0) and honest["failing"] == 0, f["share"]
        if f["share"] <= 0.1:
            assert leaky["failing"] > 0 and leaky["recall"] < 0.5, f["share"]
        assert f["vs_faiss"] is None and f["vs_hnswlib"] is None

"""The churn suite (bench.churn) end to end on tiny data: its steps, the fresh builds beside
them, the memory per round, the report, and goals computed from the measured figures; and
that an engine returning removed vectors is caught."""
from __future__ import annotations

import copy
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # `bench` lives at the repo root

from bench import __main__ as cli  # noqa: E402
from bench import datasets, goals  # noqa: E402
from bench.churn import live_count, round_count, run_churn  # noqa: E402
from bench.engines import ENGINES, BuildParams, ExactEngine  # noqa: E402
from bench.model import RunConfig  # noqa: E402
from bench.suites import CHURN_SET, REMOVAL_PHASE, ROUNDS_PHASE, SUITES, ChurnPlan  # noqa: E402
from bench.sweep import Runner  # noqa: E402

# A plan small enough for a test: 1,000 live vectors of 1,400, 100 replaced per round.
TINY_PLAN = ChurnPlan(removals=(0.1, 0.5), rounds=4, fraction=0.1, checkpoints=(1, 4))
TINY_SIZE = 1400
QUICK = ("--reps", "1", "--min-calls", "20", "--no-plots")


@pytest.fixture
def tiny_suite(monkeypatch):
    monkeypatch.setitem(SUITES, "churn", dataclasses.replace(SUITES["churn"], churn=TINY_PLAN))


def test_the_pool_lasts_every_round_of_the_suites_plan():
    plan = SUITES["churn"].churn
    n = CHURN_SET["synthetic-clustered"][0]
    assert live_count(n, plan) == 100_000                     # the 100,000 x 128 live set
    for total in (n, 9000):                                   # and debian_pkgdesc_minilm's 9,000
        live = live_count(total, plan)
        assert live + plan.rounds * round_count(live, plan) <= total
    assert set(plan.checkpoints) <= set(range(1, plan.rounds + 1)) and plan.rounds in plan.checkpoints


def _vsearch_points(ds: dict, phase: str) -> list[tuple[dict, dict]]:
    pairs = []
    for step in (s for s in ds["steps"] if s["phase"] == phase):
        rows = {r["fresh"]: r for r in step["rows"] if r["engine"] == "vsearch"}
        pairs += list(zip(rows[False]["points"], rows[True]["points"]))
    return pairs


def test_churn_suite_end_to_end_with_goals_from_its_figures(tmp_path, tiny_suite):
    for module in ("vsearch", "hnswlib"):
        pytest.importorskip(module)
    out = tmp_path / "out"
    assert cli.main(["--suite", "churn", "--datasets", f"synthetic-clustered:{TINY_SIZE}", *QUICK,
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    results = json.loads((out / "results.json").read_text())
    ds = results["datasets"][0]
    assert ds["kind"] == "churn" and (ds["n"], ds["per_round"], ds["pool"]) == (1000, 100, 400)
    assert [(s["phase"], s["step"], s["live"]) for s in ds["steps"]] == [
        (REMOVAL_PHASE, "remove 10%", 900), (REMOVAL_PHASE, "remove 50%", 500),
        (ROUNDS_PHASE, "round 1", 1000), (ROUNDS_PHASE, "round 4", 1000)]
    for step in ds["steps"]:
        assert {(r["engine"], r["fresh"]) for r in step["rows"]} == {(e, f) for e in ("vsearch", "hnswlib")
                                                                     for f in (False, True)}
        for r in step["rows"]:
            assert [p["ef"] for p in r["points"]] == [64, 128]
            assert all(p["returned_removed"] == 0 and p["qps"] > 0 for p in r["points"])
            assert all(p["recall"] > 0.9 for p in r["points"]), (step["step"], r)
            assert r["index_bytes"] > 0
    assert [m["round"] for m in ds["memory"]] == [1, 2, 3, 4]
    stats = ds["memory"][-1]["engines"]["vsearch"]
    assert stats["slots"] >= 1000 and stats["removed"] >= 0 and stats["free_slots"] >= 0

    # every goal is computed from the figures above
    found = {g["goal"]: g for g in results["goals"]}
    assert set(found) == set(SUITES["churn"].goals)
    expected = {
        "removal-recall": min(100 * (a["recall"] - b["recall"]) for a, b in _vsearch_points(ds, REMOVAL_PHASE)),
        "churn-recall": min(100 * (a["recall"] - b["recall"]) for a, b in _vsearch_points(ds, ROUNDS_PHASE)),
        "removal-qps": min(a["qps"] / b["qps"] for a, b in _vsearch_points(ds, REMOVAL_PHASE)),
        "churn-qps": min(a["qps"] / b["qps"] for a, b in _vsearch_points(ds, ROUNDS_PHASE)),
        "churn-memory": stats["index_bytes"] / ds["memory"][0]["engines"]["vsearch"]["index_bytes"],
    }
    first = next(r for r in ds["steps"][0]["rows"] if r["engine"] == "vsearch" and not r["fresh"])
    expected["removal-time"] = (first["remove_s"] + first["consolidate_s"]) / ds["builds"]["vsearch"]["build_s"]
    for name, value in expected.items():
        assert found[name]["value"] == pytest.approx(value), name
        assert found[name]["met"] == goals.GOALS[name].met(value)

    report = (out / "report.md").read_text()
    assert "## Churn: synthetic-clustered" in report and "memory after every churn round" in report
    assert "| remove 50% | 500 | vsearch |" in report and "| round 4 | 1,000 | hnswlib |" in report
    assert "vsearch time to remove 10%" in report


def _churn_result(ours: float, fresh: float, qps: float, memory: tuple[int, int], consolidate_s: float) -> dict:
    """A churn result of vsearch only: recall (churned, fresh), churned QPS (the fresh build's is
    1000), index bytes after the first and last round, and the seconds a consolidation took
    (removal takes 1 s, the build 10 s)."""
    def rows(recall: float, speed: float) -> list[dict]:
        return [{"engine": "vsearch", "fresh": False, "points": [{"recall": recall, "qps": speed}],
                 "remove_s": 1.0, "consolidate_s": consolidate_s},
                {"engine": "vsearch", "fresh": True, "points": [{"recall": fresh, "qps": 1000.0}]}]

    return {"kind": "churn", "name": "x", "builds": {"vsearch": {"build_s": 10.0}},
            "steps": [{"phase": REMOVAL_PHASE, "share": goals.TIMED_REMOVAL, "rows": rows(ours, qps)},
                      {"phase": ROUNDS_PHASE, "rows": rows(ours, qps)}],
            "memory": [{"engines": {"vsearch": {"index_bytes": b}}} for b in memory]}


def test_churn_goals_are_missed_when_the_figures_miss_them():
    missed = {g["goal"]: g for g in goals.check(SUITES["churn"].goals, [_churn_result(0.90, 0.95, 800.0, (100, 120), 2.0)])}
    assert missed["churn-recall"]["value"] == pytest.approx(-5.0) and not missed["churn-recall"]["met"]
    assert missed["removal-qps"]["value"] == pytest.approx(0.8) and not missed["removal-qps"]["met"]
    assert missed["churn-memory"]["value"] == pytest.approx(1.2) and not missed["churn-memory"]["met"]
    assert missed["removal-time"]["value"] == pytest.approx(0.3) and not missed["removal-time"]["met"]
    met = goals.check(SUITES["churn"].goals, [_churn_result(0.95, 0.955, 950.0, (100, 105), 1.0)])
    assert all(g["met"] for g in met) and len(met) == len(SUITES["churn"].goals)


class LeakyEngine(ExactEngine):
    """Brute force that 'removes' nothing: removed vectors keep being returned."""

    name = "leaky"
    mutable = True

    def build(self, base: np.ndarray, metric, params: BuildParams) -> None:
        self.params = params
        super().build(base, metric, params)
        self.rows = np.asarray(base, np.float32)

    def remove(self, ids: np.ndarray) -> None:
        pass

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:  # ids follow the rows in order
        self.build(np.vstack([self.rows, vectors]), self.metric, self.params)

    def clone(self) -> LeakyEngine:
        return copy.deepcopy(self)


def test_removed_ids_returned_count_as_misses(monkeypatch):
    monkeypatch.setitem(ENGINES, "leaky", LeakyEngine)
    suite = dataclasses.replace(SUITES["churn"], churn=TINY_PLAN)
    ds = datasets.load_synthetic(f"synthetic-clustered:{TINY_SIZE}", {"synthetic-clustered": (TINY_SIZE, 16, 50)})
    cfg = RunConfig(suite=suite, engines=["leaky"], ef_sweep=(10,), repetitions=1, min_calls=1)
    result = run_churn(ds, Runner(cfg, lambda _: None))
    half = next(s for s in result["steps"] if s["step"] == "remove 50%")
    rows = {r["fresh"]: r["points"][0] for r in half["rows"]}
    assert rows[True]["recall"] == pytest.approx(1.0) and rows[True]["returned_removed"] == 0
    assert rows[False]["returned_removed"] > 0 and rows[False]["recall"] < 0.9

"""The ``churn`` pipeline: recall, speed and memory of indexes that vectors are removed
from and added to, next to fresh builds on the same live vectors.

The dataset's base is split: its first ``n / (1 + rounds x fraction)`` rows are the
initial live set, the rest the pool of new vectors the churn rounds add (enough for
every round); a vector's id is its row of the base. Every mutable engine of the run
(bench.engines ``mutable``) is built once on the initial set (timed, with the run's
threads), then copied:

* removals (on the copy): remove ``removals[0]`` of the initial set at random, then
  more, up to each next share; each step is timed and ends with a consolidation
  (vsearch repairs the graph and frees the slots; hnswlib only marks, so it has none).
  vsearch's ``remove`` also consolidates by itself once the removed share passes its
  ``consolidate_fraction``, so its removal time may hold a consolidation already;
* churn (on the original): ``rounds`` rounds of "remove ``fraction`` of the live set at
  random, add as many vectors from the pool" (vsearch consolidates by itself; hnswlib
  reuses the removed slots). Each engine's index bytes, its slot counts and the
  process's resident memory are recorded after every round.

After each removal step and after each checkpoint round, every engine is also built
afresh on exactly the live vectors, exact ground truth is computed on the live set
(bench.distances), and every index, churned and fresh, is timed one query per call at
each ef of the suite, interleaved (bench.timing). Recall@k is judged by exact
distances; an id that is not live counts as a miss, and such ids are counted (an
engine should never return one).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import measures
from .datasets import Dataset
from .distances import BUILTIN, MetricSpec, exact_topk, rowwise
from .engines import Engine
from .probes import status_bytes
from .suites import CHURN, REMOVAL_PHASE, ROUNDS_PHASE, ChurnPlan
from .sweep import Runner
from .timing import timed_single

# Seed offset of the removal draws, so the two phases do not remove the same rows.
REMOVAL_SEED_OFFSET = 1
# What a fresh build's label adds to its engine's name.
FRESH_SUFFIX = " fresh"


def live_count(n: int, plan: ChurnPlan) -> int:
    """Rows of the initial live set: what is left, the pool, lasts every churn round."""
    return int(n / (1 + plan.rounds * plan.fraction))


def round_count(n_live: int, plan: ChurnPlan) -> int:
    """Vectors each churn round removes, and adds."""
    return max(1, round(plan.fraction * n_live))


class Churn:
    """One dataset's run: the live set, the engines, and the measurements after each step."""

    def __init__(self, ds: Dataset, runner: Runner) -> None:
        self.ds, self.runner, self.cfg = ds, runner, runner.cfg
        self.plan = runner.cfg.suite.churn
        if self.plan is None:
            raise ValueError(f"the {runner.cfg.suite.name} suite has no churn plan")
        self.metric: MetricSpec = BUILTIN[ds.metric]
        primary = ds.primary.head(self.cfg.max_queries) if self.cfg.max_queries else ds.primary
        self.queries = primary.vectors
        self.n_live = live_count(len(ds.base), self.plan)
        self.per_round = round_count(self.n_live, self.plan)
        if self.n_live < 1 or self.n_live + self.plan.rounds * self.per_round > len(ds.base):
            raise ValueError(f"{ds.name}: {len(ds.base):,} vectors are too few for {self.plan.rounds} rounds of "
                             f"{self.plan.fraction:.0%} churn")

    def engines(self) -> list[Engine]:
        """The run's engines that can remove and add (a notice for each other one)."""
        out = []
        for engine in self.runner.make_engines(self.metric):
            if engine.mutable:
                out.append(engine)
            else:
                self.runner.notice(f"{engine.name} cannot remove vectors; not in the churn suite")
        return out

    def build(self, engine: Engine, live: np.ndarray, mutable: bool) -> float:
        """Builds ``engine`` on the live rows (ids 0..len-1 for a fresh build, the rows themselves
        for a mutable one, whose ids then are the rows); returns the seconds it took."""
        start = time.perf_counter()
        if mutable:
            engine.build_mutable(self.ds.base[live], self.metric, self.cfg.params)
        else:
            engine.build(self.ds.base[live], self.metric, self.cfg.params)
        return time.perf_counter() - start

    def measure(self, live: np.ndarray, churned: list[Engine]) -> list[dict[str, Any]]:
        """Fresh builds on the live rows, then every index at every ef, interleaved: one row per
        (engine, churned or fresh) with its recall and QPS per ef."""
        fresh, rows = [], []
        for engine in churned:
            twin = type(engine)(self.cfg.threads)
            rows.append({"engine": engine.name, "fresh": True, "build_s": self.build(twin, live, mutable=False),
                         "index_bytes": twin.index_bytes(), "points": []})
            fresh.append(twin)
        rows = [{"engine": e.name, "fresh": False, "index_bytes": e.index_bytes(), "points": []} for e in churned] + rows
        built = churned + fresh
        _, gt_dist = exact_topk(self.ds.base[live], self.queries, self.metric, self.cfg.k)
        alive = np.zeros(len(self.ds.base), bool)
        alive[live] = True
        labels = [r["engine"] + (FRESH_SUFFIX if r["fresh"] else "") for r in rows]
        for ef in self.cfg.ef_sweep:
            for engine in built:
                engine.set_ef(ef)
            timings = timed_single({label: (e, e.prepare(self.queries)) for label, e in zip(labels, built)},
                                   self.cfg.k, self.cfg.repetitions, self.cfg.min_calls)
            for label, row in zip(labels, rows):
                qps, lat, found = timings[label]
                if row["fresh"]:  # its ids are positions in the live set
                    found = np.where(found >= 0, live[np.clip(found, 0, len(live) - 1)], -1)
                stray = (found >= 0) & ~alive[np.clip(found, 0, len(alive) - 1)]
                found = np.where(stray, -1, found)
                row["points"].append({
                    "ef": ef, "recall": measures.recall_at_k(rowwise(self.metric, self.queries, self.ds.base, found),
                                                             gt_dist, self.cfg.k),
                    "qps": qps, "p50_us": measures.percentile_us(lat, 50), "p99_us": measures.percentile_us(lat, 99),
                    "returned_removed": int(stray.sum())})
        for engine in fresh:
            engine.close()
        self.runner.log("    " + " | ".join(
            f"{label} " + ", ".join(f"ef {p['ef']} r={p['recall']:.3f} {p['qps']:,.0f} q/s" for p in row["points"])
            for label, row in zip(labels, rows)))
        return rows

    def removals(self, engines: list[Engine]) -> list[dict[str, Any]]:
        """The removal steps on the engines given (copies: they are emptied)."""
        rng = np.random.default_rng(self.cfg.seed + REMOVAL_SEED_OFFSET)
        live = np.arange(self.n_live)
        steps = []
        for share in self.plan.removals:
            gone = rng.choice(live, len(live) - (self.n_live - round(share * self.n_live)), replace=False)
            live = np.setdiff1d(live, gone)
            timing: dict[str, dict[str, float]] = {}
            for engine in engines:
                start = time.perf_counter()
                engine.remove(gone)
                removed = time.perf_counter()
                engine.consolidate()
                timing[engine.name] = {"remove_s": removed - start, "consolidate_s": time.perf_counter() - removed}
            self.runner.log(f"  removed {share:.0%} ({len(gone):,} more): " + ", ".join(
                f"{name} {t['remove_s']:.2f} s + consolidate {t['consolidate_s']:.2f} s" for name, t in timing.items()))
            rows = self.measure(live, engines)
            for row in rows:
                if not row["fresh"]:
                    row.update(timing[row["engine"]])
            steps.append({"phase": REMOVAL_PHASE, "step": f"remove {share:.0%}", "share": share, "live": len(live),
                          "rows": rows})
        return steps

    def rounds(self, engines: list[Engine]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The churn rounds: (the checkpoint steps, the memory after every round)."""
        rng = np.random.default_rng(self.cfg.seed)
        live = np.arange(self.n_live)
        pool = self.n_live  # the next row of the pool
        steps, memory = [], []
        for number in range(1, self.plan.rounds + 1):
            gone = rng.choice(live, self.per_round, replace=False)
            new = np.arange(pool, pool + self.per_round)
            pool += self.per_round
            live = np.union1d(np.setdiff1d(live, gone), new)
            figures: dict[str, dict[str, Any]] = {}
            for engine in engines:
                start = time.perf_counter()
                engine.remove(gone)
                removed = time.perf_counter()
                engine.add(self.ds.base[new], new)
                figures[engine.name] = {"remove_s": removed - start, "add_s": time.perf_counter() - removed,
                                        "index_bytes": engine.index_bytes(), **engine.slot_stats()}
            memory.append({"round": number, "rss_bytes": status_bytes("VmRSS"), "engines": figures})
            self.runner.log(f"  round {number}: " + ", ".join(
                f"{name} remove {f['remove_s']:.2f} s, add {f['add_s']:.2f} s, {f['index_bytes'] / 2**20:.1f} MiB"
                for name, f in figures.items()))
            if number in self.plan.checkpoints:
                steps.append({"phase": ROUNDS_PHASE, "step": f"round {number}", "round": number, "live": len(live),
                              "rows": self.measure(live, engines)})
        return steps, memory


def run_churn(ds: Dataset, runner: Runner) -> dict[str, Any]:
    """Removal steps and churn rounds on every mutable engine (see the module docstring)."""
    t0 = time.perf_counter()
    churn = Churn(ds, runner)
    engines = churn.engines()
    initial = np.arange(churn.n_live)
    builds = {}
    for engine in engines:
        builds[engine.name] = {"build_s": churn.build(engine, initial, mutable=True),
                               "index_bytes": engine.index_bytes()}
        runner.log(f"  built {engine.name} on {churn.n_live:,} vectors in {builds[engine.name]['build_s']:.1f} s")
    copies = [engine.clone() for engine in engines]
    steps = churn.removals(copies)
    for engine in copies:
        engine.close()
    rounds, memory = churn.rounds(engines)
    for engine in engines:
        engine.close()
    return {"kind": CHURN, "name": ds.name, "source": ds.source, "licence": ds.licence, "n": churn.n_live,
            "dim": ds.base.shape[1], "metric": ds.metric, "queries": len(churn.queries), "pool": len(ds.base) - churn.n_live,
            "per_round": churn.per_round, "builds": builds, "steps": steps + rounds, "memory": memory,
            "wall_s": time.perf_counter() - t0}

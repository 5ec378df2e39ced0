"""Threads adding, removing, upserting, consolidating and compacting while other threads search, get,
test membership and verify (issue 10's thread safety), for a few seconds.

Two writers own disjoint id ranges and record every version of every id with the time window of
the call that made or ended it; a block of stable ids is never touched, so every search has at
least k live vectors. Afterwards each search result must hold ids that were live at some moment of
its call, at the distance of a version of that id live then, each id once, ascending, no -1; each
get() returns a version live during the call, and an id live all through a call is never reported
missing. At the end len, ids() and get() match what the writers recorded, and verify() passes."""
from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

import numpy as np

import vsearch
from vsearch import errors

from conftest import random_vectors
from helpers import ReferenceIndex, assert_holds, assert_search_valid, assert_well_formed, run_concurrently

DIM, K = 8, 10
STABLE = 300                            # ids 0..299, never changed
POOL = 200                              # ids per writer: 100_000.., 200_000..
DURATION = 2.5                          # seconds of churn
NEVER = float("inf")


class Version:
    """One vector an id held, and when it may have been visible: from the start of the call that put it
    to the end of the call that replaced or removed it."""

    __slots__ = ("vector", "start", "end")

    def __init__(self, vector: np.ndarray, start: float) -> None:
        self.vector, self.start, self.end = vector, start, NEVER


class Writer:
    """Changes its own ids at random and records each version and each stretch the id was surely present
    (from the end of the call that added it to the start of the call that removed it)."""

    def __init__(self, index, number: int) -> None:
        self.index, self.number = index, number
        self.rng = np.random.default_rng(1000 + number)
        self.pool = (number + 1) * 100_000 + np.arange(POOL)
        self.live: dict[int, Version] = {}
        self.versions: dict[int, list[Version]] = defaultdict(list)
        self.present: dict[int, list[list[float]]] = defaultdict(list)     # id -> [[surely from, surely until]]
        self.done = Counter()

    def pick(self, live: bool, most: int) -> list[int]:
        ids = list(self.live) if live else [i for i in self.pool.tolist() if i not in self.live]
        if not ids:
            return []
        return self.rng.choice(ids, min(len(ids), int(self.rng.integers(1, most + 1))), replace=False).tolist()

    def put(self, ids: list[int], upsert: bool) -> None:
        rows = self.rng.standard_normal((len(ids), DIM)).astype(np.float32)
        threads = int(self.rng.integers(1, 3))
        start = time.perf_counter()
        out = (self.index.upsert if upsert else self.index.add)(rows, ids=ids, threads=threads)
        end = time.perf_counter()
        assert out.tolist() == ids
        for id, row in zip(ids, rows):
            if id in self.live:
                self.live[id].end = end
            else:
                self.present[id].append([end, NEVER])
            self.live[id] = Version(row, start)
            self.versions[id].append(self.live[id])

    def remove(self, ids: list[int], unknown: list[int]) -> None:
        start = time.perf_counter()
        removed = self.index.remove(ids + unknown, missing_ok=bool(unknown))
        end = time.perf_counter()
        assert removed == len(ids)
        for id in ids:
            self.live.pop(id).end = end
            self.present[id][-1][1] = start

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            r = self.rng.random()
            if r < 0.35:
                ids = self.pick(live=False, most=8)
                if ids:
                    self.put(ids, upsert=False)
                    self.done["add"] += 1
            elif r < 0.65:
                ids = self.pick(live=True, most=8)
                unknown = self.pick(live=False, most=2) if r < 0.4 else []
                if ids:
                    self.remove(ids, unknown)
                    self.done["remove"] += 1
            elif r < 0.95:
                ids = self.pick(live=True, most=4) + self.pick(live=False, most=4)
                if ids:
                    self.put(ids, upsert=True)
                    self.done["upsert"] += 1
            elif self.number == 0 and self.done["consolidate"] % 4 != 3:
                self.index.consolidate()
                self.done["consolidate"] += 1
            elif self.number == 0:
                self.index.compact()                            # renumbers every slot under the searches
                self.done["compact"] += 1
                self.done["consolidate"] += 1                   # it consolidates first


def searcher(index, number: int, stop: threading.Event, searches: list, reads: list) -> None:
    rng = np.random.default_rng(2000 + number)
    pool = np.concatenate([(w + 1) * 100_000 + np.arange(POOL) for w in (0, 1)])
    while not stop.is_set():
        queries = rng.standard_normal((4, DIM)).astype(np.float32)
        start = time.perf_counter()
        result = index.search(queries, k=K, ef=int(rng.choice([10, 32, 64])), threads=int(rng.integers(1, 3)))
        searches.append((start, time.perf_counter(), queries, result.ids, result.distances))
        id = int(rng.choice(pool))
        start = time.perf_counter()
        try:
            vector = index.get(id)
        except errors.UnknownIdError:
            vector = None
        contained = id in index
        reads.append((start, time.perf_counter(), id, vector, contained))
        assert STABLE <= len(index) <= STABLE + 2 * POOL
        if number == 1 and len(searches) % 100 == 0:
            index.verify()                                      # waits for running changes; never fails


def check_searches(searches, stable: np.ndarray, writers) -> int:
    """Every result of every search is valid for the moment it ran; returns how many results were
    writers' ids (so the test knows the searches saw the churn)."""
    ids = np.concatenate([s[3] for s in searches])
    dist = np.concatenate([s[4] for s in searches])
    queries = np.concatenate([s[2] for s in searches]).astype(np.float64)
    start = np.repeat([s[0] for s in searches], 4)
    end = np.repeat([s[1] for s in searches], 4)
    assert_well_formed(ids, dist, K, STABLE)                     # k results, each once, ascending
    steady = ids < STABLE
    rows, cols = np.nonzero(steady)
    true = ((queries[rows] - stable[ids[rows, cols]]) ** 2).sum(1)
    np.testing.assert_allclose(dist[rows, cols], true, rtol=1e-4, atol=1e-4)
    owners = {id: w for w in writers for id in w.versions}
    rows, cols = np.nonzero(~steady)
    unknown = set(ids[rows, cols].tolist()) - owners.keys()
    assert not unknown, f"searches returned ids never added: {sorted(unknown)[:10]}"
    by_id = defaultdict(list)
    for r, c in zip(rows.tolist(), cols.tolist()):
        by_id[int(ids[r, c])].append((r, c))
    for id, where in by_id.items():
        versions = owners[id].versions[id]
        r, c = np.array(where).T
        vectors = np.array([v.vector for v in versions], np.float64)                 # (V, dim)
        alive = (np.array([v.start for v in versions])[None, :] <= end[r, None]) & (
            np.array([v.end for v in versions])[None, :] >= start[r, None])           # (E, V)
        d = ((queries[r, None, :] - vectors[None]) ** 2).sum(-1)                      # (E, V)
        close = np.abs(d - dist[r, c, None]) <= 1e-4 + 1e-4 * d
        bad = ~(alive & close).any(1)
        assert not bad.any(), (
            f"id {id} returned at distance {dist[r[bad][0], c[bad][0]]} during [{start[r[bad][0]]}, {end[r[bad][0]]}], "
            f"which matches no version live then: {[(v.start, v.end) for v in versions]}")
    return len(rows)


def check_reads(reads, writers) -> None:
    owners = {id: w for w in writers for id in w.pool.tolist()}
    for start, end, id, vector, contained in reads:
        writer = owners[id]
        surely = any(since <= start and end <= until for since, until in writer.present[id])
        if vector is None or not contained:
            assert not surely, f"id {id}, present all through [{start}, {end}], was reported missing"
        if vector is not None:
            assert any(v.start <= end and v.end >= start and np.array_equal(v.vector, vector)
                       for v in writer.versions[id]), f"get({id}) returned a vector it never held then"


def test_writers_and_searchers_at_once():
    stable = random_vectors(STABLE, DIM, seed=3)
    index = vsearch.Index(DIM, M=8, ef_construction=48, seed=0)
    index.add(stable, threads=1)
    writers = [Writer(index, w) for w in (0, 1)]
    searches, reads = [[], []], [[], []]
    run_concurrently([w.run for w in writers] + [
        (lambda stop, s=s: searcher(index, s, stop, searches[s], reads[s])) for s in (0, 1)], DURATION)

    # the run did what it is for: every kind of change, many searches, results among the churned ids
    for writer in writers:
        assert min(writer.done[op] for op in ("add", "remove", "upsert")) >= 20, writer.done
    assert writers[0].done["consolidate"] >= 3 and writers[0].done["compact"] >= 1, writers[0].done
    assert min(len(s) for s in searches) >= 50, [len(s) for s in searches]
    churned = check_searches(searches[0] + searches[1], stable.astype(np.float64), writers)
    assert churned >= 100, churned
    check_reads(reads[0] + reads[1], writers)

    # nothing lost: the index holds what the writers recorded, and its graph is whole and good
    ref = ReferenceIndex(DIM, "l2")
    ref.put(stable, np.arange(STABLE))
    for writer in writers:
        ids = list(writer.live)
        ref.put([writer.live[i].vector for i in ids], ids)
    assert_holds(index, ref)
    index.verify()
    queries = random_vectors(50, DIM, seed=4)
    assert_search_valid(index, ref, queries, K, ef=index.stats()["slots"], exact=True)
    assert_search_valid(index, ref, queries, K, ef=64)

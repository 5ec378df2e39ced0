"""Concurrency contract: concurrent search, search during add, native-thread batch search,
and single-thread determinism."""
import threading
import time
import traceback

import numpy as np
import pytest

from vsearch import Index
from conftest import METRICS, brute_force, graph_stats, make_clustered, pair_distances, recall_at_k

DIM = 16


# ----------------------------------------------------------------------------- (1) stress
def test_concurrent_add_and_search_stress():
    n_pre, batch, n_batches = 2000, 200, 8
    all_base, queries = make_clustered(n_pre + 2 * batch * n_batches, DIM, n_clusters=50,
                                       n_queries=100, seed=200)
    pre = all_base[:n_pre]
    part = {0: all_base[n_pre:n_pre + batch * n_batches],
            1: all_base[n_pre + batch * n_batches:]}
    id_base = {0: 10_000, 1: 20_000}

    def rows_of(ids):
        """Map external ids to rows of all_base (ids: 0..1999, 10000.., 20000..)."""
        ids = np.asarray(ids)
        return np.where(ids < 10_000, ids,
                        np.where(ids < 20_000, n_pre + ids - 10_000,
                                 n_pre + batch * n_batches + ids - 20_000))

    idx = Index(DIM, metric="l2", seed=0)
    idx.add(pre)
    assert len(idx) == n_pre

    errors_seen = []
    stop = threading.Event()
    add_window = {}
    results = [[] for _ in range(3)]           # per searcher: (t_start, query rows, ids, dists)

    def adder(a):
        try:
            data = part[a]
            for b in range(n_batches):
                ids = id_base[a] + np.arange(b * batch, (b + 1) * batch)
                out = idx.add(data[b * batch:(b + 1) * batch], ids=ids)
                np.testing.assert_array_equal(out, ids)
                time.sleep(0.05)               # spread the adds over the search window
        except BaseException:
            errors_seen.append(f"adder {a}:\n{traceback.format_exc()}")

    def searcher(s):
        rng = np.random.default_rng(300 + s)
        try:
            it = 0
            while not stop.is_set():
                rows = rng.integers(0, len(queries), 8)
                t0 = time.perf_counter()
                if it % 2:
                    ids, dist = idx.search(queries[rows], k=10, threads=1)
                else:
                    r = idx.search(queries[rows[0]], k=10)             # single query, 1-D
                    ids, dist, rows = r.ids[None], r.distances[None], rows[:1]
                results[s].append((t0, rows, ids.copy(), dist.copy()))
                it += 1
        except BaseException:
            errors_seen.append(f"searcher {s}:\n{traceback.format_exc()}")

    adders = [threading.Thread(target=adder, args=(a,), daemon=True) for a in (0, 1)]
    searchers = [threading.Thread(target=searcher, args=(s,), daemon=True) for s in range(3)]
    t_start = time.perf_counter()
    for t in searchers + adders:
        t.start()
    for t in adders:
        t.join(timeout=120)
    add_window["end"] = time.perf_counter()
    assert not any(t.is_alive() for t in adders), "adder thread hung (deadlock?)"
    remaining = 3.0 - (time.perf_counter() - t_start)
    if remaining > 0:
        time.sleep(remaining)
    stop.set()
    for t in searchers:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in searchers), "searcher thread hung (deadlock?)"
    assert not errors_seen, "\n".join(errors_seen)

    # ---- final state
    n_total = n_pre + 2 * batch * n_batches
    assert len(idx) == n_total
    for a in (0, 1):
        ids = id_base[a] + np.arange(batch * n_batches)
        assert all(int(i) in idx for i in ids)
        np.testing.assert_array_equal(idx.get(ids.tolist()), part[a])   # bit-exact
    np.testing.assert_array_equal(idx.get(list(range(n_pre))), pre)

    # ---- every search result seen during the run was valid
    final_ids = set(range(n_pre)) | {id_base[a] + j for a in (0, 1) for j in range(batch * n_batches)}
    n_searches = sum(len(r) for r in results)
    during_adds = sum(1 for r in results for (t0, *_rest) in r if t0 < add_window["end"])
    assert min(len(r) for r in results) >= 5, [len(r) for r in results]
    assert during_adds >= 3, f"only {during_adds} searches overlapped the adds"
    rows_all = np.concatenate([rows for r in results for (_, rows, _, _) in r])
    ids_all = np.concatenate([ids for r in results for (_, _, ids, _) in r])
    dist_all = np.concatenate([d for r in results for (_, _, _, d) in r])
    assert ids_all.shape == dist_all.shape == (len(rows_all), 10)
    valid = ids_all >= 0
    assert set(np.unique(ids_all[valid]).tolist()) <= final_ids
    assert np.all(np.isfinite(dist_all[valid]))
    assert np.all(np.isposinf(dist_all[~valid]))
    # valid results first (a -1 is never followed by a real id), ascending distances
    assert not np.any(~valid[:, :-1] & valid[:, 1:])
    d_sorted = np.where(valid, dist_all, np.finfo(np.float32).max)     # padding sorts last
    assert np.all(np.diff(d_sorted, axis=1) >= 0)
    # no id twice in one result row
    srt = np.sort(np.where(valid, ids_all, -np.arange(1, 11)), axis=1)
    assert np.all(np.diff(srt, axis=1) != 0)
    # the reported distance is the true distance to the vector stored under that id
    true = pair_distances(all_base, queries[rows_all], rows_of(np.where(valid, ids_all, 0)), "l2")
    np.testing.assert_allclose(dist_all[valid], true[valid], rtol=1e-4, atol=1e-5)
    assert n_searches >= 15
    # The index never held fewer than n_pre (2000) >= k points, so padding (-1) is not allowed:
    # a short result means a search walked into a node that was visible before it was linked.
    short = np.nonzero((~valid).any(axis=1))[0]
    assert len(short) == 0, (
        f"{len(short)} of {len(valid)} searches returned fewer than 10 results while the index held "
        f">= {n_pre} points; e.g. ids={ids_all[short[0]].tolist()} dist={dist_all[short[0]].tolist()}")

    # ---- the graph is still good
    res = idx.search(queries, k=10)
    _, gt_dist = brute_force(all_base, queries, 10, "l2")
    found_rows = np.where(res.ids >= 0, rows_of(np.where(res.ids >= 0, res.ids, 0)), -1)
    rec = recall_at_k(found_rows, all_base, queries, gt_dist[:, 9], "l2")
    assert rec >= 0.9, rec


def test_search_during_add_never_returns_short_results():
    """Targeted race check: a small index (50 points) grows to 3,050 while 2 threads search.
    The index always holds >= 50 >= k points, so every search must return k real ids with their
    true distances.  Many new nodes enter the upper levels / become the entry point while the
    index is small, so a node that is published before its links are written shows up here as
    a short (padded) result."""
    n_pre, n_add, batch, k = 50, 3000, 100, 10
    base, queries = make_clustered(n_pre + n_add, DIM, n_queries=50, seed=240)
    problems, errors_seen = [], []
    for rnd in range(6):
        idx = Index(DIM, seed=rnd)
        idx.add(base[:n_pre])
        stop = threading.Event()

        def searcher(s):
            rng = np.random.default_rng(400 + 10 * rnd + s)
            try:
                while not stop.is_set():
                    qi = int(rng.integers(0, len(queries)))
                    r = idx.search(queries[qi], k=k, threads=1)
                    if (r.ids < 0).any() or not np.all(np.isfinite(r.distances)):
                        problems.append((rnd, qi, r.ids.tolist(), r.distances.tolist()))
                    else:
                        true = pair_distances(base, queries[qi], r.ids[None], "l2")[0]
                        if not np.allclose(r.distances, true, rtol=1e-4, atol=1e-5):
                            problems.append((rnd, qi, r.ids.tolist(), r.distances.tolist(), "wrong dist"))
            except BaseException:
                errors_seen.append(traceback.format_exc())

        ts = [threading.Thread(target=searcher, args=(s,), daemon=True) for s in range(2)]
        for t in ts:
            t.start()
        try:
            for b in range(n_pre, n_pre + n_add, batch):
                idx.add(base[b:b + batch], threads=1 if rnd % 2 else 0)
        finally:
            stop.set()
            for t in ts:
                t.join(timeout=60)
        assert not any(t.is_alive() for t in ts), "searcher thread hung (deadlock?)"
        assert len(idx) == n_pre + n_add
    assert not errors_seen, "\n".join(errors_seen)
    assert not problems, f"{len(problems)} bad search results during add, e.g. {problems[:3]}"


def test_concurrent_searches_match_sequential():
    """4 Python threads searching the same index at once get exactly the single-threaded answers."""
    base, queries = make_clustered(3000, DIM, n_queries=40, seed=210)
    idx = Index(DIM, seed=0)
    idx.add(base)
    ref = idx.search(queries, k=10, threads=1)
    errors_seen, outs = [], [None] * 4

    def worker(w):
        try:
            got = []
            for rep in range(10):
                if (rep + w) % 2:
                    got.append(idx.search(queries, k=10, threads=1))
                else:
                    got.append(idx.search(queries, k=10, threads=0))
            outs[w] = got
        except BaseException:
            errors_seen.append(traceback.format_exc())

    ts = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in ts)
    assert not errors_seen, "\n".join(errors_seen)
    for got in outs:
        for r in got:
            np.testing.assert_array_equal(r.ids, ref.ids)
            np.testing.assert_array_equal(r.distances, ref.distances)


# ----------------------------------------------------------------------------- (2) batch vs single
@pytest.mark.parametrize("metric", METRICS)
def test_batch_threads0_equals_per_query_threads1(metric):
    base, queries = make_clustered(3000, DIM, n_queries=64, seed=220)
    idx = Index(DIM, metric=metric, seed=0)
    idx.add(base)
    batch = idx.search(queries, k=10, threads=0)
    for i in range(len(queries)):
        one = idx.search(queries[i], k=10, threads=1)
        np.testing.assert_array_equal(one.ids, batch.ids[i])
        np.testing.assert_array_equal(one.distances, batch.distances[i])


# ----------------------------------------------------------------------------- (3) determinism
def _build(base, metric, seed):
    idx = Index(DIM, metric=metric, seed=seed, M=12, ef_construction=100)
    idx.add(base[:1500], threads=1)
    idx.add(base[1500:], threads=1)
    return idx


@pytest.mark.parametrize("metric", METRICS)
def test_single_thread_builds_are_deterministic(metric):
    base, queries = make_clustered(3000, DIM, n_queries=50, seed=230)
    a = _build(base, metric, seed=11)
    b = _build(base, metric, seed=11)
    sa, sb = graph_stats(a), graph_stats(b)
    assert {"count", "max_level", "level_counts", "mean_degree_level0"} <= set(sa)
    assert sa == sb, (sa, sb)
    for ef in (10, 64):
        ra = a.search(queries, k=10, ef=ef, threads=1)
        rb = b.search(queries, k=10, ef=ef, threads=1)
        assert np.array_equal(ra.ids, rb.ids)
        assert np.array_equal(ra.distances, rb.distances)
    # a different seed still builds a valid index (it may or may not differ)
    c = _build(base, metric, seed=12)
    assert c.stats()["count"] == 3000


# ----------------------------------------------------------------------------- verify under load
def test_verify_while_adding_and_searching():
    """verify() checks every invariant of the live graph; it waits for running adds, so it never
    sees a half-linked batch, and it never fails on an honest index."""
    base, queries = make_clustered(3000, DIM, n_clusters=20, n_queries=50, seed=7)
    idx = Index(DIM, metric="cosine", M=8, ef_construction=40, seed=0)
    idx.add(base[:500])
    errors, verified, stop = [], [0], threading.Event()

    def adder():
        try:
            for start in range(500, 3000, 250):
                idx.add(base[start:start + 250], threads=2)
        except Exception:
            errors.append(traceback.format_exc())
        finally:
            stop.set()

    def checker():
        try:
            while not stop.is_set():
                idx.verify()
                verified[0] += 1
        except Exception:
            errors.append(traceback.format_exc())

    def searcher():
        try:
            while not stop.is_set():
                ids, _ = idx.search(queries, k=5)
                assert (ids >= 0).all()
        except Exception:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=f) for f in (adder, checker, searcher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[0]
    assert verified[0] >= 1 and len(idx) == 3000
    idx.verify()

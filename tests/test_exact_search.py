"""search(..., exact=True): every live vector compared, the true k nearest returned, equal distances
ordered by the smaller id; checked against float64 numpy references for each metric, across thread
counts, with tombstones, after a round trip, and for its bad input."""

from __future__ import annotations

import numpy as np
import pytest

import vsearch
from vsearch.errors import DimensionMismatchError, InvalidParameterError, InvalidVectorError

from conftest import distance_matrix, random_vectors
from helpers import RELOADS, reload
from test_metric_custom import l1
from test_metric_snr import snr_matrix

DIM = 24
# Float32 kernels against float64 references: distances agree to this, and ranks may swap only
# between distances closer than it.
RTOL, ATOL = 1e-4, 1e-5


def reference_matrix(queries, base, metric: str) -> np.ndarray:
    if metric == "snr":
        return snr_matrix(queries, base)
    if metric == "l1":
        return np.abs(np.asarray(queries, np.float64)[:, None, :] - np.asarray(base, np.float64)[None]).sum(-1)
    return distance_matrix(queries, base, metric)


def make_index(metric: str, n: int, seed: int = 0):
    """n random vectors under shuffled ids, half of them negative; the index, its vectors and their ids."""
    base = random_vectors(n, DIM, seed=seed)
    ids = np.random.default_rng(seed).permutation(n).astype(np.int64) * 3 - 3 * (n // 2) + 1  # never -1
    index = vsearch.Index(DIM, l1 if metric == "l1" else metric, M=8, ef_construction=32, seed=seed)
    index.add(base, ids=ids, threads=1)
    return index, base, ids


def assert_exact(result, queries, base, ids, metric: str, k: int) -> None:
    """The result holds the true k nearest of each query (up to float32 near-ties), nearest first,
    no id twice, padded with -1/inf past the number of vectors."""
    matrix = reference_matrix(queries, base, metric)
    row_of = {int(i): r for r, i in enumerate(ids)}
    found = min(k, len(base))
    for q in range(len(queries)):
        got_ids, got = result.ids[q], result.distances[q].astype(np.float64)
        assert (got_ids[found:] == -1).all() and np.isinf(got[found:]).all()
        rows = np.array([row_of[int(i)] for i in got_ids[:found]])
        assert len(set(rows.tolist())) == found
        np.testing.assert_allclose(got[:found], matrix[q, rows], rtol=RTOL, atol=ATOL)
        assert (np.diff(got[:found]) >= 0).all()
        kth = np.sort(matrix[q])[found - 1]
        slack = RTOL * abs(kth) + ATOL
        assert (matrix[q, rows] <= kth + slack).all()
        assert set(np.flatnonzero(matrix[q] < kth - slack).tolist()) <= set(rows.tolist())


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine", "snr", "l1"])
@pytest.mark.parametrize("k", [1, 10, 150])
def test_exact_returns_the_true_neighbours(metric, k):
    index, base, ids = make_index(metric, 120, seed=3)
    queries = random_vectors(15, DIM, seed=4)
    assert_exact(index.search(queries, k=k, exact=True), queries, base, ids, metric, k)


def test_a_single_query_gets_1d_results():
    index, base, ids = make_index("l2", 50)
    query = random_vectors(1, DIM, seed=9)
    one = index.search(query[0], k=5, exact=True)
    assert one.ids.shape == (5,)
    batch = index.search(query, k=5, exact=True)
    np.testing.assert_array_equal(one.ids, batch.ids[0])
    np.testing.assert_array_equal(one.distances, batch.distances[0])


def test_every_thread_count_gives_the_same_results():
    index, _, _ = make_index("cosine", 400, seed=5)
    queries = random_vectors(64, DIM, seed=6)
    first = index.search(queries, k=12, exact=True, threads=1)
    for threads in (2, 3, 8):
        again = index.search(queries, k=12, exact=True, threads=threads)
        np.testing.assert_array_equal(again.ids, first.ids)
        np.testing.assert_array_equal(again.distances, first.distances)


def test_equal_distances_go_to_the_smaller_id():
    """Copies of the same vectors under ids in no order: bit-identical distances, ranked by id."""
    points = random_vectors(4, DIM, seed=7)
    base = np.repeat(points, 5, axis=0)
    ids = np.random.default_rng(7).permutation(len(base)).astype(np.int64) - 2 * len(base)
    index = vsearch.Index(DIM)
    index.add(base, ids=ids, threads=1)
    result = index.search(points, k=len(base), exact=True)
    for q in range(len(points)):
        for start in range(0, len(base), 5):
            group = result.ids[q, start:start + 5]
            assert (result.distances[q, start:start + 5] == result.distances[q, start]).all()
            np.testing.assert_array_equal(group, np.sort(group))
        assert set(result.ids[q, :5].tolist()) == set(ids[q * 5:q * 5 + 5].tolist())


def test_removed_vectors_are_never_returned_and_the_rest_is_exact():
    index, base, ids = make_index("l2", 200, seed=8)
    index.consolidate_fraction = 1.0
    gone = ids[::3]
    index.remove(gone)                          # tombstones
    live = np.setdiff1d(np.arange(200), np.arange(200)[::3])
    queries = random_vectors(10, DIM, seed=10)
    result = index.search(queries, k=20, exact=True)
    assert not set(result.ids.ravel().tolist()) & set(gone.tolist())
    assert_exact(result, queries, base[live], ids[live], "l2", 20)
    index.consolidate()                         # free slots
    again = index.search(queries, k=20, exact=True)
    np.testing.assert_array_equal(again.ids, result.ids)
    np.testing.assert_array_equal(again.distances, result.distances)


@pytest.mark.parametrize("how", RELOADS)
def test_exact_search_after_a_round_trip(how, tmp_path):
    index, base, ids = make_index("ip", 80, seed=11)
    queries = random_vectors(6, DIM, seed=12)
    loaded = reload(index, how, tmp_path)
    np.testing.assert_array_equal(loaded.search(queries, k=7, exact=True).ids,
                                  index.search(queries, k=7, exact=True).ids)


def test_an_empty_index_pads_every_row():
    result = vsearch.Index(DIM).search(random_vectors(3, DIM), k=4, exact=True)
    assert (result.ids == -1).all() and np.isinf(result.distances).all()


def test_graph_search_at_full_width_agrees_with_exact():
    """A beam as wide as the index explores every reachable vector: the two answers coincide."""
    index, _, _ = make_index("l2", 300, seed=13)
    queries = random_vectors(20, DIM, seed=14)
    exact = index.search(queries, k=10, exact=True)
    graph = index.search(queries, k=10, ef=300)
    np.testing.assert_array_equal(graph.ids, exact.ids)


@pytest.mark.parametrize("exact", [1, "yes", None, np.bool_(True)])
def test_exact_must_be_a_bool(exact):
    index, _, _ = make_index("l2", 10)
    with pytest.raises(InvalidParameterError, match="exact must be True or False"):
        index.search(random_vectors(1, DIM)[0], k=1, exact=exact)


def test_exact_takes_no_ef():
    index, _, _ = make_index("l2", 10)
    with pytest.raises(InvalidParameterError, match="takes no ef"):
        index.search(random_vectors(1, DIM)[0], k=1, exact=True, ef=50)


@pytest.mark.parametrize("k", [0, -1])
def test_exact_refuses_k_below_one(k):
    index, _, _ = make_index("l2", 10)
    with pytest.raises(InvalidParameterError):
        index.search(random_vectors(1, DIM)[0], k=k, exact=True)


def test_exact_refuses_bad_queries_and_changes_nothing():
    index, _, _ = make_index("l2", 10)
    before = bytes(index)
    with pytest.raises(InvalidVectorError):
        index.search(np.full(DIM, np.nan, np.float32), k=1, exact=True)
    with pytest.raises(DimensionMismatchError):
        index.search(np.zeros(DIM + 1, np.float32), k=1, exact=True)
    assert bytes(index) == before


def test_exact_finds_what_a_narrow_graph_search_misses():
    """With a beam of 1 on a sparse graph the walk stops at local minima; exact=True does not walk."""
    base = random_vectors(2000, DIM, seed=15)
    queries = random_vectors(100, DIM, seed=16)
    index = vsearch.Index(DIM, M=4, ef_construction=16, ef=1, seed=15)
    index.add(base, threads=1)
    truth = reference_matrix(queries, base, "l2").argmin(1)
    assert (index.search(queries, k=1).ids[:, 0] != truth).any()
    np.testing.assert_array_equal(index.search(queries, k=1, exact=True).ids[:, 0], truth)


def test_a_single_query_splits_the_vectors_among_threads_and_merges_them_exactly():
    """One query on 12,000 vectors: each thread scans a share of the slots. Copies of the first
    half stand in the second half under smaller ids, so every tie crosses the split."""
    half = random_vectors(6000, 8, seed=17)
    base = np.concatenate([half, half])
    ids = np.concatenate([np.arange(6000, 12000), np.arange(6000)]).astype(np.int64)
    index = vsearch.Index(8, M=4, ef_construction=8)
    index.add(base, ids=ids, threads=2)
    query = random_vectors(1, 8, seed=18)[0]
    one = index.search(query, k=40, exact=True, threads=1)
    for threads in (2, 3):
        split = index.search(query, k=40, exact=True, threads=threads)
        np.testing.assert_array_equal(split.ids, one.ids)
        np.testing.assert_array_equal(split.distances, one.distances)
    pairs = one.ids.reshape(20, 2)                  # each distance twice: the copy's smaller id first
    np.testing.assert_array_equal(pairs[:, 0] + 6000, pairs[:, 1])
    truth = np.argsort(((half.astype(np.float64) - query) ** 2).sum(1), kind="stable")[:20]
    np.testing.assert_array_equal(pairs[:, 0], truth)


def test_no_queries_give_empty_results():
    index, _, _ = make_index("l2", 10)
    result = index.search(np.zeros((0, DIM), np.float32), k=3, exact=True)
    assert result.ids.shape == (0, 3) and result.distances.shape == (0, 3)

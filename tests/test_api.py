"""Public API behaviour of vsearch.Index on small indexes."""
import re

import numpy as np
import pytest

import vsearch
from vsearch import Index, SearchResult
from conftest import METRICS, brute_force, make_clustered, pair_distances, random_vectors

DIM = 8


@pytest.fixture(scope="module")
def data500():
    base, queries = make_clustered(500, DIM, n_clusters=10, n_queries=20, seed=3)
    return base, queries


@pytest.fixture(scope="module", params=METRICS)
def index500(request, data500):
    base, _ = data500
    idx = Index(DIM, metric=request.param, seed=0)
    idx.add(base)
    return idx


# ----------------------------------------------------------------------------- shapes / padding
@pytest.mark.parametrize("metric", METRICS)
def test_k_larger_than_index_pads_with_minus_one_and_inf(metric):
    x = random_vectors(5, DIM, seed=1)
    idx = Index(DIM, metric=metric)
    idx.add(x)
    q = random_vectors(3, DIM, seed=2)
    ids, dist = idx.search(q, k=12)
    assert ids.shape == (3, 12) and dist.shape == (3, 12)
    assert ids.dtype == np.int64 and dist.dtype == np.float32
    for i in range(3):
        # all 5 real points come first, sorted ascending, with the exact distances
        assert sorted(ids[i, :5].tolist()) == [0, 1, 2, 3, 4]
        assert np.all(np.isfinite(dist[i, :5]))
        assert np.all(np.diff(dist[i, :5]) >= 0)
        np.testing.assert_allclose(dist[i, :5], pair_distances(x, q[i], ids[i, :5][None], metric)[0],
                                   rtol=1e-4, atol=1e-5)
        # then padding
        assert np.all(ids[i, 5:] == -1)
        assert np.all(np.isposinf(dist[i, 5:]))
    # 1-D query: same, with shape (k,)
    ids1, dist1 = idx.search(q[0], k=12)
    assert ids1.shape == (12,) and dist1.shape == (12,)
    np.testing.assert_array_equal(ids1, ids[0])
    np.testing.assert_array_equal(dist1, dist[0])


@pytest.mark.parametrize("metric", METRICS)
def test_empty_index_search_returns_padding(metric):
    idx = Index(4, metric=metric)
    assert len(idx) == 0
    ids, dist = idx.search(np.ones((3, 4), np.float32), k=5)
    assert ids.shape == (3, 5) and dist.shape == (3, 5)
    assert np.all(ids == -1) and np.all(np.isposinf(dist))
    ids1, dist1 = idx.search(np.ones(4, np.float32), k=2)
    assert ids1.shape == (2,) and np.all(ids1 == -1) and np.all(np.isposinf(dist1))


def test_single_vector_index():
    idx = Index(3)
    out = idx.add(np.array([1.0, 2.0, 3.0], np.float32))
    np.testing.assert_array_equal(out, [0])
    ids, dist = idx.search(np.array([1.0, 2.0, 5.0], np.float32), k=3)
    np.testing.assert_array_equal(ids, [0, -1, -1])
    assert dist[0] == pytest.approx(4.0, abs=1e-6)
    assert np.isposinf(dist[1]) and np.isposinf(dist[2])
    ids, dist = idx.search(np.array([1.0, 2.0, 3.0], np.float32), k=1)
    np.testing.assert_array_equal(ids, [0])
    assert dist[0] == 0.0


def test_k_equal_to_len_returns_every_point_exactly():
    x = random_vectors(30, DIM, seed=4)
    idx = Index(DIM)
    idx.add(x)
    q = random_vectors(4, DIM, seed=5)
    ids, dist = idx.search(q, k=30)
    gt_ids, gt_dist = brute_force(x, q, 30, "l2")
    for i in range(4):
        assert sorted(ids[i].tolist()) == list(range(30))
    np.testing.assert_allclose(dist, gt_dist, rtol=1e-4, atol=1e-5)


def test_one_row_2d_query_keeps_2d_shape(index500, data500):
    _, q = data500
    ids, dist = index500.search(q[:1], k=4)
    assert ids.shape == (1, 4) and dist.shape == (1, 4)


def test_1d_add_and_search_shapes():
    idx = Index(DIM)
    v = random_vectors(1, DIM, seed=6)[0]
    ids = idx.add(v)
    assert isinstance(ids, np.ndarray) and ids.dtype == np.int64 and ids.shape == (1,)
    assert ids[0] == 0 and len(idx) == 1
    assert idx.get(0).shape == (DIM,)
    r = idx.search(v, k=1)
    assert r.ids.shape == (1,) and r.distances.shape == (1,)
    assert r.ids[0] == 0 and r.distances[0] == 0.0


# ----------------------------------------------------------------------------- ids
def test_auto_ids_continue_across_adds():
    idx = Index(DIM)
    a = idx.add(random_vectors(10, DIM, seed=7))
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a, np.arange(10))
    b = idx.add(random_vectors(5, DIM, seed=8))
    np.testing.assert_array_equal(b, np.arange(10, 15))
    assert len(idx) == 15
    assert all(i in idx for i in range(15)) and 15 not in idx


def test_auto_ids_after_explicit_ids_start_at_max_plus_one():
    idx = Index(DIM)
    np.testing.assert_array_equal(idx.add(random_vectors(2, DIM, seed=9), ids=[100, 200]), [100, 200])
    np.testing.assert_array_equal(idx.add(random_vectors(2, DIM, seed=10)), [201, 202])
    np.testing.assert_array_equal(idx.add(random_vectors(1, DIM, seed=11), ids=[7]), [7])
    np.testing.assert_array_equal(idx.add(random_vectors(1, DIM, seed=12)), [203])
    assert len(idx) == 6


def test_explicit_int64_ids_large_and_negative():
    labels = np.array([2**62 + 3, -(2**62), 123, -5, 2**40, 0], dtype=np.int64)
    x = random_vectors(len(labels), DIM, seed=13)
    idx = Index(DIM)
    out = idx.add(x, ids=labels)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, labels)
    for lab, v in zip(labels.tolist(), x):
        assert lab in idx
        np.testing.assert_array_equal(idx.get(lab), v)
    # each vector's nearest neighbour is itself, reported with its own (large/negative) label
    ids, dist = idx.search(x, k=1)
    np.testing.assert_array_equal(ids[:, 0], labels)
    assert np.all(dist[:, 0] == 0.0)
    assert 1 not in idx and -1 not in idx and 2**62 not in idx


@pytest.mark.parametrize("ids", [[5, 6, 7], (5, 6, 7), np.array([5, 6, 7], np.int32),
                                 np.array([5, 6, 7], np.uint16)], ids=["list", "tuple", "int32", "uint16"])
def test_ids_in_other_integer_containers_are_accepted(ids):
    idx = Index(DIM)
    out = idx.add(random_vectors(3, DIM, seed=14), ids=ids)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [5, 6, 7])
    assert len(idx) == 3 and 6 in idx


# ----------------------------------------------------------------------------- get
@pytest.mark.parametrize("metric", METRICS)
def test_get_returns_exact_user_vectors(metric):
    rng = np.random.default_rng(15)
    # non-unit, irregular float32 values: any normalisation or rounding would show
    x = (rng.standard_normal((40, DIM)) * rng.uniform(0.1, 50, (40, 1))).astype(np.float32)
    idx = Index(DIM, metric=metric)
    idx.add(x)
    got = idx.get(list(range(40)))
    assert got.dtype == np.float32 and got.shape == (40, DIM)
    # bit-identical, not just close
    np.testing.assert_array_equal(got.view(np.uint32), x.view(np.uint32))
    order = [39, 0, 17, 17, 3]
    np.testing.assert_array_equal(idx.get(order), x[order])
    np.testing.assert_array_equal(idx.get(np.array(order, np.int64)), x[order])
    one = idx.get(17)
    assert one.shape == (DIM,) and one.dtype == np.float32
    np.testing.assert_array_equal(one, x[17])


def test_get_returned_array_is_a_copy():
    x = random_vectors(3, DIM, seed=16)
    idx = Index(DIM)
    idx.add(x)
    g = idx.get([1])
    try:
        g[...] = 99.0
    except ValueError:
        pass                               # read-only views are fine too
    np.testing.assert_array_equal(idx.get(1), x[1])


# ----------------------------------------------------------------------------- input conversion
def test_float64_float16_int_and_list_inputs_are_converted():
    rng = np.random.default_rng(17)
    x64 = rng.standard_normal((6, DIM))
    x16 = rng.standard_normal((6, DIM)).astype(np.float16)
    xi = rng.integers(-50, 50, (6, DIM))
    xl = rng.integers(-5, 5, (6, DIM)).astype(float).tolist()
    idx = Index(DIM)
    a = idx.add(x64)
    b = idx.add(x16)
    c = idx.add(xi)
    d = idx.add(xl)
    e = idx.add(xi[0].astype(np.int32).tolist())                   # 1-D list
    assert len(idx) == 25
    np.testing.assert_array_equal(idx.get(a.tolist()), x64.astype(np.float32))
    np.testing.assert_array_equal(idx.get(b.tolist()), x16.astype(np.float32))
    np.testing.assert_array_equal(idx.get(c.tolist()), xi.astype(np.float32))
    np.testing.assert_array_equal(idx.get(d.tolist()), np.array(xl, np.float32))
    np.testing.assert_array_equal(idx.get(int(e[0])), xi[0].astype(np.float32))


def test_search_accepts_float64_int_and_list_queries(index500, data500):
    _, q = data500
    ref = index500.search(q[:5], k=5)
    for conv in (q[:5].astype(np.float64), q[:5].tolist()):
        r = index500.search(conv, k=5)
        np.testing.assert_array_equal(r.ids, ref.ids)
        np.testing.assert_allclose(r.distances, ref.distances, rtol=1e-6, atol=1e-6)
    qi = np.round(q[:3] * 10).astype(np.int64)
    ri = index500.search(qi, k=3)
    rf = index500.search(qi.astype(np.float32), k=3)
    np.testing.assert_array_equal(ri.ids, rf.ids)


def test_fast_and_checked_search_paths_agree(index500, data500):
    # Plain ints and a float32 array take search()'s fast path; numpy ints take the checked one.
    _, q = data500
    for query in (q[0], q[:4]):
        fast = index500.search(query, k=5, ef=32, threads=1)
        checked = index500.search(query, k=np.int64(5), ef=np.int64(32), threads=np.int64(1))
        assert type(fast) is SearchResult and type(checked) is SearchResult
        assert fast.ids.shape == checked.ids.shape == query.shape[:-1] + (5,)
        np.testing.assert_array_equal(fast.ids, checked.ids)
        np.testing.assert_array_equal(fast.distances, checked.distances)


def test_non_contiguous_input_is_handled():
    x = random_vectors(10, 2 * DIM, seed=18)
    strided = x[:, ::2]                       # not C-contiguous
    fortran = np.asfortranarray(random_vectors(10, DIM, seed=19))
    idx = Index(DIM)
    a = idx.add(strided)
    b = idx.add(fortran)
    np.testing.assert_array_equal(idx.get(a.tolist()), np.ascontiguousarray(strided))
    np.testing.assert_array_equal(idx.get(b.tolist()), fortran)
    r1 = idx.search(strided[:3], k=1)
    np.testing.assert_array_equal(r1.ids[:, 0], a[:3])


# ----------------------------------------------------------------------------- small protocol
def test_contains_and_len():
    idx = Index(DIM)
    assert len(idx) == 0 and 0 not in idx
    idx.add(random_vectors(4, DIM, seed=20), ids=[3, 9, 27, 81])
    assert len(idx) == 4
    assert 9 in idx and 81 in idx
    assert 0 not in idx and 10 not in idx
    assert (5 in idx) is False and (3 in idx) is True


def test_properties_defaults_and_custom():
    idx = Index(12)
    assert idx.dim == 12 and idx.metric == "l2"
    assert idx.M == 16 and idx.ef_construction == 200 and idx.ef == 64 and idx.seed == 0
    idx2 = Index(5, metric="cosine", M=8, ef_construction=50, ef=20, seed=7)
    assert (idx2.dim, idx2.metric, idx2.M, idx2.ef_construction, idx2.ef, idx2.seed) == \
        (5, "cosine", 8, 50, 20, 7)
    assert Index(3, "ip").metric == "ip"


def test_ef_setter_and_ef_below_k_still_returns_k(index500, data500):
    _, q = data500
    old = index500.ef
    try:
        index500.ef = 1
        assert index500.ef == 1
        ids, dist = index500.search(q, k=10)            # ef_eff = max(ef, k)
        assert np.all(ids >= 0) and np.all(np.isfinite(dist))
        index500.ef = 300
        assert index500.ef == 300
        # per-call ef does not change the stored value
        index500.search(q, k=10, ef=20)
        assert index500.ef == 300
    finally:
        index500.ef = old
    assert index500.ef == old


def test_repr_mentions_dim_metric_count():
    idx = Index(13, metric="cosine")
    idx.add(random_vectors(7, 13, seed=21))
    r = repr(idx)
    assert "Index(" in r and re.search(r"\b13\b", r) and "cosine" in r and re.search(r"\b7\b", r), r


def test_stats_keys_and_sanity():
    x = make_clustered(2000, 16, seed=22)
    idx = Index(16, M=16, seed=0)
    idx.add(x)
    s = idx.stats()
    assert isinstance(s, dict)
    for key in ("count", "max_level", "level_counts", "mean_degree_level0"):
        assert key in s, key
    assert s["count"] == 2000 == len(idx)
    lc = list(s["level_counts"])
    assert len(lc) == s["max_level"] + 1
    assert sum(lc) == 2000 and all(c >= 0 for c in lc) and lc[-1] >= 1
    # level ~ floor(-ln U / ln M): P(top level 0) = 1 - 1/M = 0.9375 (+-3.5 sigma ~ 0.92..0.96)
    assert 0.90 <= lc[0] / 2000 <= 0.97, lc
    assert 1 <= s["max_level"] <= 6, s["max_level"]
    # level 0 keeps up to 2*M links; a connected graph has at least 1 per node on average
    assert 1.0 <= s["mean_degree_level0"] <= 2 * 16, s["mean_degree_level0"]


def test_stats_empty_index():
    s = Index(4).stats()
    assert s["count"] == 0 and sum(s["level_counts"]) == 0


def test_memory_usage_grows():
    idx = Index(32)
    m0 = idx.memory_usage().total
    assert isinstance(m0, int) and m0 > 0
    idx.add(random_vectors(100, 32, seed=23))
    m1 = idx.memory_usage().total
    idx.add(random_vectors(2000, 32, seed=24))
    m2 = idx.memory_usage().total
    assert m0 <= m1 < m2, (m0, m1, m2)
    assert m2 >= 2100 * 32 * 4            # at least the raw vectors


def test_search_result_namedtuple(index500, data500):
    _, q = data500
    res = index500.search(q, k=3)
    assert isinstance(res, SearchResult) and isinstance(res, tuple) and len(res) == 2
    ids, dists = res
    assert ids is res.ids and dists is res.distances
    assert res[0] is res.ids and res[1] is res.distances
    assert ids.dtype == np.int64 and dists.dtype == np.float32
    assert vsearch.SearchResult is SearchResult


def test_results_sorted_ascending_and_match_metric(index500, data500):
    base, q = data500
    ids, dist = index500.search(q, k=10)
    assert np.all(ids >= 0)
    assert np.all(np.diff(dist, axis=1) >= 0)
    np.testing.assert_allclose(dist, pair_distances(base, q, ids, index500.metric), rtol=1e-4, atol=1e-5)
    # no id returned twice for one query
    for row in ids:
        assert len(set(row.tolist())) == 10


def test_small_index_search_is_exact(index500, data500):
    """500 points, ef=500 >= n: HNSW visits everything reachable, so results equal brute force."""
    base, q = data500
    ids, dist = index500.search(q, k=10, ef=500)
    _, gt_dist = brute_force(base, q, 10, index500.metric)
    np.testing.assert_allclose(dist, gt_dist, rtol=1e-4, atol=1e-5)


def test_search_threads_1_equals_threads_0(index500, data500):
    _, q = data500
    a = index500.search(q, k=10, threads=1)
    b = index500.search(q, k=10, threads=0)
    c = index500.search(q, k=10, threads=2)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.ids, c.ids)
    np.testing.assert_array_equal(a.distances, c.distances)


def test_add_threads_argument_accepted():
    x = random_vectors(300, DIM, seed=25)
    for t in (0, 1, 2):
        idx = Index(DIM)
        out = idx.add(x, threads=t)
        np.testing.assert_array_equal(out, np.arange(300))
        assert len(idx) == 300
        ids, _ = idx.search(x[:20], k=1)
        assert (ids[:, 0] == np.arange(20)).mean() >= 0.95


@pytest.mark.parametrize("metric", METRICS)
def test_cosine_scale_invariance_and_ip_definition(metric):
    """cosine ignores vector length; ip distance is 1 - <q,x> on the raw (unnormalised) vectors."""
    x = random_vectors(50, DIM, seed=26)
    q = random_vectors(3, DIM, seed=27)
    idx = Index(DIM, metric=metric)
    idx.add(x)
    ids, dist = idx.search(q, k=5, ef=100)
    if metric == "cosine":
        ids2, dist2 = idx.search(q * 37.5, k=5, ef=100)
        np.testing.assert_array_equal(ids, ids2)
        np.testing.assert_allclose(dist, dist2, rtol=1e-4, atol=1e-5)
    if metric == "ip":
        expect = 1.0 - np.einsum("qkd,qd->qk", x[ids].astype(np.float64), q.astype(np.float64))
        np.testing.assert_allclose(dist, expect, rtol=1e-4, atol=1e-5)

"""The SNR metric: ``d(q, x) = var(x - q) / var(q)`` (population variance over each vector's own
coordinates; the query q is the anchor, so the distance is asymmetric).

Covers the native kernel at every SIMD level against a float64 numpy reference, exact ranking and
exact distances of the index, recall on synthetic and real data, rejection of constant vectors,
exact ``get`` and every persistence path.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import vsearch
from vsearch import _core
from vsearch.errors import InvalidParameterError, InvalidVectorError

from conftest import graph_stats, load_dataset, make_clustered
from helpers import available_levels, require_level, place_vector, tolerant_recall, assert_same_ranking, assert_same_search

ALL_LEVELS = ("scalar", "avx2", "avx512")
# SNR needs at least two coordinates for a nonzero variance.
DIMS = [2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 127, 128, 384, 768, 1000]
RTOL = 1e-5


# ----------------------------------------------------------------------------- references
def snr_matrix(queries, base) -> np.ndarray:
    """Exact (float64) SNR distances (Q, N): var(x - q) / var(q), population variance."""
    Q = np.atleast_2d(np.asarray(queries, np.float64))
    B = np.atleast_2d(np.asarray(base, np.float64))
    Qc = Q - Q.mean(1, keepdims=True)
    Bc = B - B.mean(1, keepdims=True)
    # var(x - q) * dim = |xc - qc|^2; computed exactly per pair (no expanded-form cancellation).
    out = np.empty((Q.shape[0], B.shape[0]))
    for i in range(Q.shape[0]):
        out[i] = ((Bc - Qc[i]) ** 2).sum(1)
    return out / (Qc ** 2).sum(1)[:, None]


def snr_definition(q, x) -> float:
    """The metric exactly as documented, for one pair (np.var, ddof=0)."""
    q = np.asarray(q, np.float64)
    x = np.asarray(x, np.float64)
    return float(np.var(x - q) / np.var(q))


def exact_topk(D: np.ndarray, k: int):
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(D, order, axis=1)


# ----------------------------------------------------------------------------- kernel
def _pair(dim: int, seed: int, kind: str):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        a, b = rng.standard_normal(dim), rng.standard_normal(dim)
    elif kind == "positive":
        a, b = rng.uniform(0.5, 1.5, dim), rng.uniform(0.5, 1.5, dim)
    elif kind == "offset":  # large common mean, small variance: the centring must be accurate
        a, b = 100.0 + rng.standard_normal(dim), 97.0 + 2.0 * rng.standard_normal(dim)
    elif kind == "scaled":  # query and vector of very different variance
        a, b = 1e-2 * rng.standard_normal(dim), 1e2 * rng.standard_normal(dim) + 5.0
    else:
        raise ValueError(kind)
    if dim == 2:  # avoid the (vanishingly unlikely) a0 == a1 constant query
        a[1] = a[0] + 1.0
    return a.astype(np.float32), b.astype(np.float32)


def _reference(a: np.ndarray, b: np.ndarray) -> float:
    A, B = a.astype(np.float64), b.astype(np.float64)
    return float(np.var(B - A) / np.var(A))


@pytest.mark.parametrize("kind", ["normal", "positive", "offset", "scaled"])
@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_matches_reference(level, aligned, kind):
    """All terms of var(x - q) are squares, so the plain relative error is well conditioned."""
    require_level(level)
    for dim in DIMS:
        for rep in range(3):
            a64, b64 = _pair(dim, 31 * dim + rep + (0 if aligned else 7), kind)
            a, b = place_vector(a64, aligned), place_vector(b64, aligned)
            got = _core.distance("snr", a, b, level)
            assert isinstance(got, float)
            ref = _reference(a, b)
            assert abs(got - ref) <= RTOL * ref, (level, kind, dim, aligned, got, ref)


@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_query_is_the_anchor(level):
    """d(a, b) = var(b - a) / var(a): the first argument is the query; swapping changes it."""
    require_level(level)
    rng = np.random.default_rng(3)
    for dim in DIMS:
        a = (0.1 * rng.standard_normal(dim)).astype(np.float32)
        b = (3.0 * rng.standard_normal(dim)).astype(np.float32)
        if dim == 2:
            a[1] = a[0] + 0.1
        got_ab = _core.distance("snr", a, b, level)
        got_ba = _core.distance("snr", b, a, level)
        assert abs(got_ab - _reference(a, b)) <= RTOL * _reference(a, b)
        assert abs(got_ba - _reference(b, a)) <= RTOL * _reference(b, a)
        assert got_ab > 10 * got_ba, (dim, got_ab, got_ba)


def _varied_pair(rng: np.random.Generator, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Two random float32 vectors; the first never constant (a 2-d draw could come close)."""
    q = rng.standard_normal(dim).astype(np.float32)
    x = rng.standard_normal(dim).astype(np.float32)
    if dim == 2:
        q[1] = q[0] + 1.0
    return q, x


@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_invariances(level):
    """d(q, q) == 0; d(q, x + c) == d(q, x) for a constant shift c (variance ignores the mean);
    d(s q, s x) == d(q, x) (scale invariance)."""
    require_level(level)
    rng = np.random.default_rng(4)
    for dim in DIMS:
        q, x = _varied_pair(rng, dim)
        assert abs(_core.distance("snr", q, q.copy(), level)) <= 1e-6, (dim,)
        base = _core.distance("snr", q, x, level)
        shifted = _core.distance("snr", q, (x + np.float32(4.0)).astype(np.float32), level)
        scaled = _core.distance("snr", (4 * q).astype(np.float32), (4 * x).astype(np.float32), level)
        assert abs(shifted - base) <= 1e-5 * base, (dim, base, shifted)
        assert abs(scaled - base) <= 1e-5 * base, (dim, base, scaled)


def test_levels_agree_with_each_other():
    levels = available_levels()
    rng = np.random.default_rng(42)
    for dim in DIMS:
        a, b = _varied_pair(rng, dim)
        vals = [_core.distance("snr", a, b, lv) for lv in levels]
        assert max(vals) - min(vals) <= 2e-5 * max(vals), (dim, dict(zip(levels, vals)))


# ----------------------------------------------------------------------------- index: exactness
def _small_set(seed=0, n=500, dim=24, n_queries=40):
    base, queries = make_clustered(n, dim, n_clusters=10, spread=0.6, n_queries=n_queries, seed=seed)
    return base, queries


def test_exact_ranking_and_distances_at_full_beam():
    """With ef >= n on 500 points, the index returns the exact SNR top-10, and its distances are
    the metric's definition (np.var)."""
    base, queries = _small_set()
    index = vsearch.Index(base.shape[1], metric="snr", seed=3)
    assert index.metric == "snr" and index.metric_params is None
    index.add(base, threads=1)
    ids, dist = index.search(queries, k=10, ef=len(base), threads=1)
    assert ids.dtype == np.int64 and dist.dtype == np.float32
    D = snr_matrix(queries, base)
    ref_ids, ref_dist = exact_topk(D, 10)
    assert_same_ranking(ids, ref_ids, D)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4)
    for i in range(0, len(queries), 7):  # spot-check against the literal definition
        for j in range(10):
            assert dist[i, j] == pytest.approx(snr_definition(queries[i], base[ids[i, j]]), rel=1e-4)
    # ascending order
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_every_returned_distance_is_the_definition():
    """Not only the ranking: each (query, id) distance equals var(x - q) / var(q), with q the
    query.  Queries of small variance and base rows of large variance make the asymmetry big."""
    rng = np.random.default_rng(11)
    dim = 16
    base = (rng.standard_normal((2000, dim)) * rng.uniform(0.5, 3.0, (2000, 1)) + rng.normal(0, 5, (2000, 1)))
    queries = rng.standard_normal((60, dim)) * 0.2 + 1.0
    base, queries = base.astype(np.float32), queries.astype(np.float32)
    index = vsearch.Index(dim, metric="snr", seed=1)
    index.add(base)
    ids, dist = index.search(queries, k=20, ef=64)
    assert np.all(ids >= 0)
    D = snr_matrix(queries, base)
    exact = np.take_along_axis(D, ids, axis=1)
    np.testing.assert_allclose(dist, exact, rtol=1e-4, atol=1e-6)
    # it is not the swapped (vector-anchored) version
    swapped = np.array([[snr_definition(base[ids[i, j]], queries[i]) for j in range(3)] for i in range(5)])
    assert not np.allclose(dist[:5, :3], swapped, rtol=1e-2)


def test_snr_is_not_l2():
    """On data where mean offsets and scales dominate, SNR neighbours differ from l2 ones (the
    metric really is used, not silently replaced)."""
    rng = np.random.default_rng(5)
    base = (rng.standard_normal((300, 8)) + rng.normal(0, 10, (300, 1))).astype(np.float32)
    q = (rng.standard_normal((10, 8))).astype(np.float32)
    snr = vsearch.Index(8, metric="snr")
    snr.add(base)
    l2 = vsearch.Index(8, metric="l2")
    l2.add(base)
    a, _ = snr.search(q, k=5, ef=300)
    b, _ = l2.search(q, k=5, ef=300)
    assert not np.array_equal(a, b)
    ref_ids, _ = exact_topk(snr_matrix(q, base), 5)
    assert_same_ranking(a, ref_ids, snr_matrix(q, base))


# ----------------------------------------------------------------------------- recall
def _assert_snr_recall(base: np.ndarray, queries: np.ndarray, seed: int) -> None:
    """recall@10 >= 0.98 at ef=128 against brute-force SNR, and distances equal to the definition."""
    index = vsearch.Index(base.shape[1], metric="snr", seed=seed)
    index.add(base)
    ids, dist = index.search(queries, k=10, ef=128)
    D = snr_matrix(queries, base)
    recall = tolerant_recall(ids, D, 10)
    assert recall >= 0.98, recall
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=1e-4, atol=1e-6)


def test_recall_clustered():
    base, queries = make_clustered(10_000, 32, n_clusters=50, n_queries=200, seed=21)
    _assert_snr_recall(base, queries, seed=2)


def test_recall_digits():
    """Real data: the digits images (pixel values 0..16), SNR ground truth by brute force."""
    data = load_dataset("digits")
    base, queries = data["base"].astype(np.float32), data["queries"].astype(np.float32)
    _assert_snr_recall(base, queries, seed=0)


# ----------------------------------------------------------------------------- constant vectors
def _built(seed=0):
    base, _ = _small_set(seed, n=300, dim=12, n_queries=1)
    index = vsearch.Index(12, metric="snr", seed=seed)
    index.add(base, threads=1)
    return index, base


@pytest.mark.parametrize("constant", [0.0, 1.0, -3.5, 1e6])
def test_constant_vector_rejected_and_index_unchanged(constant):
    index, base = _built()
    before = graph_stats(index)
    probe = base[:5] + 0.01
    res_before = index.search(probe, k=5)
    bad = np.full(12, constant, np.float32)
    batch = np.stack([base[0] + 1, bad, base[1] + 1]).astype(np.float32)
    with pytest.raises(InvalidVectorError, match="variance"):
        index.add(batch)
    with pytest.raises(InvalidVectorError, match="variance"):
        index.add(batch, ids=[1000, 1001, 1002])
    with pytest.raises(InvalidVectorError, match="variance"):
        index.add(bad)
    assert len(index) == len(base)
    assert graph_stats(index) == before
    for id_ in (300, 1000, 1001, 1002):
        assert id_ not in index
    res_after = index.search(probe, k=5)
    assert np.array_equal(res_before.ids, res_after.ids)
    assert np.array_equal(res_before.distances, res_after.distances)
    # the index still works: the good rows can be added afterwards
    assert index.add(batch[[0, 2]], ids=[1000, 1002]).tolist() == [1000, 1002]
    assert len(index) == len(base) + 2


@pytest.mark.parametrize("constant", [0.0, 2.0, -1e4])
def test_constant_query_rejected(constant):
    index, base = _built(1)
    q = np.full(12, constant, np.float32)
    with pytest.raises(InvalidVectorError, match="variance"):
        index.search(q, k=3)
    batch = np.stack([base[3], q, base[4]])
    with pytest.raises(InvalidVectorError, match="variance"):
        index.search(batch, k=3)
    with pytest.raises(InvalidVectorError):
        index.search(batch, k=3, threads=2)
    # normal queries still work afterwards
    ids, _ = index.search(base[3], k=1, ef=300)
    assert ids[0] == 3


def test_constant_query_on_empty_index_rejected():
    index = vsearch.Index(4, metric="snr")
    with pytest.raises(InvalidVectorError):
        index.search(np.ones(4, np.float32), k=1)


def test_tiny_but_nonzero_variance_is_accepted():
    """A vector with a small but genuine variance relative to its mean is a valid vector."""
    index = vsearch.Index(4, metric="snr")
    v = np.array([1.0, 1.001, 0.999, 1.0], np.float32)
    index.add(v)
    ids, dist = index.search(v, k=1)
    assert ids[0] == 0 and abs(dist[0]) <= 1e-5


# ----------------------------------------------------------------------------- get / persistence
def test_get_returns_vectors_exactly_as_added():
    """SNR centres vectors internally; get() must still return the input bits."""
    rng = np.random.default_rng(8)
    data = np.concatenate([
        rng.standard_normal((100, 9)) * 1e-1 + 1e3,            # large mean, small variance
        rng.standard_normal((100, 9)) * 1e3,
        rng.uniform(-1, 1, (100, 9)) + np.float32(np.pi),
    ]).astype(np.float32)
    index = vsearch.Index(9, metric="snr")
    ids = index.add(data, ids=np.arange(300) * 3 + 1)
    got = index.get(ids)
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), data.view(np.uint32))
    assert np.array_equal(index.get(int(ids[17])), data[17])
    # float64 input is converted once to float32 and stored as such
    index2 = vsearch.Index(9, metric="snr")
    index2.add(data.astype(np.float64))
    assert np.array_equal(index2.get(np.arange(300)), data)


def _persistence_index():
    base, queries = make_clustered(1500, 20, n_clusters=20, n_queries=30, seed=4)
    index = vsearch.Index(20, metric="snr", M=8, ef_construction=80, ef=33, seed=9)
    index.add(base[:1000], threads=1)
    index.add(base[1000:], ids=np.arange(1000, 1500) * 5 + 2, threads=1)
    return index, base, queries


def _round_trip(index, method, tmp_path):
    if method == "file":
        path = tmp_path / "snr.vsx"
        index.save(path)
        return vsearch.load(path)
    if method == "file_metric":
        path = tmp_path / "snr.vsx"
        index.save(str(path))
        return vsearch.load(str(path), metric="snr")
    if method == "mmap":
        path = tmp_path / "snr.vsx"
        index.save(path)
        return vsearch.load(path, mmap=True, verify=True)
    if method == "bytes":
        return vsearch.Index.from_bytes(bytes(index))
    if method == "pickle":
        return pickle.loads(pickle.dumps(index))
    if method == "copy":
        return index.copy()
    raise AssertionError(method)


@pytest.mark.parametrize("method", ["file", "file_metric", "mmap", "bytes", "pickle", "copy"])
def test_round_trip_identical(method, tmp_path):
    index, base, queries = _persistence_index()
    loaded = _round_trip(index, method, tmp_path)
    assert loaded.metric == "snr" and loaded.metric_params is None
    assert (loaded.dim, loaded.M, loaded.ef_construction, loaded.ef, loaded.seed) == (20, 8, 80, 33, 9)
    assert len(loaded) == len(index)
    assert loaded.read_only is (method == "mmap")
    assert graph_stats(loaded) == graph_stats(index)
    assert_same_search(index, loaded, queries)
    ids = np.concatenate([np.arange(1000), np.arange(1000, 1500) * 5 + 2])
    assert np.array_equal(loaded.get(ids), base)
    assert bytes(loaded) == bytes(index)
    loaded.verify()
    # constant vectors are still rejected after a load
    with pytest.raises(InvalidVectorError):
        loaded.search(np.zeros(20, np.float32), k=1)
    if method.startswith(("file", "mmap")):
        assert vsearch.info(tmp_path / "snr.vsx")["metric"] == "snr"


def test_loaded_index_accepts_adds(tmp_path):
    index, base, queries = _persistence_index()
    path = tmp_path / "snr.vsx"
    index.save(path)
    loaded = vsearch.load(path)
    new = (queries + 0.5).astype(np.float32)
    new_ids = loaded.add(new)
    assert new_ids[0] == 1499 * 5 + 2 + 1
    ids, dist = loaded.search(new, k=1, ef=200)
    assert np.array_equal(ids[:, 0], new_ids)
    assert np.all(np.abs(dist) <= 1e-5)
    with pytest.raises(InvalidVectorError):
        loaded.add(np.full(20, 7.0, np.float32))


def test_load_with_a_different_metric_is_rejected(tmp_path):
    index, _, _ = _persistence_index()
    path = tmp_path / "snr.vsx"
    index.save(path)
    with pytest.raises(InvalidParameterError, match="snr"):
        vsearch.load(path, metric="l2")


def test_metric_params_not_accepted():
    with pytest.raises(InvalidParameterError):
        vsearch.Index(8, metric="snr", metric_params={"x": 1})

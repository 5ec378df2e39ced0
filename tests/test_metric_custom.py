"""Custom metrics: a numba ``@cfunc("float32(CPointer(float32), CPointer(float32), intp)")``
wrapped in :class:`vsearch.CustomMetric` (or compiled by the ``@vsearch.metric(name)`` decorator),
called by the native index from C++ threads without the GIL.

Covers the kernel path, exact ranking and distances, recall, multi-threaded add and search,
rejection of non-cfuncs and wrong signatures, persistence (metric passed again on load) and
pickling.
"""
from __future__ import annotations

import gc
import pickle

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from numba import cfunc  # noqa: E402

import vsearch  # noqa: E402
from vsearch import _core  # noqa: E402
from vsearch.errors import InvalidParameterError  # noqa: E402

from conftest import graph_stats, load_dataset, make_clustered  # noqa: E402
from helpers import tolerant_recall, assert_same_ranking

ALL_LEVELS = ("scalar", "avx2", "avx512")
DIMS = [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 127, 128, 384, 768, 1000]
SIGNATURE = "float32(CPointer(float32), CPointer(float32), intp)"


# ----------------------------------------------------------------------------- metrics
def l1_distance(a, b, n):
    total = numba.float32(0.0)
    for i in range(n):
        total += abs(a[i] - b[i])
    return total


l1 = vsearch.metric("l1")(l1_distance)


@cfunc(SIGNATURE)
def raw_l1(a, b, n):
    total = numba.float32(0.0)
    for i in range(n):
        total += abs(a[i] - b[i])
    return total


@vsearch.metric("query_weighted_l1")
def query_weighted_l1(a, b, n):
    """Asymmetric: sum |a_i - b_i| * (1 + |a_i|), a = query."""
    total = numba.float32(0.0)
    for i in range(n):
        total += abs(a[i] - b[i]) * (numba.float32(1.0) + abs(a[i]))
    return total


@vsearch.metric("first_of_query")
def first_of_query(a, b, n):
    """a[0] - 2 b[0]: tells which argument is the query."""
    return a[0] - numba.float32(2.0) * b[0]


def l1_matrix(queries, base) -> np.ndarray:
    Q = np.atleast_2d(np.asarray(queries, np.float64))
    B = np.atleast_2d(np.asarray(base, np.float64))
    return np.stack([np.abs(B - q).sum(1) for q in Q])


def weighted_l1_matrix(queries, base) -> np.ndarray:
    Q = np.atleast_2d(np.asarray(queries, np.float64))
    B = np.atleast_2d(np.asarray(base, np.float64))
    return np.stack([(np.abs(B - q) * (1.0 + np.abs(q))).sum(1) for q in Q])


# ----------------------------------------------------------------------------- the wrapper
def test_decorator_builds_a_custom_metric():
    assert isinstance(l1, vsearch.CustomMetric)
    assert l1.name == "l1"
    assert isinstance(l1.address, int) and l1.address != 0
    assert "l1" in repr(l1)
    a = np.array([1, 2, 3], np.float32).ctypes
    b = np.array([1, 0, 5], np.float32).ctypes
    assert l1.function.ctypes(a.data_as(l1.function.ctypes.argtypes[0]),
                              b.data_as(l1.function.ctypes.argtypes[1]), 3) == pytest.approx(4.0)


def test_names():
    assert vsearch.CustomMetric(raw_l1).name == "raw_l1"
    assert vsearch.CustomMetric(raw_l1, name="manhattan").name == "manhattan"

    @vsearch.metric()
    def unnamed(a, b, n):
        return abs(a[0] - b[0])

    assert unnamed.name == "unnamed"
    assert vsearch.Index(4, metric=l1).metric == "l1"
    assert vsearch.Index(4, metric=vsearch.CustomMetric(raw_l1, name="manhattan")).metric == "manhattan"
    index = vsearch.Index(4, metric=raw_l1)  # a bare cfunc of the right signature is accepted
    assert index.metric == "raw_l1"
    assert isinstance(index.metric_params, vsearch.CustomMetric)
    assert vsearch.Index(4, metric=l1).metric_params is l1


# ----------------------------------------------------------------------------- rejections
def plain_l1(a, b, n):
    return float(np.abs(np.asarray(a[:n]) - np.asarray(b[:n])).sum())


@cfunc("float64(CPointer(float64), CPointer(float64), intp)")
def float64_metric(a, b, n):
    return 0.0


@cfunc("float32(CPointer(float32), CPointer(float32), int32)")
def int32_length_metric(a, b, n):
    return numba.float32(0.0)


@cfunc("float32(CPointer(float32), CPointer(float32))")
def two_argument_metric(a, b):
    return a[0]


@numba.njit
def jitted(a, b, n):
    return 0.0


@pytest.mark.parametrize("function", [plain_l1, lambda a, b, n: 0.0, jitted, np.linalg.norm],
                         ids=["plain_function", "lambda", "njit", "builtin"])
def test_non_cfunc_rejected_with_a_clear_message(function):
    with pytest.raises(InvalidParameterError, match=r"cfunc") as info:
        vsearch.CustomMetric(function)
    assert "float32(CPointer(float32), CPointer(float32), intp)" in str(info.value)
    assert "vsearch.metric" in str(info.value)  # says how to fix it
    with pytest.raises(InvalidParameterError, match=r"cfunc"):
        vsearch.Index(8, metric=function)


@pytest.mark.parametrize("function", [float64_metric, int32_length_metric, two_argument_metric],
                         ids=["float64", "int32_length", "two_arguments"])
def test_wrong_signature_rejected_with_a_clear_message(function):
    with pytest.raises(InvalidParameterError, match=r"signature") as info:
        vsearch.CustomMetric(function)
    assert "float32(CPointer(float32), CPointer(float32), intp)" in str(info.value)
    with pytest.raises(InvalidParameterError, match=r"signature"):
        vsearch.Index(8, metric=function)


def test_custom_is_not_a_string_metric():
    """A custom metric is passed as an object; the strings "custom" or its name are not metrics."""
    with pytest.raises(vsearch.errors.VSearchError):
        vsearch.Index(8, metric="custom")
    with pytest.raises(vsearch.errors.VSearchError):
        vsearch.Index(8, metric="l1")


# ----------------------------------------------------------------------------- kernel path
@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_calls_the_function(level):
    if level not in vsearch.available_simd_levels():
        pytest.skip(f"SIMD level {level!r} not supported on this CPU")
    for dim in DIMS:
        params = _core.make_params(dim, "custom", custom_address=l1.address, simd=level)
        rng = np.random.default_rng(dim)
        buf = rng.standard_normal(2 * dim + 1).astype(np.float32)
        for a, b in [(buf[:dim], buf[dim:2 * dim]), (buf[1:dim + 1], buf[dim + 1:])]:  # aligned-ish, unaligned
            got = _core.distance(params, a, b)
            ref = float(np.abs(a.astype(np.float64) - b).sum())
            assert abs(got - ref) <= 1e-5 * ref, (level, dim, got, ref)
    params = _core.make_params(4, "custom", custom_address=first_of_query.address, simd=level)
    q = np.array([3.0, 1, 1, 1], np.float32)
    x = np.array([0.5, 9, 9, 9], np.float32)
    assert _core.distance(params, q, x) == pytest.approx(2.0)  # 3 - 2 * 0.5: the query comes first
    assert _core.distance(params, x, q) == pytest.approx(-5.5)


def test_kernel_needs_an_address():
    with pytest.raises(ValueError):
        _core.make_params(4, "custom")


# ----------------------------------------------------------------------------- index
def test_exact_ranking_and_distances_at_full_beam():
    """ef >= n on 500 points: identical top-10 as brute-force L1 and distances equal to it."""
    base, queries = make_clustered(500, 24, n_clusters=10, spread=0.6, n_queries=40, seed=1)
    index = vsearch.Index(24, metric=l1, seed=1)
    index.add(base, threads=1)
    ids, dist = index.search(queries, k=10, ef=500, threads=1)
    D = l1_matrix(queries, base)
    ref = np.argsort(D, axis=1, kind="stable")[:, :10]
    assert_same_ranking(ids, ref, D)
    np.testing.assert_allclose(dist, np.take_along_axis(D, ref, 1), rtol=1e-5)


def test_every_returned_distance_is_the_definition():
    """Asymmetric custom metric: each distance is f(query, vector), never f(vector, query)."""
    base, queries = make_clustered(3000, 16, n_clusters=20, spread=0.5, n_queries=50, seed=2)
    index = vsearch.Index(16, metric=query_weighted_l1, seed=2)
    index.add(base)
    assert index.metric == "query_weighted_l1"
    ids, dist = index.search(queries, k=20, ef=64)
    assert np.all(ids >= 0)
    D = weighted_l1_matrix(queries, base)
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=1e-5)
    swapped = weighted_l1_matrix(base, queries).T
    assert np.max(np.abs(dist - np.take_along_axis(swapped, ids, 1))) > 1e-2
    assert tolerant_recall(ids, D, 10) >= 0.98


def test_recall_clustered_multithreaded_build():
    base, queries = make_clustered(10_000, 32, n_clusters=50, n_queries=200, seed=3)
    index = vsearch.Index(32, metric=l1, seed=3)
    index.add(base, threads=0)  # native threads call the compiled function without the GIL
    assert len(index) == 10_000
    ids, dist = index.search(queries, k=10, ef=128, threads=0)
    D = l1_matrix(queries, base)
    recall = tolerant_recall(ids, D, 10)
    assert recall >= 0.98, recall
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=1e-5)


def test_recall_digits():
    """Real data: L1 on the digits images, exact ground truth by brute force."""
    data = load_dataset("digits")
    base, queries = data["base"].astype(np.float32), data["queries"].astype(np.float32)
    index = vsearch.Index(base.shape[1], metric=l1, seed=0)
    index.add(base)
    ids, dist = index.search(queries, k=10, ef=128)
    D = l1_matrix(queries, base)
    recall = tolerant_recall(ids, D, 10)
    assert recall >= 0.98, recall
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=1e-5)


def test_multithreaded_search_equals_single_threaded():
    base, queries = make_clustered(4000, 32, n_clusters=30, n_queries=200, seed=4)
    index = vsearch.Index(32, metric=l1, seed=4)
    index.add(base, threads=0)
    one = index.search(queries, k=10, ef=64, threads=1)
    for threads in (0, 2, 4):
        many = index.search(queries, k=10, ef=64, threads=threads)
        assert np.array_equal(one.ids, many.ids), threads
        assert np.array_equal(one.distances, many.distances), threads
    # single queries one by one give the same rows
    for i in range(0, 200, 40):
        ids, dist = index.search(queries[i], k=10, ef=64)
        assert np.array_equal(ids, one.ids[i]) and np.array_equal(dist, one.distances[i])


def test_single_threaded_build_is_deterministic():
    base = make_clustered(1000, 16, n_clusters=10, seed=5)
    a = vsearch.Index(16, metric=l1, seed=7)
    b = vsearch.Index(16, metric=l1, seed=7)
    a.add(base, threads=1)
    b.add(base, threads=1)
    assert bytes(a) == bytes(b)


def test_index_keeps_the_compiled_function_alive():
    def build():
        temporary_l1 = vsearch.metric("temporary_l1")(l1_distance)  # a compilation only the index holds
        index = vsearch.Index(8, metric=temporary_l1)
        index.add(np.random.default_rng(6).standard_normal((200, 8)).astype(np.float32), threads=0)
        return index

    index = build()
    gc.collect()
    q = np.random.default_rng(7).standard_normal((20, 8)).astype(np.float32)
    ids, dist = index.search(q, k=5, ef=200, threads=0)
    D = l1_matrix(q, index.get(np.arange(200)))
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=1e-5)


def test_get_returns_vectors_exactly_as_added():
    data = np.random.default_rng(8).standard_normal((100, 5)).astype(np.float32) * 1e3
    index = vsearch.Index(5, metric=l1)
    index.add(data, ids=np.arange(100) * 11)
    assert np.array_equal(index.get(np.arange(100) * 11), data)


# ----------------------------------------------------------------------------- persistence
def _persistence_index():
    base, queries = make_clustered(1200, 16, n_clusters=15, n_queries=30, seed=9)
    index = vsearch.Index(16, metric=l1, M=8, ef_construction=80, ef=29, seed=9)
    index.add(base, threads=1)
    return index, base, queries


def _assert_same(index, loaded, queries):
    assert loaded.metric == "l1"
    assert loaded.metric_params is l1
    assert graph_stats(loaded) == graph_stats(index)
    a, b = index.search(queries, k=10), loaded.search(queries, k=10)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.distances, b.distances)
    assert bytes(loaded) == bytes(index)


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
def test_save_and_load_with_the_metric(mmap, tmp_path):
    index, base, queries = _persistence_index()
    path = tmp_path / "custom.vsx"
    index.save(path)
    info = vsearch.info(path)
    assert info["metric"] == "custom" and info["metric_params"] == {"name": "l1"}
    loaded = vsearch.load(path, metric=l1, mmap=mmap)
    _assert_same(index, loaded, queries)
    assert loaded.read_only is mmap
    loaded.verify()
    assert np.array_equal(loaded.get(np.arange(len(base))), base)
    if not mmap:  # it keeps working as an index: adds use the custom function
        new_ids = loaded.add(queries)
        ids, dist = loaded.search(queries, k=1, ef=100)
        assert np.array_equal(ids[:, 0], new_ids) and np.all(dist == 0)


def test_load_without_the_metric_names_it(tmp_path):
    index, _, _ = _persistence_index()
    path = tmp_path / "custom.vsx"
    index.save(path)
    for mmap in (False, True):
        with pytest.raises(InvalidParameterError, match="'l1'") as info:
            vsearch.load(path, mmap=mmap)
        assert "metric=" in str(info.value)
    with pytest.raises(InvalidParameterError, match="'l1'"):
        vsearch.Index.from_bytes(bytes(index))
    with pytest.raises(InvalidParameterError, match="'l1'"):
        vsearch.load(path, metric="l2")


def test_load_with_a_differently_named_metric_rejected(tmp_path):
    index, _, _ = _persistence_index()
    path = tmp_path / "custom.vsx"
    index.save(path)
    other = vsearch.CustomMetric(raw_l1, name="manhattan")
    with pytest.raises(InvalidParameterError, match="manhattan") as info:
        vsearch.load(path, metric=other)
    assert "l1" in str(info.value)
    with pytest.raises(InvalidParameterError):
        vsearch.Index.from_bytes(bytes(index), metric=other)
    # the same name (even from another CustomMetric object) is accepted
    same_name = vsearch.CustomMetric(raw_l1, name="l1")
    loaded = vsearch.load(path, metric=same_name)
    assert loaded.metric == "l1" and loaded.metric_params is same_name


def test_custom_metric_rejected_for_a_builtin_metric_file(tmp_path):
    index = vsearch.Index(16, metric="snr")
    index.add(np.random.default_rng(0).standard_normal((50, 16)).astype(np.float32))
    path = tmp_path / "snr.vsx"
    index.save(path)
    with pytest.raises(InvalidParameterError):
        vsearch.load(path, metric=l1)


def test_from_bytes_and_copy(tmp_path):
    index, _, queries = _persistence_index()
    _assert_same(index, vsearch.Index.from_bytes(bytes(index), metric=l1), queries)
    _assert_same(index, index.copy(), queries)
    path = tmp_path / "custom.vsx"
    index.save(path)
    mapped = vsearch.load(path, metric=l1, mmap=True)
    copied = mapped.copy()
    assert not copied.read_only
    _assert_same(index, copied, queries)


def test_pickle_raises_type_error():
    index, _, _ = _persistence_index()
    with pytest.raises(TypeError, match="custom"):
        pickle.dumps(index)
    empty = vsearch.Index(4, metric=l1)
    with pytest.raises(TypeError):
        pickle.dumps(empty)

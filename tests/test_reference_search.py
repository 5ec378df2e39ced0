"""The optimised graph walk against the reference search kept beside it.

`_core.Index.search_reference` is HNSW's search as the paper writes it (two heaps, a
std::vector<bool> visited set, no pool, prefetch or epochs; csrc/graph/reference_search.cpp).
On the same graph (float32 or half rows) the optimised walk must return exactly its ids and distances: unfiltered,
past tombstones, under a filter (the graph plan), on a memory-mapped file, for one query
and in batches (the kernels themselves are checked at every SIMD level in test_kernels.py). Data are continuous, so no two distances tie.
"""

import numpy as np
import pytest

import vsearch
from conftest import make_clustered, random_vectors

METRICS = ("l2", "ip", "cosine", "snr")
DIM = 24
QUERIES = 60
K = 10


def reference(index: vsearch.Index, query: np.ndarray, k: int, ef: int, allowed=None):
    ids = None if allowed is None else np.asarray(allowed, dtype=np.int64)
    return index._core.search_reference(query, k, ef, ids)


def assert_same_as_reference(index, queries, k, ef, allowed=None, **search):
    found = index.search(queries, k, ef=ef, **search)
    for i, query in enumerate(queries):
        ids, distances = reference(index, query, k, ef, allowed)
        np.testing.assert_array_equal(found.ids[i], ids, err_msg=f"query {i}")
        np.testing.assert_array_equal(found.distances[i], distances, err_msg=f"query {i}")


def build(metric: str, n: int = 2500, seed: int = 0, M: int = 8, storage: str = "float32") -> vsearch.Index:
    base = make_clustered(n, DIM, seed=seed)
    index = vsearch.Index(DIM, metric, M=M, ef_construction=64, seed=seed, storage=storage)
    index.add(base)
    return index


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("ef", [1, 16, 80])
@pytest.mark.parametrize("storage", vsearch.STORAGES)
def test_unfiltered_walk_equals_reference(metric, ef, storage):
    index = build(metric, storage=storage)
    assert index.stats()["max_level"] >= 2  # the descent through upper levels is exercised too
    assert_same_as_reference(index, random_vectors(QUERIES, DIM, seed=1), K, ef)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("storage", vsearch.STORAGES)
def test_walk_past_tombstones_equals_reference(metric, storage):
    index = build(metric, seed=2, storage=storage)
    rng = np.random.default_rng(3)
    index.remove(rng.choice(len(index), 700, replace=False))
    assert_same_as_reference(index, random_vectors(QUERIES, DIM, seed=4), K, 32)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("share", [0.5, 0.05])
def test_filtered_walk_equals_reference(metric, share):
    index = build(metric, seed=5)
    rng = np.random.default_rng(6)
    index.remove(rng.choice(len(index), 200, replace=False))
    allowed = rng.choice(len(index) + 200, int(share * len(index)), replace=False)
    queries = random_vectors(QUERIES, DIM, seed=7)
    for flt in (allowed, index.prepare_filter(allowed)):
        assert_same_as_reference(index, queries, K, 32, allowed, filter=flt, plan="graph")


def test_single_queries_and_threads_equal_reference():
    index = build("l2", seed=8)
    queries = random_vectors(QUERIES, DIM, seed=9)
    assert_same_as_reference(index, queries, K, 24, threads=2)
    for query in queries[:10]:
        found = index.search(query, K, ef=24, threads=1)
        ids, distances = reference(index, query, K, 24)
        np.testing.assert_array_equal(found.ids, ids)
        np.testing.assert_array_equal(found.distances, distances)


def test_memory_mapped_walk_equals_reference(tmp_path):
    index = build("cosine", seed=10)
    index.remove(np.arange(0, len(index), 7))
    path = tmp_path / "index.vsx"
    index.save(path)
    mapped = vsearch.load(path, mmap=True)
    assert_same_as_reference(mapped, random_vectors(QUERIES, DIM, seed=11), K, 32)


def test_fewer_passing_than_k_pads_like_reference():
    index = build("l2", n=600, seed=12)
    allowed = [3, 50, 400]
    found = index.search(random_vectors(1, DIM, seed=13), K, ef=16, filter=allowed, plan="graph")
    ids, distances = reference(index, random_vectors(1, DIM, seed=13)[0], K, 16, allowed)
    np.testing.assert_array_equal(found.ids[0], ids)
    assert sorted(ids[:3]) == allowed and (ids[3:] == -1).all() and np.isinf(distances[3:]).all()


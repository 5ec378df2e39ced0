"""range_search: on small indexes with a beam as wide as the index it equals brute force (every
metric, with filters and tombstones); hits are nearest first, inside the radius, capped by
max_results; on a larger clustered set it finds most true hits at the default beam; bad input is
refused."""

from __future__ import annotations

import numpy as np
import pytest

import vsearch
from vsearch.errors import InvalidParameterError

from conftest import make_clustered, random_vectors
from test_exact_search import DIM, RTOL, ATOL, make_index, reference_matrix
from test_filtered_search import FILTER_KINDS, METRICS, passes_third

# Of the true hits, the share the default beam must find on the clustered set below (measured
# 0.97-0.99 at 10, 100 and 1,000 hits on average).
MIN_RANGE_RECALL = 0.93


def truth_within(queries, base, ids, metric: str, radius: float) -> list[set[int]]:
    matrix = reference_matrix(queries, base, metric)
    return [set(ids[row <= radius].tolist()) for row in matrix]


def assert_well_ordered(result, radius: float) -> None:
    assert result.offsets[0] == 0 and (np.diff(result.offsets) >= 0).all()
    assert result.offsets[-1] == len(result.ids) == len(result.distances)
    assert (result.distances <= radius).all()
    for q in range(len(result.offsets) - 1):
        hits = result.query(q)
        assert len(set(hits.ids.tolist())) == len(hits.ids)
        assert (np.diff(hits.distances) >= 0).all()


@pytest.mark.parametrize("metric", METRICS)
def test_a_beam_as_wide_as_the_index_finds_every_hit(metric):
    index, base, ids = make_index(metric, 200, seed=11)
    queries = random_vectors(10, DIM, seed=12)
    matrix = reference_matrix(queries, base, metric)
    for kth in (1, 10, 60):
        radius = float(np.median(np.sort(matrix, axis=1)[:, kth - 1]))
        result = index.range_search(queries, radius, ef=len(base))
        assert_well_ordered(result, radius)
        truth = truth_within(queries, base, ids, metric, radius)
        for q, expected in enumerate(truth):
            got = set(result.query(q).ids.tolist())
            # Float32 kernels: only hits within rounding of the radius may differ.
            slack = RTOL * abs(radius) + ATOL
            near_edge = set(ids[np.abs(matrix[q] - radius) <= slack].tolist())
            assert got ^ expected <= near_edge, (q, got ^ expected)


@pytest.mark.parametrize("kind", ["array", "cfunc", "python"])
def test_filters_apply_to_range_hits(kind):
    index, base, ids = make_index("l2", 300, seed=13)
    queries = random_vectors(6, DIM, seed=14)
    matrix = reference_matrix(queries, base, "l2")
    radius = float(np.median(np.sort(matrix, axis=1)[:, 40]))
    result = index.range_search(queries, radius, ef=300, filter=FILTER_KINDS[kind](ids))
    assert all(passes_third(int(i)) for i in result.ids)
    mask = (ids // 3) % 3 == 0
    truth = truth_within(queries, base[mask], ids[mask], "l2", radius)
    assert sum(len(t) for t in truth) > 0
    for q, expected in enumerate(truth):
        assert set(result.query(q).ids.tolist()) == expected


def test_per_query_filters_and_max_results():
    index, base, ids = make_index("l2", 300, seed=15)
    queries = random_vectors(3, DIM, seed=16)
    lists = [ids[:100], ids[100:200], ids[200:]]
    radius = 1.01 * float(np.max(reference_matrix(queries, base, "l2")))  # every vector is a hit
    result = index.range_search(queries, radius, ef=300, filter=lists)
    # A sparse graph (M=8) can leave a node that no link reaches; no walk finds it.
    reachable = set(index.search(queries[0], k=300, ef=300).ids.tolist()) - {-1}
    for q, allowed in enumerate(lists):
        assert set(result.query(q).ids.tolist()) == set(allowed.tolist()) & reachable
    capped = index.range_search(queries, radius, ef=300, filter=lists, max_results=7)
    np.testing.assert_array_equal(capped.counts, [7, 7, 7])
    for q in range(3):
        np.testing.assert_array_equal(capped.query(q).ids, result.query(q).ids[:7])


def test_removed_vectors_are_never_hits_but_still_lead_to_hits():
    base, queries = make_clustered(2000, 16, n_queries=20, seed=17)
    index = vsearch.Index(16, M=8, ef_construction=64, seed=1)
    index.add(base)
    index.consolidate_fraction = 1.0
    removed = np.arange(0, 2000, 2)
    index.remove(removed)
    matrix = reference_matrix(queries, base, "l2")
    radius = float(np.median(np.sort(matrix[:, 1::2], axis=1)[:, 30]))
    result = index.range_search(queries, radius, ef=2000)
    assert not np.isin(result.ids, removed).any()
    truth = truth_within(queries, base[1::2], np.arange(1, 2000, 2), "l2", radius)
    assert sum(len(set(result.query(q).ids.tolist()) & t) for q, t in enumerate(truth)) == sum(map(len, truth))


def test_the_default_beam_finds_most_hits_on_clustered_data():
    base, queries = make_clustered(10_000, 32, n_queries=50, seed=18)
    index = vsearch.Index(32, seed=2)
    index.add(base)
    matrix = reference_matrix(queries, base, "l2")
    ids = np.arange(len(base))
    for kth in (10, 100, 1000):
        radius = float(np.mean(np.sort(matrix, axis=1)[:, kth - 1]))
        result = index.range_search(queries, radius)
        assert_well_ordered(result, radius)
        truth = truth_within(queries, base, ids, "l2", radius)
        found = sum(len(set(result.query(q).ids.tolist()) & t) for q, t in enumerate(truth))
        assert found / sum(map(len, truth)) >= MIN_RANGE_RECALL, kth


def test_a_negative_radius_works_where_distances_can_be_negative():
    index = vsearch.Index(2, "ip")
    index.add([[2.0, 0.0], [0.5, 0.0], [3.0, 0.0]])
    hits = index.range_search([1.0, 0.0], -1.5)  # 1 - <q, x> <= -1.5: only <q, x> >= 2.5
    np.testing.assert_array_equal(hits.ids, [2])
    np.testing.assert_allclose(hits.distances, [-2.0])


def test_edges_single_query_empty_index_and_radius_zero():
    index = vsearch.Index(2)
    empty = index.range_search([[0.0, 0.0]], 5.0)
    np.testing.assert_array_equal(empty.offsets, [0, 0])
    index.add([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]], ids=[4, 2, 9])
    exact = index.range_search([0.0, 0.0], 0.0)
    np.testing.assert_array_equal(exact.ids, [2, 4])  # equal distances by the smaller id
    everything = index.range_search(np.zeros((2, 2), np.float32), float("inf"))
    np.testing.assert_array_equal(everything.counts, [3, 3])


@pytest.mark.parametrize("kwargs, message", [
    ({"radius": -1.0}, "radius must be >= 0: l2 distances are never negative"),
    ({"radius": float("nan")}, "radius must be a number"),
    ({"radius": "1"}, "radius must be a number"),
    ({"radius": True}, "radius must be a number"),
    ({"radius": 1.0, "max_results": 0}, "max_results"),
    ({"radius": 1.0, "ef": 0}, "ef"),
    ({"radius": 1.0, "filter": 2.5}, "filter must be"),
    ({"radius": 1.0, "filter": [[1], [2]]}, "one list of ids per query"),
])
def test_bad_input_is_refused(kwargs, message):
    index, base, ids = make_index("l2", 50)
    with pytest.raises(InvalidParameterError, match=message):
        index.range_search(random_vectors(3, DIM, seed=1), **kwargs)

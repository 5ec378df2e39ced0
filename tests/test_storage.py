"""storage="float16": the graph built and searched on IEEE halves.

Distances are those of the halves (the vectors as stored, which `get` returns widened),
recall stays at float32's, every metric but a custom one works, the files round-trip
(plain, memory-mapped, bytes, pickle), values the halves cannot hold are refused with
nothing changed, and a file whose halves lie (NaN, padding, wrong row stride) is refused.
"""
import pickle

import numpy as np
import pytest

import vsearch
from vsearch.errors import IndexFormatError, InvalidParameterError, InvalidVectorError
from conftest import make_clustered, random_vectors
import format_tools as ft

DIM = 40  # not a multiple of 32: half rows carry padding
METRICS = ("l2", "ip", "cosine", "snr")


def as_stored(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32)


def numpy_distances(metric: str, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    q, x = q.astype(np.float64), x.astype(np.float64)
    if metric == "l2":
        return ((q[:, None, :] - x[None]) ** 2).sum(-1)
    if metric == "ip":
        return 1 - q @ x.T
    if metric == "cosine":
        return 1 - (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
    qc, xc = q - q.mean(1, keepdims=True), x - x.mean(1, keepdims=True)
    return ((qc[:, None, :] - xc[None]) ** 2).sum(-1) / (qc ** 2).sum(1)[:, None]


def half_index(metric: str = "l2", n: int = 2000, seed: int = 0):
    base, queries = make_clustered(n, DIM, n_queries=50, seed=seed)
    index = vsearch.Index(DIM, metric, M=12, ef_construction=100, storage="float16")
    index.add(base)
    return index, base, queries


@pytest.mark.parametrize("metric", METRICS)
def test_exact_search_equals_numpy_on_the_stored_halves(metric):
    index, base, queries = half_index(metric)
    found = index.search(queries, k=10, exact=True)
    want = numpy_distances(metric, queries, as_stored(base))
    order = np.argsort(want, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(found.ids, order)
    np.testing.assert_allclose(found.distances, np.take_along_axis(want, order, 1), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("metric", METRICS)
def test_graph_recall_matches_float32(metric):
    base, queries = make_clustered(4000, DIM, n_queries=100, seed=1)
    recalls = {}
    for storage in ("float32", "float16"):
        index = vsearch.Index(DIM, metric, M=12, ef_construction=100, storage=storage)
        index.add(base)
        truth = index.search(queries, k=10, exact=True).ids
        found = index.search(queries, k=10, ef=100).ids
        recalls[storage] = np.mean([len(set(a) & set(b)) for a, b in zip(found, truth)]) / 10
    assert recalls["float16"] >= 0.97 and recalls["float16"] >= recalls["float32"] - 0.01, recalls


def test_get_returns_the_vectors_as_stored_and_memory_halves():
    index, base, _ = half_index()
    np.testing.assert_array_equal(index.get(np.arange(10)), as_stored(base[:10]))
    twin = vsearch.Index(DIM, "l2", M=12, ef_construction=100)
    twin.add(base)
    assert index.storage == "float16" and index.stats()["storage"] == "float16" and twin.storage == "float32"
    # 40 floats pad to 48 (192 bytes), 40 halves to 64 (128 bytes).
    assert index.memory_usage().in_use < twin.memory_usage().in_use - 2000 * 60
    assert "storage='float16'" in repr(index)


def test_round_trips_keep_storage_and_results(tmp_path):
    index, _, queries = half_index("cosine")
    index.remove([1, 2, 3])
    path = tmp_path / "half.vsx"
    index.save(path)
    want = index.search(queries, k=10, ef=50)
    copies = [vsearch.load(path), vsearch.load(path, mmap=True, verify=True), vsearch.Index.from_bytes(bytes(index)),
              pickle.loads(pickle.dumps(index)), index.copy()]
    for again in copies:
        assert again.storage == "float16"
        got = again.search(queries, k=10, ef=50)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.distances, want.distances)
    assert vsearch.info(path)["format_version"] == (3, 0) and vsearch.info(path)["storage"] == "float16"


def test_changes_on_half_rows_keep_them_as_stored():
    index, base, queries = half_index()
    index.remove(np.arange(0, 2000, 3))
    index.upsert(base[:5] * 2, ids=[1, 2, 4, 5, 7])
    index.compact()
    index.verify()
    np.testing.assert_array_equal(index.get([1, 2]), as_stored(base[:2] * 2))
    found = index.search(queries, k=5, exact=True).ids
    assert not np.isin(found, np.arange(0, 2000, 3)[3:]).any()


def test_values_beyond_the_half_range_are_refused_and_change_nothing():
    index, _, _ = half_index(n=100)
    bad = random_vectors(3, DIM, seed=2)
    bad[1, 5] = 70000.0
    with pytest.raises(InvalidVectorError, match="65504"):
        index.add(bad)
    assert len(index) == 100
    ok = random_vectors(1, DIM, seed=3)
    ok[0, 0] = 65504.0
    index.add(ok)  # the largest half is fine
    assert index.get([100])[0, 0] == 65504.0


def test_bad_storage_arguments_raise():
    with pytest.raises(InvalidParameterError, match="float16"):
        vsearch.Index(DIM, storage="int8")
    with pytest.raises(InvalidParameterError, match="storage"):
        vsearch.Index(DIM, storage=16)
    numba = pytest.importorskip("numba")

    @numba.cfunc("float32(CPointer(float32), CPointer(float32), intp)")
    def manhattan(a, b, n):
        total = 0.0
        for i in range(n):
            total += abs(a[i] - b[i])
        return total

    with pytest.raises(InvalidParameterError, match="float32"):
        vsearch.Index(DIM, vsearch.CustomMetric(manhattan, name="manhattan"), storage="float16")


def half_file() -> ft.VsxFile:
    index, _, _ = half_index(n=300)
    index.remove([5])
    index.consolidate()
    return ft.parse(bytes(index))


def rejected(tmp_path, data: bytes) -> None:
    path = tmp_path / "bad.vsx"
    path.write_bytes(data)
    with pytest.raises(IndexFormatError):
        vsearch.load(path)
    with pytest.raises(IndexFormatError):
        vsearch.load(path, mmap=True, verify=True)


def test_hostile_half_rows_are_refused(tmp_path):
    f = half_file()
    assert f.descriptor["storage"] == "float16" and f.descriptor["row_stride"] == 64
    vectors = ft.section_array(f, "vectors")
    live = next(i for i in range(len(vectors)) if vectors[i].any())
    for name, change in [("nan", lambda v: v.__setitem__((live, 3), 0x7E00)),
                         ("inf", lambda v: v.__setitem__((live, 0), 0x7C00)),
                         ("padding", lambda v: v.__setitem__((live, DIM + 1), 0x3C00))]:
        bad = vectors.copy()
        change(bad)
        rejected(tmp_path, ft.with_sections(f, vectors=bad))
    rejected(tmp_path, ft.with_descriptor(f, row_stride=48))  # float32's stride for these rows
    rejected(tmp_path, ft.with_descriptor(f, storage="float32"))  # the rows are half as long

"""The GSSF metric: a learned structured bilinear similarity

    S(x, y) = sum_m w_m x_m y_m + sum_k x_{G_k}^T W_k y_{G_k}    (x, y L2-normalised)

i.e. x^T A y with A = diag(w) + blockdiag(W_k); the index serves 1 - S(q, x) (q = query; A is not
symmetric, so the order matters).

Covers the native kernel at every SIMD level against a float64 reference, the numpy reference
itself, exact distances and recall of the index, training (quality, determinism, history),
persistence of the weights, and invalid constructions.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import vsearch
from vsearch import _core
from vsearch.errors import InvalidParameterError, InvalidVectorError

from conftest import graph_stats, load_dataset, make_clustered
from helpers import require_level, place_vector, tolerant_recall, assert_same_search

ALL_LEVELS = ("scalar", "avx2", "avx512")
DIMS = [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 127, 128, 384, 768, 1000]
RTOL = 1e-5
EPS32 = float(np.finfo(np.float32).eps)


def block_for(dim: int) -> int:
    """The largest of 16, 8, 4, 2, 1 that divides dim."""
    return next(b for b in (16, 8, 4, 2, 1) if dim % b == 0)


def random_model(dim: int, block_size: int, seed: int = 0, scale: float = 0.1) -> vsearch.GSSF:
    """A non-trivial model: diagonal in [0.5, 1.5], small random (asymmetric) blocks."""
    rng = np.random.default_rng(seed)
    return vsearch.GSSF(
        dim,
        block_size,
        diagonal=rng.uniform(0.5, 1.5, dim),
        blocks=scale * rng.standard_normal((dim // block_size, block_size, block_size)),
    )


def dense_similarity(model: vsearch.GSSF, x, y) -> np.ndarray:
    """S by the dense matrix: unit(x) A unit(y)^T, float64."""
    X = np.atleast_2d(np.asarray(x, np.float64))
    Y = np.atleast_2d(np.asarray(y, np.float64))
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    return X @ model.matrix @ Y.T


def label_recall(S: np.ndarray, query_labels, base_labels, k: int = 10) -> float:
    """Fraction of each query's exact top-k (by similarity S, larger is closer) that share its label."""
    top = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return float((np.asarray(base_labels)[top] == np.asarray(query_labels)[:, None]).mean())


# ----------------------------------------------------------------------------- numpy reference
def test_reference_matches_dense_matrix():
    rng = np.random.default_rng(0)
    for dim, b in [(1, 1), (6, 3), (16, 4), (48, 16), (48, 48), (30, 1)]:
        model = random_model(dim, b, seed=dim, scale=0.3)
        A = model.matrix
        assert A.shape == (dim, dim)
        # the structure: diagonal + block diagonal, nothing outside the blocks
        mask = np.kron(np.eye(dim // b), np.ones((b, b))).astype(bool)
        assert np.all(A[~mask] == 0)
        assert np.allclose(np.diag(A), model.diagonal + np.concatenate([np.diag(W) for W in model.blocks]))
        x = rng.standard_normal((5, dim))
        y = rng.standard_normal((7, dim))
        S = model.similarity(x, y)
        assert S.shape == (5, 7)
        np.testing.assert_allclose(S, dense_similarity(model, x, y), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(model.distance(x, y), 1.0 - S, rtol=1e-12, atol=1e-12)
        # shapes of 1-D inputs
        assert isinstance(model.similarity(x[0], y[0]), float)
        assert model.similarity(x[0], y).shape == (7,)
        assert model.similarity(x, y[0]).shape == (5,)
        # scale invariance (L2-normalised inputs)
        np.testing.assert_allclose(model.similarity(3 * x, 0.5 * y), S, rtol=1e-12, atol=1e-12)


def test_identity_model_is_cosine():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 32)), rng.standard_normal((6, 32))
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (y / np.linalg.norm(y, axis=1, keepdims=True)).T
    np.testing.assert_allclose(vsearch.GSSF(32, 8).similarity(x, y), cos, rtol=1e-12, atol=1e-12)


def test_similarity_is_asymmetric():
    model = random_model(16, 8, seed=2, scale=0.5)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(16), rng.standard_normal(16)
    assert abs(model.similarity(x, y) - model.similarity(y, x)) > 1e-3


def test_weights_round_trip():
    for dim, b in [(1, 1), (12, 3), (64, 16), (100, 4)]:
        model = random_model(dim, b, seed=dim)
        w = model.weights()
        assert w.dtype == np.float32 and w.shape == (dim + dim * b,)
        assert np.array_equal(w[:dim], model.diagonal)
        assert np.array_equal(w[dim:], model.blocks.ravel())
        back = vsearch.GSSF.from_weights(dim, b, w)
        assert back.dim == dim and back.block_size == b
        assert np.array_equal(back.weights(), w)
        assert np.array_equal(back.matrix, model.matrix)
    with pytest.raises(InvalidParameterError):
        vsearch.GSSF.from_weights(8, 4, np.zeros(8 + 8 * 4 - 1, np.float32))


# ----------------------------------------------------------------------------- kernel
def _params(model: vsearch.GSSF, level: str):
    return _core.make_params(
        model.dim, "gssf",
        gssf_diagonal=np.ascontiguousarray(model.diagonal, np.float32),
        gssf_blocks=np.ascontiguousarray(model.blocks.ravel(), np.float32),
        gssf_block_size=model.block_size,
        simd=level,
    )


def _check_kernel(model, params, a, b, where):
    """|got - (1 - S)| <= RTOL * (sum |terms of S| + |S|) + 2 eps max(1, |1 - S|).

    S = sum_{ij in pattern} a_i A_ij b_j / (|a| |b|) can cancel to ~0 for mixed signs, so, as for
    the dot product kernels, its error is measured relative to the sum of the absolute terms
    (the condition-number scaling), plus one float32 rounding of the returned 1 - S."""
    A = model.matrix
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    S = float(a64 @ A @ b64) / (na * nb)
    terms = float(np.abs(a64) @ np.abs(A) @ np.abs(b64)) / (na * nb)
    ref = 1.0 - S
    got = _core.distance(params, a, b)
    assert isinstance(got, float)
    tol = RTOL * (terms + abs(S)) + 2 * EPS32 * max(1.0, abs(ref))
    assert abs(got - ref) <= tol, (*where, got, ref, tol)


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_matches_reference(level, dim, aligned):
    require_level(level)
    b = block_for(dim)
    model = random_model(dim, b, seed=dim, scale=0.2)
    params = _params(model, level)
    for rep in range(3):
        rng = np.random.default_rng(1000 * dim + 10 * rep + (0 if aligned else 5))
        for kind in ("normal", "positive"):
            if kind == "normal":
                x, y = rng.standard_normal(dim), rng.standard_normal(dim)
            else:
                x, y = rng.uniform(0.5, 1.5, dim), rng.uniform(0.5, 1.5, dim)
            a = place_vector(x.astype(np.float32), aligned)
            c = place_vector(y.astype(np.float32), aligned)
            _check_kernel(model, params, a, c, (level, dim, b, aligned, kind, rep))
            if kind == "positive":  # all terms positive: also a plain relative check of S
                S = model.similarity(a, c)
                assert abs((1.0 - _core.distance(params, a, c)) - S) <= RTOL * abs(S) + 2 * EPS32


@pytest.mark.parametrize("block_size", [1, 2, 3, 4, 6, 8, 12, 16, 24, 48])
@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_every_block_size(level, block_size):
    require_level(level)
    model = random_model(48, block_size, seed=block_size, scale=0.3)
    params = _params(model, level)
    rng = np.random.default_rng(block_size)
    for rep in range(5):
        a = place_vector(rng.standard_normal(48).astype(np.float32), aligned=rep % 2 == 0)
        c = place_vector(rng.standard_normal(48).astype(np.float32), aligned=rep % 2 == 1)
        _check_kernel(model, params, a, c, (level, block_size, rep))


@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_query_is_first_argument(level):
    """distance(params, q, x) = 1 - q^T A x (not x^T A q)."""
    require_level(level)
    model = random_model(32, 8, seed=5, scale=0.6)
    params = _params(model, level)
    rng = np.random.default_rng(5)
    q, x = rng.standard_normal(32).astype(np.float32), rng.standard_normal(32).astype(np.float32)
    d_qx = _core.distance(params, q, x)
    d_xq = _core.distance(params, x, q)
    assert abs(d_qx - model.distance(q, x)) <= 1e-5
    assert abs(d_xq - model.distance(x, q)) <= 1e-5
    assert abs(d_qx - d_xq) > 1e-3


@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_identity_equals_cosine(level):
    require_level(level)
    for dim in DIMS:
        b = block_for(dim)
        params = _params(vsearch.GSSF(dim, b), level)
        rng = np.random.default_rng(dim)
        a, c = rng.standard_normal(dim).astype(np.float32), rng.standard_normal(dim).astype(np.float32)
        got = _core.distance(params, a, c)
        cos = _core.distance("cosine", a, c, level)
        scale = float(np.abs(a.astype(np.float64) * c).sum() / (np.linalg.norm(a) * np.linalg.norm(c)))
        assert abs(got - cos) <= 2e-5 * (scale + 1), (level, dim, got, cos)


def test_kernel_rejects_inconsistent_parameters():
    with pytest.raises(ValueError):  # block size does not divide dim
        _core.make_params(10, "gssf", gssf_diagonal=np.ones(10, np.float32),
                          gssf_blocks=np.zeros(40, np.float32), gssf_block_size=4)
    with pytest.raises(ValueError):  # wrong number of block weights
        _core.make_params(8, "gssf", gssf_diagonal=np.ones(8, np.float32),
                          gssf_blocks=np.zeros(31, np.float32), gssf_block_size=4)
    with pytest.raises(ValueError):  # no parameters at all
        _core.make_params(8, "gssf")


# ----------------------------------------------------------------------------- index
def test_index_construction_forms():
    model = random_model(32, 8, seed=1)
    a = vsearch.Index(32, metric=model)
    b = vsearch.Index(32, metric="gssf", metric_params=model)
    for index in (a, b):
        assert index.metric == "gssf"
        # the index keeps its own snapshot of the parameters it was built with
        assert index.metric_params is not model
        assert np.array_equal(index.metric_params.weights(), model.weights())
        assert "gssf" in repr(index)
    base, queries = make_clustered(800, 32, n_clusters=10, n_queries=20, seed=1)
    a.add(base, threads=1)
    b.add(base, threads=1)
    ra, rb = a.search(queries, k=10), b.search(queries, k=10)
    assert np.array_equal(ra.ids, rb.ids)
    assert np.array_equal(ra.distances, rb.distances)


def test_exact_ranking_and_distances_at_full_beam():
    """ef >= n on 500 points: the exact top-10 of 1 - S(q, x), distances equal to the definition."""
    model = random_model(24, 8, seed=3, scale=0.3)
    base, queries = make_clustered(500, 24, n_clusters=10, spread=0.6, n_queries=40, seed=3)
    index = vsearch.Index(24, metric=model, seed=3)
    index.add(base, threads=1)
    ids, dist = index.search(queries, k=10, ef=500, threads=1)
    D = model.distance(queries, base)
    ref = np.argsort(D, axis=1, kind="stable")[:, :10]
    for i in range(len(queries)):
        for j in range(10):
            if ids[i, j] != ref[i, j]:  # only a tie may differ
                assert abs(D[i, ids[i, j]] - D[i, ref[i, j]]) <= 1e-6, (i, j)
    np.testing.assert_allclose(dist, np.take_along_axis(D, ref, 1), rtol=0, atol=1e-5)


def test_every_returned_distance_is_the_definition():
    """Each returned distance is 1 - S(q, x) with q the query, and not 1 - S(x, q)."""
    model = random_model(32, 16, seed=4, scale=0.5)  # strongly asymmetric blocks
    base, queries = make_clustered(3000, 32, n_clusters=20, spread=0.5, n_queries=50, seed=4)
    index = vsearch.Index(32, metric=model, seed=4)
    index.add(base)
    ids, dist = index.search(queries, k=20, ef=64)
    assert np.all(ids >= 0)
    D = model.distance(queries, base)
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=0, atol=1e-5)
    np.testing.assert_allclose(dist, 1.0 - np.take_along_axis(dense_similarity(model, queries, base), ids, 1),
                               rtol=0, atol=1e-5)
    swapped = np.take_along_axis(model.distance(base, queries).T, ids, 1)
    assert np.max(np.abs(dist - swapped)) > 1e-3  # the order of the arguments matters


def test_recall_clustered():
    model = random_model(32, 8, seed=6, scale=0.1)
    base, queries = make_clustered(10_000, 32, n_clusters=50, n_queries=200, seed=6)
    index = vsearch.Index(32, metric=model, seed=6)
    index.add(base)
    assert_recall_and_exact_distances(index, model, base, queries)


def assert_recall_and_exact_distances(index, model, base, queries):
    """recall@10 >= 0.98 at ef=128 against brute force, and every returned distance is 1 - S(q, x)."""
    ids, dist = index.search(queries, k=10, ef=128)
    D = model.distance(queries, base)
    recall = tolerant_recall(ids, D, 10)
    assert recall >= 0.98, recall
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=0, atol=1e-5)


def test_recall_fortunes():
    """Real data (384-d MiniLM sentence embeddings), a random non-trivial model, exact ground truth
    by brute force."""
    data = load_dataset("fortunes_minilm")
    base, queries = data["base"].astype(np.float32), data["queries"].astype(np.float32)[:200]
    dim = base.shape[1]
    model = random_model(dim, block_for(dim), seed=7, scale=0.05)
    index = vsearch.Index(dim, metric=model, seed=7)
    index.add(base)
    assert_recall_and_exact_distances(index, model, base, queries)


def test_zero_vector_rejected():
    model = random_model(8, 4)
    index = vsearch.Index(8, metric=model)
    index.add(np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32))
    before = graph_stats(index)
    batch = np.ones((3, 8), np.float32)
    batch[1] = 0
    with pytest.raises(InvalidVectorError):
        index.add(batch)
    assert len(index) == 20 and graph_stats(index) == before
    with pytest.raises(InvalidVectorError):
        index.search(np.zeros(8, np.float32), k=1)


def test_get_returns_vectors_exactly_as_added():
    """GSSF normalises internally; get() still returns the input."""
    rng = np.random.default_rng(9)
    data = (rng.standard_normal((200, 16)) * rng.uniform(1e-3, 1e3, (200, 1))).astype(np.float32)
    index = vsearch.Index(16, metric=random_model(16, 4))
    ids = index.add(data)
    assert np.array_equal(index.get(ids), data)


# ----------------------------------------------------------------------------- invalid constructions
def test_invalid_constructions():
    with pytest.raises(InvalidParameterError, match="dim"):  # the model's dim is not the index's
        vsearch.Index(16, metric=vsearch.GSSF(32, 8))
    with pytest.raises(InvalidParameterError, match="dim"):
        vsearch.Index(16, metric="gssf", metric_params=vsearch.GSSF(8, 8))
    with pytest.raises(InvalidParameterError, match="metric_params"):  # no parameters
        vsearch.Index(16, metric="gssf")
    with pytest.raises(InvalidParameterError):
        vsearch.Index(16, metric="gssf", metric_params={"block_size": 4})
    for dim, block_size in [(10, 4), (16, 3), (16, 32), (16, 0), (16, -4)]:  # block must divide dim
        with pytest.raises(InvalidParameterError, match="block_size"):
            vsearch.GSSF(dim, block_size)
    with pytest.raises(InvalidParameterError):
        vsearch.GSSF(16, 4.0)
    for dim in (0, -1, 2.5):
        with pytest.raises(InvalidParameterError):
            vsearch.GSSF(dim, 1)
    with pytest.raises(InvalidParameterError):  # wrong shapes
        vsearch.GSSF(16, 4, diagonal=np.ones(15))
    with pytest.raises(InvalidParameterError):
        vsearch.GSSF(16, 4, blocks=np.zeros((4, 4, 3)))
    with pytest.raises(InvalidParameterError):
        vsearch.GSSF(16, 4, blocks=np.zeros((2, 8, 8)))
    bad = np.ones(16)
    bad[3] = np.nan
    with pytest.raises(InvalidParameterError, match="finite"):
        vsearch.GSSF(16, 4, diagonal=bad)
    blocks = np.zeros((4, 4, 4))
    blocks[1, 2, 3] = np.inf
    with pytest.raises(InvalidParameterError, match="finite"):
        vsearch.GSSF(16, 4, blocks=blocks)
    with pytest.raises(InvalidParameterError):  # a GSSF model only goes with metric="gssf"
        vsearch.Index(16, metric="cosine", metric_params=vsearch.GSSF(16, 4))


def test_default_model_is_identity():
    m = vsearch.GSSF(12, 4)
    assert np.array_equal(m.diagonal, np.ones(12, np.float32))
    assert np.array_equal(m.blocks, np.zeros((3, 4, 4), np.float32))
    assert np.array_equal(m.matrix, np.eye(12))
    assert m.history is None


# ----------------------------------------------------------------------------- persistence
def _persistence_index():
    model = random_model(24, 8, seed=12, scale=0.3)
    base, queries = make_clustered(1200, 24, n_clusters=15, n_queries=30, seed=12)
    index = vsearch.Index(24, metric=model, M=8, ef_construction=80, ef=31, seed=5)
    index.add(base[:800], threads=1)
    index.add(base[800:], ids=np.arange(800, 1200) * 3, threads=1)
    return index, model, base, queries


@pytest.mark.parametrize("method", ["file", "mmap", "bytes", "pickle", "copy"])
def test_round_trip_identical_with_weights(method, tmp_path):
    index, model, base, queries = _persistence_index()
    path = tmp_path / "gssf.vsx"
    if method in ("file", "mmap"):
        index.save(path)
        loaded = vsearch.load(path, mmap=method == "mmap", verify=method == "mmap")
        info = vsearch.info(path)
        assert info["metric"] == "gssf" and info["metric_params"]["block_size"] == 8
    elif method == "bytes":
        loaded = vsearch.Index.from_bytes(bytes(index))
    elif method == "pickle":
        loaded = pickle.loads(pickle.dumps(index))
    else:
        loaded = index.copy()
    assert loaded.metric == "gssf"
    restored = loaded.metric_params
    assert isinstance(restored, vsearch.GSSF)
    assert (restored.dim, restored.block_size) == (24, 8)
    assert np.array_equal(restored.weights(), model.weights())
    assert np.array_equal(restored.matrix, model.matrix)
    assert (loaded.M, loaded.ef_construction, loaded.ef, loaded.seed) == (8, 80, 31, 5)
    assert graph_stats(loaded) == graph_stats(index)
    assert_same_search(index, loaded, queries)
    ids = np.concatenate([np.arange(800), np.arange(800, 1200) * 3])
    assert np.array_equal(loaded.get(ids), base)
    assert bytes(loaded) == bytes(index)
    loaded.verify()


def test_loaded_model_serves_new_adds(tmp_path):
    index, model, base, queries = _persistence_index()
    path = tmp_path / "gssf.vsx"
    index.save(path)
    loaded = vsearch.load(path)
    loaded.add(queries, ids=np.arange(30) + 10_000)
    ids, dist = loaded.search(queries, k=10, ef=200)
    all_vectors = np.concatenate([base, queries])
    all_ids = np.concatenate([np.arange(800), np.arange(800, 1200) * 3, np.arange(30) + 10_000])
    row_of = {int(i): r for r, i in enumerate(all_ids)}
    rows = np.vectorize(lambda i: row_of[int(i)])(ids)
    D = model.distance(queries, all_vectors)
    np.testing.assert_allclose(dist, np.take_along_axis(D, rows, 1), rtol=0, atol=1e-5)
    assert tolerant_recall(rows, D, 10) >= 0.98


def test_mutating_the_model_after_building_does_not_change_the_index():
    """The index copies the weights when it is built (documenting the behaviour)."""
    model = random_model(16, 4, seed=13)
    base, queries = make_clustered(300, 16, n_clusters=5, n_queries=5, seed=13)
    index = vsearch.Index(16, metric=model)
    index.add(base)
    before = index.search(queries, k=5, ef=300)
    expected = model.distance(queries, base)
    model.diagonal[:] = 7.0
    after = index.search(queries, k=5, ef=300)
    assert np.array_equal(before.ids, after.ids) and np.array_equal(before.distances, after.distances)
    np.testing.assert_allclose(after.distances, np.take_along_axis(expected, after.ids, 1), atol=1e-5)


@pytest.mark.parametrize("change", ["mutate", "refit"])
def test_saving_after_the_model_changed_keeps_the_index_metric(change):
    model = random_model(16, 4, seed=14)
    original = model.weights().copy()
    base, queries = make_clustered(300, 16, n_clusters=5, n_queries=5, seed=14)
    index = vsearch.Index(16, metric=model)
    index.add(base, threads=1)
    before = index.search(queries, k=5, ef=300)
    if change == "mutate":
        model.diagonal[:] = 7.0
        model.blocks[:] = 0.0
    else:
        labels = np.arange(300) % 5
        model.fit(base, labels, epochs=3, seed=0, progress=False)
    assert not np.array_equal(model.weights(), original)
    loaded = vsearch.Index.from_bytes(bytes(index))
    after = loaded.search(queries, k=5, ef=300)
    assert np.array_equal(before.ids, after.ids) and np.array_equal(before.distances, after.distances)
    assert np.array_equal(loaded.metric_params.weights(), original)


# ----------------------------------------------------------------------------- training
def misuse_set(n: int, dim: int = 32, n_classes: int = 8, signal_dims: int = 4, nuisance: float = 2.0,
               seed: int = 0):
    """A "metric misuse" set: the class is in the first ``signal_dims`` coordinates; the other
    coordinates carry large label-independent noise that dominates cosine similarity."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, signal_dims))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, n_classes, n)
    x = nuisance * rng.standard_normal((n, dim))
    x[:, :signal_dims] = 3.0 * centres[labels] + 0.3 * rng.standard_normal((n, signal_dims))
    return x.astype(np.float32), labels


FIT_ARGS = dict(epochs=15, batch_size=256, seed=0, progress=False)


@pytest.fixture(scope="module")
def misuse():
    x, y = misuse_set(2300)
    return x[:2000], y[:2000], x[2000:], y[2000:]


@pytest.fixture(scope="module")
def trained(misuse):
    base, base_labels, _, _ = misuse
    return vsearch.GSSF(32, 8).fit(base, base_labels, **FIT_ARGS)


def test_fit_beats_cosine(misuse, trained):
    base, base_labels, queries, query_labels = misuse
    cosine = label_recall(vsearch.GSSF(32, 8).similarity(queries, base), query_labels, base_labels)
    learned = label_recall(trained.similarity(queries, base), query_labels, base_labels)
    assert learned >= cosine + 0.10, (cosine, learned)
    # the index built with the trained model delivers it too
    index = vsearch.Index(32, metric=trained, seed=1)
    index.add(base)
    ids, dist = index.search(queries, k=10, ef=200)
    via_index = float((base_labels[ids] == query_labels[:, None]).mean())
    assert via_index >= cosine + 0.10, (cosine, via_index)
    D = trained.distance(queries, base)
    assert tolerant_recall(ids, D, 10) >= 0.98
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=0, atol=1e-5)


def test_fit_history(trained):
    h = trained.history
    assert h is not None
    assert 1 <= len(h.loss) <= FIT_ARGS["epochs"]
    assert len(h.validation_recall) == len(h.loss)
    assert all(np.isfinite(h.loss)) and all(0.0 <= r <= 1.0 for r in h.validation_recall)
    assert 0 <= h.best_epoch < len(h.loss)
    assert h.validation_recall[h.best_epoch] == max(h.validation_recall)
    assert h.validation_recall[h.best_epoch] > h.initial_validation_recall
    assert 0.0 <= h.initial_validation_recall <= 1.0
    assert h.loss[-1] < h.loss[0]
    assert "trained" in repr(trained)


def test_fit_returns_self_and_changes_the_model(misuse):
    base, base_labels, _, _ = misuse
    model = vsearch.GSSF(32, 8)
    assert model.fit(base[:600], base_labels[:600], epochs=2, seed=0, progress=False) is model
    assert model.diagonal.dtype == np.float32 and model.blocks.dtype == np.float32
    assert model.diagonal.shape == (32,) and model.blocks.shape == (4, 8, 8)
    assert not np.array_equal(model.matrix, np.eye(32))


def test_fit_is_deterministic(misuse, trained):
    base, base_labels, _, _ = misuse
    again = vsearch.GSSF(32, 8).fit(base, base_labels, **FIT_ARGS)
    assert np.array_equal(again.weights(), trained.weights())
    assert again.history.loss == trained.history.loss
    assert again.history.validation_recall == trained.history.validation_recall
    other = vsearch.GSSF(32, 8).fit(base, base_labels, **{**FIT_ARGS, "seed": 1})
    assert not np.array_equal(other.weights(), trained.weights())


def test_trained_model_persists(trained, misuse, tmp_path):
    base, _, queries, _ = misuse
    index = vsearch.Index(32, metric=trained)
    index.add(base)
    path = tmp_path / "trained.vsx"
    index.save(path)
    loaded = vsearch.load(path)
    assert np.array_equal(loaded.metric_params.weights(), trained.weights())
    a, b = index.search(queries, k=10), loaded.search(queries, k=10)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.distances, b.distances)


def test_fit_rejects_bad_input():
    x, y = misuse_set(200, dim=16)
    model = vsearch.GSSF(16, 4)
    with pytest.raises(InvalidParameterError):  # wrong dim
        model.fit(x[:, :8], y, progress=False)
    with pytest.raises(InvalidParameterError):  # labels of the wrong length
        model.fit(x, y[:-1], progress=False)
    with pytest.raises(InvalidParameterError):  # a single label
        model.fit(x, np.zeros(len(x), int), progress=False)
    with pytest.raises(InvalidParameterError):  # every label alone
        model.fit(x, np.arange(len(x)), progress=False)
    bad = x.copy()
    bad[5] = 0
    with pytest.raises(InvalidParameterError):  # zero vectors have no direction
        model.fit(bad, y, progress=False)
    # the failed fits left the model untouched
    assert np.array_equal(model.matrix, np.eye(16)) and model.history is None

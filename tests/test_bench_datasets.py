"""The benchmark harness's dataset readers, on tiny files the tests write themselves,
and the ground-truth cache."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1]))  # `bench` lives at the repo root

from bench import datasets, readers, synthetic  # noqa: E402
from bench.datasets import DatasetError  # noqa: E402
from bench.distances import spec  # noqa: E402

RNG = np.random.default_rng(0)
BASE = RNG.random((50, 8), dtype=np.float32)
QUERIES = RNG.random((5, 8), dtype=np.float32)


# ----------------------------------------------------------------------------- TEXMEX
@pytest.mark.parametrize("ext, values", [(".fvecs", BASE), (".ivecs", (BASE * 100).astype(np.int32)),
                                         (".bvecs", (BASE * 255).astype(np.uint8))])
def test_vecs_round_trip(tmp_path, ext, values):
    path = tmp_path / f"x{ext}"
    readers.write_vecs(path, values)
    assert path.stat().st_size == len(values) * (4 + values.shape[1] * values.dtype.itemsize)
    back = readers.read_vecs(path)
    assert back.dtype == values.dtype and np.array_equal(back, values)
    assert np.array_equal(readers.read_vecs(path, max_rows=3), values[:3])


def test_fvecs_layout_is_dimension_then_values(tmp_path):
    path = tmp_path / "hand.fvecs"
    raw = np.array([2], "<i4").tobytes() + np.array([1.5, -2.0], "<f4").tobytes()
    path.write_bytes(raw * 2)
    assert readers.read_vecs(path).tolist() == [[1.5, -2.0], [1.5, -2.0]]


def test_truncated_vecs_names_the_file(tmp_path):
    path = tmp_path / "broken.fvecs"
    readers.write_vecs(path, BASE[:3])
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DatasetError, match=r"broken\.fvecs.*not a whole number of rows"):
        readers.read_vecs(path)


def test_vecs_with_mixed_dimensions_or_garbage(tmp_path):
    mixed = tmp_path / "mixed.ivecs"
    mixed.write_bytes(np.array([1, 7, 1, 8, 3, 0], "<i4").tobytes())  # rows of 8 bytes, the third declares dim 3
    with pytest.raises(DatasetError, match=r"mixed\.ivecs.*row 2 declares dimension 3"):
        readers.read_vecs(mixed)
    garbage = tmp_path / "garbage.fvecs"
    garbage.write_bytes(np.array([-4, 0], "<i4").tobytes())
    with pytest.raises(DatasetError, match=r"garbage\.fvecs.*dimension -4"):
        readers.read_vecs(garbage)
    with pytest.raises(DatasetError, match=r"x\.txt.*unknown TEXMEX extension"):
        readers.read_vecs(tmp_path / "x.txt")


def test_texmex_set_with_ground_truth(tmp_path):
    readers.write_vecs(tmp_path / "tiny_base.fvecs", BASE)
    readers.write_vecs(tmp_path / "tiny_query.fvecs", QUERIES)
    gt = np.tile(np.arange(10, dtype=np.int32), (5, 1))
    readers.write_vecs(tmp_path / "tiny_groundtruth.ivecs", gt)
    ds = datasets.load_path(tmp_path / "tiny_base.fvecs")
    assert ds.name == "tiny" and ds.metric == "l2" and ds.base.shape == (50, 8)
    assert np.array_equal(ds.primary.gt_ids, gt)
    assert datasets.load_path(tmp_path).name == "tiny"          # the folder works too
    assert datasets.load_path(tmp_path / "tiny_base.fvecs", max_base=20).primary.gt_ids is None  # prefix: recompute


def test_texmex_without_queries_names_the_file(tmp_path):
    readers.write_vecs(tmp_path / "lonely_base.fvecs", BASE)
    with pytest.raises(DatasetError, match="lonely_query.fvecs is missing"):
        datasets.load_path(tmp_path / "lonely_base.fvecs")


# ----------------------------------------------------------------------------- HDF5
def test_hdf5_ann_benchmarks_layout(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "tiny-angular.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train", data=BASE)
        f.create_dataset("test", data=QUERIES)
        f.create_dataset("neighbors", data=np.tile(np.arange(10, dtype=np.int32), (5, 1)))
        f.attrs["distance"] = "angular"
    ds = datasets.load_path(path)
    assert ds.metric == "cosine" and ds.base.dtype == np.float32 and ds.primary.gt_ids.shape == (5, 10)


def test_hdf5_missing_test_names_the_file(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "no-test.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train", data=BASE)
    with pytest.raises(DatasetError, match=r"no-test\.hdf5.*missing dataset\(s\) test"):
        datasets.load_path(path)
    bad = tmp_path / "not-hdf5.hdf5"
    bad.write_bytes(b"hello")
    with pytest.raises(DatasetError, match=r"not-hdf5\.hdf5.*not a readable HDF5"):
        datasets.load_path(bad)


def test_hdf5_without_h5py_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)    # import h5py now raises ImportError
    with pytest.raises(DatasetError, match=r"x\.hdf5.*needs h5py.*pip install h5py"):
        readers.read_hdf5(tmp_path / "x.hdf5")


# ----------------------------------------------------------------------------- npz
def test_npz_with_labels_and_ground_truth(tmp_path):
    path = tmp_path / "labelled.npz"
    np.savez(path, base=BASE.astype(np.float64), queries=QUERIES, gt_ids=np.zeros((5, 3), np.int64),
             base_labels=np.arange(50) % 3, query_labels=np.arange(5) % 3, metric=np.array("cosine"))
    ds = datasets.load_path(path)
    assert ds.metric == "cosine" and ds.base.dtype == np.float32
    assert [t.name for t in ds.primary.tasks] == ["knn_acc@10", "label_recall@10", "knn_acc@1"]
    assert datasets.load_path(path, metric="ip").metric == "ip"


@pytest.mark.parametrize("arrays, message", [
    ({"base": BASE}, r"missing array\(s\) queries"),
    ({"base": BASE, "queries": QUERIES[:, :4]}, "'queries' has dimension 4"),
    ({"base": np.full((3, 8), np.nan), "queries": QUERIES}, "NaN or infinite"),
    ({"base": BASE, "queries": QUERIES, "gt_ids": np.full((5, 2), 99)}, r"'gt_ids' holds ids outside \[0, 50\)"),
    ({"base": BASE, "queries": QUERIES, "base_labels": np.zeros(3, int)}, r"'base_labels' must be integers of shape \(50,\)"),
])
def test_malformed_npz_names_the_file(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=r"bad\.npz: .*" + message):
        datasets.load_path(path)


def test_garbage_npz_and_unknown_extension(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"garbage\.npz"):
        datasets.load_path(path)
    other = tmp_path / "data.csv"
    other.write_text("1,2")
    with pytest.raises(DatasetError, match=r"data\.csv.*unknown kind"):
        datasets.load_path(other)
    with pytest.raises(DatasetError, match="no such file"):
        datasets.load_path(tmp_path / "absent.npz")


# ----------------------------------------------------------------------------- shared-layout folders
def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "tinyset"
    d.mkdir()
    np.save(d / "base.npy", BASE)
    np.save(d / "queries.npy", QUERIES)
    np.save(d / "base_labels.npy", (np.arange(50) % 4).astype(np.int32))
    np.save(d / "query_labels.npy", (np.arange(5) % 4).astype(np.int32))
    np.save(d / "queries_retrieval.npy", BASE[:3] + 0.01)
    np.save(d / "queries_retrieval_target.npy", np.arange(3, dtype=np.int32))
    (d / "meta.json").write_text(json.dumps({"name": "tinyset", "metric": "cosine",
                                             "reference": {"knn10_accuracy_exact": 0.5}}))
    return d


def test_shared_layout_folder(tmp_path):
    ds = datasets.load_folder(_folder(tmp_path))
    assert ds.metric == "cosine" and [q.name for q in ds.query_sets] == ["queries", "retrieval"]
    assert ds.query_sets[1].relevant[2].tolist() == [2]
    assert ds.reference == {("queries", "knn_acc@10"): 0.5}
    assert ds.base_file.name == "base.npy"


def test_recommendation_folder_uses_csr_lists(tmp_path):
    d = _folder(tmp_path)
    np.save(d / "train_indptr.npy", np.array([0, 2, 2, 3, 3, 3]))
    np.save(d / "train_items.npy", np.array([1, 2, 7], np.int32))
    np.save(d / "test_indptr.npy", np.array([0, 1, 1, 1, 1, 2]))
    np.save(d / "test_items.npy", np.array([4, 9], np.int32))
    q = datasets.load_folder(d).primary
    assert q.depth == datasets.RECOMMENDATION_DEPTH and [e.tolist() for e in q.exclude] == [[1, 2], [], [7], [], []]
    assert q.relevant[4].tolist() == [9]


def test_malformed_folder_file_is_named(tmp_path):
    d = _folder(tmp_path)
    (d / "queries.npy").write_bytes(b"junk")
    with pytest.raises(DatasetError, match=r"queries\.npy: not a readable \.npy"):
        datasets.load_folder(d)
    (d / "queries.npy").unlink()
    with pytest.raises(DatasetError, match=r"queries\.npy: missing"):
        datasets.load_folder(d)


def test_resolve_names(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    _folder(tmp_path)
    assert datasets.shared_names(tmp_path) == ["tinyset"]
    assert datasets.resolve("tinyset", {}).name == "tinyset"
    small = {"synthetic-clustered": (100, 4, 7)}
    ds = datasets.resolve("synthetic-clustered:60", small)
    assert ds.base.shape == (60, 4) and len(ds.primary.vectors) == 7 and ds.base_labels is not None
    with pytest.raises(DatasetError, match="not a shared dataset"):
        datasets.resolve("nonexistent", small)


# ----------------------------------------------------------------------------- synthetic
def test_synthetic_generators_are_deterministic():
    for gen in (synthetic.clustered, synthetic.skewed, synthetic.out_of_distribution):
        a, b = gen(200, 6, 10, seed=3), gen(200, 6, 10, seed=3)
        assert a["base"].shape == (200, 6) and a["queries"].shape == (10, 6) and a["base"].dtype == np.float32
        assert all(np.array_equal(a[k], b[k]) for k in a)
    sizes = np.bincount(synthetic.skewed(5000, 4, 1, n_clusters=10)["base_labels"], minlength=10)
    assert sizes[0] > 5 * sizes[-1]          # the head class dwarfs the tail
    assert "query_labels" not in synthetic.out_of_distribution(50, 4, 5)


def test_sklearn_digits_matches_the_shared_split():
    pytest.importorskip("sklearn")
    d = synthetic.sklearn_digits()
    assert d["base"].shape == (1597, 64) and d["queries"].shape == (200, 64)


# ----------------------------------------------------------------------------- ground truth cache
def test_ground_truth_is_cached_and_reused(tmp_path, monkeypatch):
    ds = datasets.load_synthetic("synthetic-clustered", {"synthetic-clustered": (300, 5, 20)})
    ids, dist = datasets.ground_truth(ds, ds.primary, spec("ip"), 10, tmp_path)
    assert ids.shape == (20, datasets.GT_DEPTH) and np.all(np.diff(dist, axis=1) >= 0)
    assert len(list(tmp_path.glob("gt-*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("recomputed instead of read from the cache")

    monkeypatch.setattr(datasets, "exact_topk", fail)
    ids2, dist2 = datasets.ground_truth(ds, ds.primary, spec("ip"), 10, tmp_path)
    assert np.array_equal(ids, ids2) and np.array_equal(dist, dist2)


def test_supplied_ground_truth_is_used_with_recomputed_distances(tmp_path):
    path = tmp_path / "gt.npz"
    gt = np.argsort(((QUERIES[:, None, :] - BASE[None]) ** 2).sum(-1), axis=1)[:, :10]
    np.savez(path, base=BASE, queries=QUERIES, gt_ids=gt)
    ds = datasets.load_path(path)
    ids, dist = datasets.ground_truth(ds, ds.primary, spec("l2"), 10, cache_dir=None)
    assert np.array_equal(ids, gt)
    assert np.allclose(dist[0], ((BASE[gt[0]] - QUERIES[0]) ** 2).sum(1), rtol=1e-6)

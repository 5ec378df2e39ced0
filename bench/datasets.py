"""Datasets: the model (:class:`Dataset`, :class:`QuerySet`), the shared data folders,
files given by path, synthetic sets, and ground truth computed once and cached.

A dataset is named on the command line by one of:

* a folder of the shared data (``digits``, ``siftsmall``, ...; see :func:`data_dir`);
* a synthetic set: ``synthetic-clustered``, ``synthetic-skewed``, ``synthetic-ood``, ``synthetic-misuse``,
  optionally with a size, ``synthetic-clustered:50000`` (the suite gives the default);
* ``sklearn-digits`` (scikit-learn's bundled digits, split like the shared folder);
* a path: a shared-style folder (``base.npy``, ``queries.npy``, ...), an ``.npz``,
  an ann-benchmarks ``.hdf5``, or a TEXMEX ``<name>_base.fvecs``/``.bvecs``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import readers, synthetic
from .distances import MetricSpec, exact_topk, rowwise
from .readers import DatasetError
from .tasks import Task

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "VSEARCH_DATA"
CACHE_DIR = REPO_ROOT / "bench" / "results" / "cache"
# Ground truth is computed (and cached) this deep, so one cache entry serves every k <= it.
GT_DEPTH = 100

# Tasks of a labelled query set, headline first (the one plotted and used for task loss).
LABEL_TASKS = (Task("knn_acc", 10), Task("label_recall", 10), Task("knn_acc", 1))
# Shared folders whose task is not plain classification.
OLIVETTI_TASKS = (Task("label_recall", 5), Task("label_recall", 1), Task("label_recall", 8), Task("knn_acc", 5))
RETRIEVAL_TASKS = (Task("hit", 10), Task("hit", 1))
RECOMMENDATION_TASKS = (Task("relevant_recall", 10), Task("hit", 10))
# movielens: retrieve this deep, drop the user's seen items, keep the first 10 (the folder's
# reference "within top-100" scores use the same depth).
RECOMMENDATION_DEPTH = 100
TASK_OVERRIDES = {"olivetti_faces_a": OLIVETTI_TASKS}
# meta.json reference keys -> (query set, task name), so exact scores can be checked against them.
REFERENCE_KEYS = {
    "knn10_accuracy_exact": ("queries", "knn_acc@10"),
    "knn1_accuracy_exact": ("queries", "knn_acc@1"),
    "retrieval_hit@1_exact": ("retrieval", "hit@1"),
    "retrieval_hit@10_exact": ("retrieval", "hit@10"),
    "recall@10_exact_within_top100": ("queries", "relevant_recall@10"),
    "hr@10_exact_within_top100": ("queries", "hit@10"),
    "top1_identity_exact": ("queries", "label_recall@1"),
    "precision@5_exact": ("queries", "label_recall@5"),
    "precision@8_exact": ("queries", "label_recall@8"),
    "knn5_vote_accuracy_exact": ("queries", "knn_acc@5"),
}
SYNTHETIC = {"synthetic-clustered": synthetic.clustered, "synthetic-skewed": synthetic.skewed,
             "synthetic-ood": synthetic.out_of_distribution, "synthetic-misuse": synthetic.metric_misuse}
SKLEARN_DIGITS = "sklearn-digits"
# Query-set names of the shared folders.
PRIMARY, RETRIEVAL = "queries", "retrieval"


@dataclass
class QuerySet:
    """One set of queries and what they are scored on.

    Attributes:
        name: ``"queries"`` (the primary set: timed, swept) or e.g. ``"retrieval"``.
        vectors: float32 (Q, d).
        tasks: downstream scores, headline first; empty for recall-only sets.
        labels: class per query (label tasks).
        relevant: per-query relevant base ids (hit@K, recall against relevant ids).
        exclude: per-query base ids removed from results before scoring (seen items).
        gt_ids: supplied exact neighbours under the dataset's metric, best first.
        depth: results a task search retrieves (0: the deepest task cut-off).
    """

    name: str
    vectors: np.ndarray
    tasks: tuple[Task, ...] = ()
    labels: np.ndarray | None = None
    relevant: list[np.ndarray] | None = None
    exclude: list[np.ndarray] | None = None
    gt_ids: np.ndarray | None = None
    depth: int = 0

    @property
    def task_depth(self) -> int:
        return self.depth or max((t.k for t in self.tasks), default=0)

    def head(self, n: int) -> "QuerySet":
        """The first n queries (with their labels, lists and ground truth)."""
        if n >= len(self.vectors):
            return self
        cut = (lambda a: None if a is None else a[:n])
        return replace(self, vectors=self.vectors[:n], labels=cut(self.labels), relevant=cut(self.relevant),
                       exclude=cut(self.exclude), gt_ids=cut(self.gt_ids))


@dataclass
class Dataset:
    """Base vectors, their native metric, and one or more query sets (the first is primary)."""

    name: str
    base: np.ndarray
    metric: str
    query_sets: list[QuerySet]
    base_labels: np.ndarray | None = None
    source: str = ""
    base_file: Path | None = None        # a .npy holding exactly `base` (memory children read it)
    reference: dict[tuple[str, str], float] = field(default_factory=dict)
    licence: str = ""
    notes: list[str] = field(default_factory=list)
    _fingerprint: str = ""

    @property
    def primary(self) -> QuerySet:
        return self.query_sets[0]

    @property
    def has_task(self) -> bool:
        return any(q.tasks for q in self.query_sets)

    def fingerprint(self) -> str:
        """A hash of the base vectors (part of every ground-truth cache key)."""
        if not self._fingerprint:
            self._fingerprint = array_hash(self.base)
        return self._fingerprint

    def describe(self) -> str:
        sets = " + ".join(f"{len(q.vectors):,} {q.name}" for q in self.query_sets)
        return f"{len(self.base):,} x {self.base.shape[1]}, {self.metric}, {sets}"


def array_hash(*arrays: np.ndarray) -> str:
    """A short content hash of arrays (dtype, shape and bytes), for cache keys."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- locations
def data_dir() -> Path:
    """The shared real-data folder: ``$VSEARCH_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def is_shared_name(name: str) -> bool:
    """Whether a dataset name means a folder of the shared data (not a synthetic set,
    scikit-learn's digits or a path)."""
    return (name.partition(":")[0] not in SYNTHETIC and name != SKLEARN_DIGITS and os.sep not in name
            and "." not in name)


def shared_names(folder: Path) -> list[str]:
    """Dataset folders (those holding a meta.json and a base.npy) under the shared data folder."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "meta.json").is_file() and (p / "base.npy").is_file())


# ----------------------------------------------------------------------------- loading
def _npy(path: Path, required: bool = True) -> np.ndarray | None:
    if not path.exists():
        if required:
            raise DatasetError(path, "missing")
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DatasetError(path, f"not a readable .npy file ({error})") from None


def _csr(folder: Path, prefix: str) -> list[np.ndarray]:
    indptr, items = _npy(folder / f"{prefix}_indptr.npy"), _npy(folder / f"{prefix}_items.npy")
    if indptr.ndim != 1 or len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != len(items) or np.any(np.diff(indptr) < 0):
        raise DatasetError(folder / f"{prefix}_indptr.npy", f"not a CSR row pointer for {len(items)} items")
    return [items[indptr[i]:indptr[i + 1]].astype(np.int64) for i in range(len(indptr) - 1)]


def load_folder(folder: Path, name: str | None = None) -> Dataset:
    """A folder in the shared-data layout (see ../shared/data/README.md)."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    meta: dict[str, Any] = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as error:
            raise DatasetError(meta_path, f"not readable JSON ({error})") from None
    arrays: dict[str, Any] = {"base": _npy(folder / "base.npy"), "queries": _npy(folder / "queries.npy")}
    readers.check_vectors(folder, arrays, "base", "queries")
    base, queries = arrays["base"], arrays["queries"]
    metric = meta.get("metric", "l2")
    name = name or meta.get("name") or folder.name
    gt = _npy(folder / "gt_ids.npy", required=False)
    if gt is not None:
        readers.check_gt(folder / "gt_ids.npy", gt, len(queries), len(base))
        gt = gt.astype(np.int64)
    base_labels = _npy(folder / "base_labels.npy", required=False)
    query_labels = _npy(folder / "query_labels.npy", required=False)
    for path, labels, count in ((folder / "base_labels.npy", base_labels, len(base)),
                                (folder / "query_labels.npy", query_labels, len(queries))):
        if labels is not None and labels.shape != (count,):
            raise DatasetError(path, f"expected shape ({count},); got {labels.shape}")
    primary = QuerySet(PRIMARY, queries, gt_ids=gt)
    if base_labels is not None and query_labels is not None:
        primary.labels = query_labels
        primary.tasks = TASK_OVERRIDES.get(folder.name, LABEL_TASKS)
    if (folder / "train_indptr.npy").exists() and (folder / "test_indptr.npy").exists():
        primary.exclude, primary.relevant = _csr(folder, "train"), _csr(folder, "test")
        if len(primary.exclude) != len(queries) or len(primary.relevant) != len(queries):
            raise DatasetError(folder / "train_indptr.npy", f"rows do not match the {len(queries)} queries")
        primary.tasks, primary.depth = RECOMMENDATION_TASKS, RECOMMENDATION_DEPTH
    query_sets = [primary]
    if (folder / "queries_retrieval.npy").exists():
        extra = {"base": base, "queries": _npy(folder / "queries_retrieval.npy")}
        readers.check_vectors(folder / "queries_retrieval.npy", extra, "base", "queries")
        target = _npy(folder / "queries_retrieval_target.npy").astype(np.int64)
        if target.shape != (len(extra["queries"]),):
            raise DatasetError(folder / "queries_retrieval_target.npy", "one target per retrieval query expected")
        rgt = _npy(folder / "gt_retrieval_ids.npy", required=False)
        if rgt is not None:
            readers.check_gt(folder / "gt_retrieval_ids.npy", rgt, len(target), len(base))
            rgt = rgt.astype(np.int64)
        query_sets.append(QuerySet(RETRIEVAL, extra["queries"], RETRIEVAL_TASKS,
                                   relevant=[np.array([t]) for t in target], gt_ids=rgt))
    reference = {REFERENCE_KEYS[k]: float(v) for k, v in (meta.get("reference") or {}).items() if k in REFERENCE_KEYS}
    return Dataset(name, base, metric, query_sets, base_labels=base_labels, source=str(folder),
                   base_file=folder / "base.npy", reference=reference, licence=str(meta.get("licence", "")))


def _from_arrays(name: str, arrays: dict[str, Any], metric: str, source: str) -> Dataset:
    primary = QuerySet(PRIMARY, arrays["queries"], gt_ids=arrays.get("gt_ids"))
    base_labels = arrays.get("base_labels")
    if base_labels is not None and arrays.get("query_labels") is not None:
        primary.labels, primary.tasks = np.asarray(arrays["query_labels"]), LABEL_TASKS
    return Dataset(name, arrays["base"], metric, [primary], base_labels=base_labels, source=source)


def load_path(path: Path, metric: str | None = None, max_base: int | None = None) -> Dataset:
    """A dataset given by path (folder, .npz, .hdf5/.h5, TEXMEX base file)."""
    if not path.exists():
        raise DatasetError(path, "no such file or folder")
    if path.is_dir():
        if (path / "base.npy").exists():
            ds = load_folder(path)
            if metric:
                ds.metric = metric
            return ds
        bases = sorted(path.glob("*_base.fvecs")) + sorted(path.glob("*_base.bvecs"))
        if not bases:
            raise DatasetError(path, "folder holds neither base.npy (shared layout) nor a TEXMEX *_base.fvecs/.bvecs")
        path = bases[0]
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = readers.read_npz(path)
        return _from_arrays(path.stem, arrays, metric or arrays.get("metric", "l2"), str(path))
    if suffix in (".hdf5", ".h5"):
        arrays = readers.read_hdf5(path)
        return _from_arrays(path.stem, arrays, metric or arrays["metric"], str(path))
    if suffix in (".fvecs", ".bvecs"):
        arrays = readers.read_texmex(path, max_base)
        return _from_arrays(path.stem.removesuffix("_base").rstrip("_") or path.stem, arrays, metric or "l2", str(path))
    raise DatasetError(path, "unknown kind of dataset file; expected a folder, .npz, .hdf5/.h5, or *_base.fvecs/.bvecs")


def load_synthetic(spec: str, sizes: dict[str, tuple[int, int, int]], seed: int = 0) -> Dataset:
    """``synthetic-<kind>[:n]`` with the suite's default (n, dim, queries) for that kind."""
    kind, _, count = spec.partition(":")
    if kind not in SYNTHETIC:
        raise DatasetError(spec, f"unknown synthetic set; known: {', '.join(SYNTHETIC)}")
    n, dim, nq = sizes[kind]
    if count:
        try:
            n = int(count)
        except ValueError:
            raise DatasetError(spec, f"size {count!r} is not an integer") from None
    arrays = SYNTHETIC[kind](n, dim, nq, seed=seed)
    ds = _from_arrays(kind, arrays, "l2", f"{kind} generator (seed {seed}): {n:,} x {dim}, {nq} queries")
    ds.licence = "generated by the harness"
    return ds


def load_sklearn_digits() -> Dataset:
    ds = _from_arrays(SKLEARN_DIGITS, synthetic.sklearn_digits(), "l2",
                      "sklearn.datasets.load_digits (bundled with scikit-learn), split as ../shared/data/digits")
    ds.licence = "scikit-learn BSD-3; UCI optdigits data CC BY 4.0"
    ds.reference = {("queries", "knn_acc@10"): 0.985, ("queries", "knn_acc@1"): 0.985}  # same split as shared digits
    return ds


def resolve(name: str, sizes: dict[str, tuple[int, int, int]], metric: str | None = None,
            max_base: int | None = None) -> Dataset:
    """Loads a dataset named on the command line (see the module docstring)."""
    if name.partition(":")[0] in SYNTHETIC:
        return load_synthetic(name, sizes)
    if name == SKLEARN_DIGITS:
        return load_sklearn_digits()
    shared = data_dir() / name
    if os.sep not in name and (shared / "base.npy").exists():
        ds = load_folder(shared)
        if metric:
            ds.metric = metric
        return ds
    path = Path(name).expanduser()
    if not path.exists() and is_shared_name(name):
        raise DatasetError(name, f"not a shared dataset in {data_dir()} (have: {', '.join(shared_names(data_dir())) or 'none'}), "
                                 f"a synthetic set ({', '.join(SYNTHETIC)}), sklearn-digits, or an existing path")
    return load_path(path, metric, max_base)


# ----------------------------------------------------------------------------- ground truth
def ground_truth(
    ds: Dataset,
    qset: QuerySet,
    metric: MetricSpec,
    depth: int,
    cache_dir: Path | None = CACHE_DIR,
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours of a query set under a metric: (ids (Q, >=depth), float64 distances).

    Supplied ids (under the dataset's own metric, deep enough) are used as given, with
    their distances recomputed here; otherwise the brute-force result is computed once per
    (base, queries, metric) and cached as ``.npz`` under ``cache_dir``.
    """
    depth = min(depth, len(ds.base))
    if qset.gt_ids is not None and metric.name == ds.metric and metric.model is None and qset.gt_ids.shape[1] >= depth:
        ids = qset.gt_ids
        return ids, rowwise(metric, qset.vectors, ds.base, ids)
    deep = min(max(depth, GT_DEPTH), len(ds.base))
    key = f"{ds.name}-{qset.name}-{metric.cache_key()}-{deep}-{ds.fingerprint()}-{array_hash(qset.vectors)}"
    path = cache_dir / f"gt-{key}.npz" if cache_dir else None
    if path is not None and path.exists():
        try:
            with np.load(path) as f:
                return f["ids"], f["dist"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is recomputed
    if log:
        log(f"computing exact ground truth for {ds.name}/{qset.name} under {metric.name} "
            f"({len(qset.vectors):,} queries x {len(ds.base):,})")
    ids, dist = exact_topk(ds.base, qset.vectors, metric, deep)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, ids=ids, dist=dist)
        os.replace(tmp, path)
    return ids, dist

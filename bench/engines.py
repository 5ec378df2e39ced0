"""Engine adapters: one small interface over vsearch, hnswlib, FAISS HNSW, exact
brute force and (when installed) usearch.

The harness only ever calls, in this order: ``build`` once, then ``set_ef`` and
``prepare``, then ``search_one`` (one query per call, timed) or ``search_batch``.
Adapters return base-row ids only; the harness recomputes every distance
itself (bench.distances), so the engines' distance conventions cannot skew
recall.

Threads are pinned per engine: a build and a batch search use ``threads``
(1 by default, or every core); a one-query call always uses one thread.

Engines that are ``mutable`` (the churn suite, bench.churn) are built with
``build_mutable`` and then also take ``remove``, ``add``, ``consolidate`` and
``clone``; their ids are whatever the harness gives.

Engines with ``filters`` (the filter suite, bench.filtered) also search among the ids a
filter lets pass: ``prepare_filter`` turns the allowed ids into the engine's own filter
object once, outside the timed loop, and ``search_filtered_one`` takes it on every call
(engines that ``takes_ids`` also take the sorted int64 array of allowed ids itself).
Engines with ``ranges`` also answer ``range_search_one``.
"""

from __future__ import annotations

import importlib
import math
import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from .distances import BUILTIN, MetricSpec

# Rows per matrix product of the exact engine's batch search (bounds memory at CHUNK x N).
EXACT_BATCH_ROWS = 256


@dataclass(frozen=True)
class BuildParams:
    """What every graph engine is built with: the same M and ef_construction for all."""

    M: int
    ef_construction: int
    seed: int = 0


class Engine(ABC):
    """One ANN (or exact) search library behind the harness's interface."""

    name: ClassVar[str]
    module: ClassVar[str]          # the import that must work for the engine to be available
    distribution: ClassVar[str]    # its pip name, for the install hint and the version
    graph: ClassVar[bool] = True   # has an ef knob (False: one point per sweep)
    persists: ClassVar[bool] = False  # can save an index to a file and load it back
    can_mmap: ClassVar[bool] = False  # can also open a saved index memory-mapped
    mutable: ClassVar[bool] = False   # vectors can be removed and added after the build
    filters: ClassVar[bool] = False   # searches among the ids a filter lets pass
    plans: ClassVar[tuple[str, ...]] = ()  # filtered-search plans a caller can choose (none: the engine's own)
    takes_ids: ClassVar[bool] = False  # search_filtered_one also takes the allowed ids themselves, unprepared
    ranges: ClassVar[bool] = False    # finds every vector within a radius

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.ef = 0

    # -- availability ---------------------------------------------------------------
    @classmethod
    def unavailable(cls) -> str | None:
        """None if the engine can be used, else a one-line reason."""
        try:
            importlib.import_module(cls.module)
        except ImportError as error:
            return f"not installed ({error.msg}; pip install {cls.distribution})"
        except Exception as error:  # installed but broken: say how, do not crash the run
            return f"cannot be imported ({type(error).__name__}: {error})"
        return None

    @classmethod
    def version(cls) -> str:
        try:
            return metadata.version(cls.distribution)
        except metadata.PackageNotFoundError:
            return getattr(importlib.import_module(cls.module), "__version__", "?")

    # -- metrics -----------------------------------------------------------------------
    @abstractmethod
    def metric_names(self) -> tuple[str, ...]:
        """Names of the metrics this engine can build an index for."""

    def supports(self, metric: MetricSpec) -> bool:
        return metric.name in self.metric_names()

    # -- building and searching ----------------------------------------------------------
    @abstractmethod
    def build(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        """Indexes ``base`` (float32, C-contiguous); row i gets id i."""

    def set_ef(self, ef: int) -> None:
        """Sets the search beam width for the following searches."""
        self.ef = ef

    def prepare(self, queries: np.ndarray) -> Sequence[Any]:
        """The per-call query objects for search_one (done outside the timed loop)."""
        return list(queries)

    @abstractmethod
    def search_one(self, query: Any, k: int) -> np.ndarray:
        """Ids of the k nearest to one prepared query, best first (-1 for missing)."""

    @abstractmethod
    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Ids (Q, k) for a batch of queries, using ``threads`` threads."""

    def index_bytes(self) -> int | None:
        """Bytes the index holds (vectors and graph), as the engine reports it; None if unknown."""
        return None

    # -- removing and adding (engines with ``mutable``) ------------------------------------------
    def build_mutable(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        """Like build, into an index that vectors can then be removed from and added to."""
        self.build(base, metric, params)

    def remove(self, ids: np.ndarray) -> None:
        """Removes the vectors of these ids: never returned from now on."""
        raise NotImplementedError(f"{self.name} cannot remove vectors")

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Adds vectors under new ids, using ``threads`` threads."""
        raise NotImplementedError(f"{self.name} cannot add vectors after the build")

    def consolidate(self) -> None:
        """Repairs the index around removed vectors and frees their room, where the engine
        has such a step (by default there is none: nothing to do)."""

    def clone(self) -> "Engine":
        """An independent copy of the built index, as a second engine of the same kind."""
        raise NotImplementedError(f"{self.name} cannot copy an index")

    def slot_stats(self) -> dict[str, int]:
        """Counts of the index's slots (live, removed, free), where the engine reports them."""
        return {}

    # -- filtered and range search (engines with ``filters`` / ``ranges``) --------------------------
    def prepare_filter(self, allowed: np.ndarray, n: int) -> Any:
        """The engine's filter object letting only the base rows ``allowed`` (sorted int64, out of
        ``n``) pass; made once per filter, outside the timed loop."""
        raise NotImplementedError(f"{self.name} cannot search with a filter")

    def search_filtered_one(self, query: Any, k: int, allowed: Any, plan: str | None = None) -> np.ndarray:
        """Ids of the k nearest to one prepared query among those the prepared filter ``allowed``
        lets pass, best first (-1, or fewer ids, for missing); ``plan`` is one of ``plans`` (None:
        the engine's own choice, the only one of an engine without plans)."""
        raise NotImplementedError(f"{self.name} cannot search with a filter")

    def range_search_one(self, query: Any, radius: float, allowed: Any = None, ef: int | None = None) -> np.ndarray:
        """Ids of every vector within ``radius`` (the metric's distance, bench.distances) of one
        prepared query, nearest first, at beam width ``ef`` (None: the index's default); only
        those the prepared filter ``allowed`` lets pass, if one is given."""
        raise NotImplementedError(f"{self.name} cannot search a radius")

    # -- persistence (engines with ``persists``) ----------------------------------------------
    def save(self, path: Path) -> None:
        """Writes the built index to ``path``."""
        raise NotImplementedError(f"{self.name} cannot save an index")

    def load(self, path: Path, dim: int, metric: MetricSpec, mmap: bool = False) -> None:
        """Replaces the index with the one saved at ``path`` (memory-mapped if ``mmap``)."""
        raise NotImplementedError(f"{self.name} cannot load an index")

    def close(self) -> None:
        """Releases the index."""
        self.__dict__.pop("index", None)


class VsearchEngine(Engine):
    name = "vsearch"
    module = "vsearch"
    distribution = "vsearch"
    persists = can_mmap = mutable = filters = ranges = takes_ids = True
    EXACT_PLAN = "exact"
    plans = ("auto", "graph", EXACT_PLAN)  # the first is vsearch's default
    # The stats() counts that slot_stats reports.
    SLOT_STATS: ClassVar[tuple[str, ...]] = ("slots", "removed", "free_slots")
    storage = "float32"  # vsearch's storage= (the float16 engine below)

    def metric_names(self) -> tuple[str, ...]:
        import vsearch

        names = tuple(vsearch.METRICS)
        return names + ("gssf",)

    def build(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        import vsearch

        self.index = vsearch.Index(base.shape[1], metric.model if metric.model is not None else metric.name,
                                   M=params.M, ef_construction=params.ef_construction, seed=params.seed,
                                   storage=self.storage)
        self.index.add(base, threads=self.threads, progress=False)

    def search_one(self, query: Any, k: int) -> np.ndarray:
        return self.index.search(query, k, ef=self.ef, threads=1).ids

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(queries, k, ef=self.ef, threads=self.threads).ids

    def index_bytes(self) -> int | None:
        return self.index.memory_usage().total

    def prepare_filter(self, allowed: np.ndarray, n: int) -> Any:
        return self.index.prepare_filter(allowed)  # the ids looked up once, not on every call

    def search_filtered_one(self, query: Any, k: int, allowed: Any, plan: str | None = None) -> np.ndarray:
        plan = plan or self.plans[0]
        ef = None if plan == self.EXACT_PLAN else self.ef  # vsearch refuses an ef for a scan that has none
        return self.index.search(query, k, ef=ef, threads=1, filter=allowed, plan=plan).ids

    def range_search_one(self, query: Any, radius: float, allowed: Any = None, ef: int | None = None) -> np.ndarray:
        found = self.index.range_search(query, radius, ef=ef, filter=allowed, threads=1)
        return found.ids[found.offsets[0]:found.offsets[1]]

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove(ids)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.index.add(vectors, ids, threads=self.threads, progress=False)

    def consolidate(self) -> None:
        self.index.consolidate()

    def clone(self) -> Engine:
        twin = type(self)(self.threads)
        twin.index = self.index.copy()
        return twin

    def slot_stats(self) -> dict[str, int]:
        stats = self.index.stats()
        return {key: int(stats[key]) for key in self.SLOT_STATS if key in stats}

    def save(self, path: Path) -> None:
        self.index.save(path)

    def load(self, path: Path, dim: int, metric: MetricSpec, mmap: bool = False) -> None:
        import vsearch

        self.index = vsearch.load(path, mmap=mmap)


def allowed_mask(allowed: np.ndarray, n: int) -> np.ndarray:
    """A bool mask of ``n`` rows, True at the rows ``allowed``."""
    mask = np.zeros(n, bool)
    mask[allowed] = True
    return mask


@dataclass(frozen=True)
class HnswlibFilter:
    """hnswlib's filter: a Python callable id -> bool, and how many ids it lets pass."""

    accepts: Callable[[int], bool]
    count: int


class HnswlibEngine(Engine):
    """hnswlib; a mutable index is built with ``allow_replace_deleted``: removing is
    ``mark_deleted`` (the vector stays in the graph, skipped in results) and adding
    reuses removed slots (``replace_deleted``), so it never grows past the build's size.
    Its filter is a Python callable that hnswlib calls (holding the GIL) on the ids it meets."""

    name = "hnswlib"
    module = "hnswlib"
    distribution = "hnswlib"
    persists = mutable = filters = True

    def metric_names(self) -> tuple[str, ...]:
        return ("l2", "ip", "cosine")

    def build(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        self._build(base, metric, params, replace_deleted=False)

    def build_mutable(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        self._build(base, metric, params, replace_deleted=True)

    def _build(self, base: np.ndarray, metric: MetricSpec, params: BuildParams, replace_deleted: bool) -> None:
        import hnswlib

        self.index = hnswlib.Index(space=metric.name, dim=base.shape[1])
        self.index.init_index(max_elements=len(base), ef_construction=params.ef_construction, M=params.M,
                              random_seed=params.seed, allow_replace_deleted=replace_deleted)
        self.index.set_num_threads(self.threads)
        self.index.add_items(base, np.arange(len(base)), num_threads=self.threads)

    def remove(self, ids: np.ndarray) -> None:
        for label in ids.tolist():
            self.index.mark_deleted(label)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.index.add_items(vectors, ids, num_threads=self.threads, replace_deleted=True)

    def clone(self) -> Engine:
        twin = HnswlibEngine(self.threads)
        twin.index = pickle.loads(pickle.dumps(self.index))  # hnswlib's own state, allow_replace_deleted included
        twin.index.set_num_threads(self.threads)
        return twin

    def set_ef(self, ef: int) -> None:
        super().set_ef(ef)
        self.index.set_ef(ef)

    def prepare(self, queries: np.ndarray) -> Sequence[Any]:
        return [queries[i : i + 1] for i in range(len(queries))]

    def search_one(self, query: Any, k: int) -> np.ndarray:
        return self.index.knn_query(query, k=k, num_threads=1)[0][0]

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        return self.index.knn_query(queries, k=k, num_threads=self.threads)[0]

    def prepare_filter(self, allowed: np.ndarray, n: int) -> Any:
        # the fastest membership test we found: a list's bound __getitem__ runs no Python frame and hashes nothing
        return HnswlibFilter(allowed_mask(allowed, n).tolist().__getitem__, len(allowed))

    def search_filtered_one(self, query: Any, k: int, allowed: Any, plan: str | None = None) -> np.ndarray:
        # hnswlib raises when it finds fewer than k passing ids: ask for no more than pass and, when the
        # walk cannot reach them all, again for one fewer (inside the timed call: a caller has to do the same)
        for wanted in range(min(k, allowed.count), 0, -1):
            try:
                return self.index.knn_query(query, k=wanted, num_threads=1, filter=allowed.accepts)[0][0]
            except RuntimeError:
                continue
        return np.empty(0, np.int64)

    def index_bytes(self) -> int | None:
        return int(self.index.index_file_size())  # its saved size: vectors, labels and links

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))

    def load(self, path: Path, dim: int, metric: MetricSpec, mmap: bool = False) -> None:
        import hnswlib

        self.index = hnswlib.Index(space=metric.name, dim=dim)
        self.index.load_index(str(path))
        self.index.set_num_threads(self.threads)


class FaissFilter:
    """FAISS's filter: an ``IDSelectorBitmap`` over the allowed rows and the search parameters
    carrying it, one per ef, each made once (not per call)."""

    def __init__(self, allowed: np.ndarray, n: int) -> None:
        import faiss

        self.bitmap = np.packbits(allowed_mask(allowed, n), bitorder="little")  # FAISS: bit i % 8 of byte i // 8
        self.selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(self.bitmap))  # points into self.bitmap
        self.by_ef: dict[int, Any] = {}

    def params(self, ef: int) -> Any:
        found = self.by_ef.get(ef)
        if found is None:
            import faiss

            found = self.by_ef[ef] = faiss.SearchParametersHNSW(sel=self.selector, efSearch=ef)
        return found


class FaissEngine(Engine):
    """FAISS ``IndexHNSWFlat``; cosine is inner product on L2-normalised vectors (the
    queries are normalised in ``prepare``, outside the timed loop). Its filter is an ID
    selector checked in C++ on the ids it meets (``SearchParametersHNSW(sel=...)``)."""

    name = "faiss"
    module = "faiss"
    distribution = "faiss-cpu"
    persists = filters = True

    @classmethod
    def version(cls) -> str:
        import faiss

        return str(faiss.__version__)

    def metric_names(self) -> tuple[str, ...]:
        return ("l2", "ip", "cosine")

    def _pin(self, threads: int) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)

    def _shape(self, x: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.finfo(np.float32).tiny)
        return np.ascontiguousarray(x, np.float32)

    def build(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        import faiss

        self.metric = metric.name
        kind = faiss.METRIC_L2 if metric.name == "l2" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.IndexHNSWFlat(base.shape[1], params.M, kind)
        self.index.hnsw.efConstruction = params.ef_construction
        self._pin(self.threads)
        self.index.add(self._shape(base))

    def set_ef(self, ef: int) -> None:
        super().set_ef(ef)
        self.index.hnsw.efSearch = ef

    def prepare(self, queries: np.ndarray) -> Sequence[Any]:
        self._pin(1)
        shaped = self._shape(queries)
        return [shaped[i : i + 1] for i in range(len(shaped))]

    def search_one(self, query: Any, k: int) -> np.ndarray:
        return self.index.search(query, k)[1][0]

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        self._pin(self.threads)
        try:
            return self.index.search(self._shape(queries), k)[1]
        finally:
            self._pin(1)

    def prepare_filter(self, allowed: np.ndarray, n: int) -> Any:
        return FaissFilter(allowed, n)

    def search_filtered_one(self, query: Any, k: int, allowed: Any, plan: str | None = None) -> np.ndarray:
        return self.index.search(query, k, params=allowed.params(self.ef))[1][0]

    def index_bytes(self) -> int | None:
        import faiss

        return int(len(faiss.serialize_index(self.index)))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    def load(self, path: Path, dim: int, metric: MetricSpec, mmap: bool = False) -> None:
        import faiss

        self.metric = metric.name
        self.index = faiss.read_index(str(path))


class ExactEngine(Engine):
    """Brute force (numpy BLAS, float32): the speed of not using an index. Ground truth
    itself is computed in float64 by bench.distances.exact_topk."""

    name = "exact"
    module = "numpy"
    distribution = "numpy"
    graph = False

    def metric_names(self) -> tuple[str, ...]:
        return tuple(BUILTIN) + ("gssf",)

    def build(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        self.metric = metric
        self.base = np.ascontiguousarray(base, np.float32)
        self.offset = None
        if metric.name == "l2":
            self.offset = 0.5 * (self.base.astype(np.float64) ** 2).sum(1).astype(np.float32)
        elif metric.name == "cosine":
            self.base = self.base / np.linalg.norm(self.base, axis=1, keepdims=True).clip(np.finfo(np.float32).tiny)
        elif metric.name == "snr":
            self.base = self.base - self.base.mean(1, keepdims=True)
            self.offset = 0.5 * (self.base.astype(np.float64) ** 2).sum(1).astype(np.float32)
        elif metric.name != "ip":
            self.base = np.asarray(base)  # learned metrics: the float64 reference, slower

    def _scores(self, q: np.ndarray) -> np.ndarray:
        """Rank-equivalent distances (Q, N): smaller is closer."""
        name = self.metric.name
        if name == "cosine":
            q = q / np.linalg.norm(q, axis=1, keepdims=True).clip(np.finfo(np.float32).tiny)
        elif name == "snr":
            q = q - q.mean(1, keepdims=True)
        elif name not in ("l2", "ip"):
            return self.metric.pairwise(np.asarray(q, np.float64), np.asarray(self.base, np.float64))
        s = -(q @ self.base.T)
        return s + self.offset if self.offset is not None else s

    def _top(self, scores: np.ndarray, k: int) -> np.ndarray:
        k_eff = min(k, scores.shape[1])
        part = np.argpartition(scores, k_eff - 1, axis=1)[:, :k_eff]
        order = np.take_along_axis(part, np.argsort(np.take_along_axis(scores, part, 1), axis=1, kind="stable"), 1)
        if k_eff < k:
            order = np.hstack([order, np.full((len(order), k - k_eff), -1)])
        return order

    def prepare(self, queries: np.ndarray) -> Sequence[Any]:
        return [np.ascontiguousarray(queries[i : i + 1], np.float32) for i in range(len(queries))]

    def search_one(self, query: Any, k: int) -> np.ndarray:
        return self._top(self._scores(query), k)[0]

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        return np.vstack([self._top(self._scores(queries[s : s + EXACT_BATCH_ROWS]), k)
                          for s in range(0, len(queries), EXACT_BATCH_ROWS)])

    def index_bytes(self) -> int | None:
        return int(self.base.nbytes + (0 if self.offset is None else self.offset.nbytes))

    def close(self) -> None:
        self.__dict__.pop("base", None)


class UsearchEngine(Engine):
    """usearch (optional): ``connectivity`` = M, ``expansion_add`` = ef_construction,
    ``expansion_search`` = ef."""

    name = "usearch"
    module = "usearch.index"
    distribution = "usearch"
    METRIC_NAMES: ClassVar[dict[str, str]] = {"l2": "l2sq", "ip": "ip", "cosine": "cos"}

    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.METRIC_NAMES)

    def build(self, base: np.ndarray, metric: MetricSpec, params: BuildParams) -> None:
        from usearch.index import Index

        self.index = Index(ndim=base.shape[1], metric=self.METRIC_NAMES[metric.name], dtype="f32",
                           connectivity=params.M, expansion_add=params.ef_construction)
        self.index.add(np.arange(len(base)), base, threads=self.threads)

    def set_ef(self, ef: int) -> None:
        super().set_ef(ef)
        self.index.expansion_search = ef

    def search_one(self, query: Any, k: int) -> np.ndarray:
        return np.asarray(self.index.search(query, k, threads=1).keys, np.int64)

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(queries, k, threads=self.threads).keys, np.int64)

    def index_bytes(self) -> int | None:
        size = getattr(self.index, "memory_usage", None)
        return int(size) if isinstance(size, (int, float)) and math.isfinite(size) else None


class VsearchHalfEngine(VsearchEngine):
    """vsearch with storage="float16": the graph built and walked on halves."""

    name = "vsearch-f16"
    storage = "float16"


ENGINES: dict[str, type[Engine]] = {e.name: e for e in (VsearchEngine, VsearchHalfEngine, HnswlibEngine, FaissEngine,
                                                          ExactEngine, UsearchEngine)}
DEFAULT_ENGINES = ("vsearch", "hnswlib", "faiss", "exact", "usearch")
# Engines that are optional extras: their absence is a notice, not a failure to report loudly.
OPTIONAL_ENGINES = ("usearch",)


def available(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Splits engine names into those usable here and {name: reason} for the others
    (unknown names and libraries that are not installed)."""
    usable, skipped = [], {}
    for name in names:
        cls = ENGINES.get(name)
        if cls is None:
            skipped[name] = f"unknown engine (known: {', '.join(ENGINES)})"
            continue
        reason = cls.unavailable()
        if reason:
            skipped[name] = reason
        else:
            usable.append(name)
    return usable, skipped

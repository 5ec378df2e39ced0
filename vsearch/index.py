"""The HNSW index: numpy in, numpy out."""

from __future__ import annotations

import os
from typing import IO, Any, NamedTuple, Sequence, Sized

import numpy as np

from . import _core, _metric_spec, filters, limits, persistence
from ._progress import Progress, reporter
from ._metric_spec import MetricSpec
from ._validation import (
    INT64_MAX,
    INT64_MIN,
    as_float_rows,
    as_ids,
    bounded_int,
    first_outside_int64,
    integer_array,
    is_ready,
    positive_int,
    seed_value,
    thread_count,
)
from .errors import (
    DuplicateIdError,
    InvalidParameterError,
    OutOfMemoryError,
    ReadOnlyIndexError,
    UnknownIdError,
)


# The storage= values (Index): float32 rows, or IEEE halves.
STORAGES: tuple[str, ...] = tuple(_core.STORAGES)
_RESULT_BYTES = np.dtype(np.int64).itemsize + np.dtype(np.float32).itemsize  # an id and a distance
# The limits the fast path of search() reads, bound here to spare it two lookups each.
_MAX_EF, _MAX_THREADS = limits.MAX_EF, limits.MAX_THREADS
# A named tuple from the core's (ids, distances) without NamedTuple._make's length check.
_new_result = tuple.__new__


def _beam_width(value: Any, name: str) -> int:
    if type(value) is int and 0 < value <= limits.MAX_EF:  # the common case, checked cheaply
        return value
    return bounded_int(value, name, 1, limits.MAX_EF, "the widest beam vsearch allows")


def _neighbour_count(k: Any, index: Sized) -> int:
    if type(k) is int and 0 < k <= limits.MAX_EF:  # the common case, checked cheaply (len() only for the error)
        return k
    return bounded_int(
        k, "k", 1, limits.MAX_EF,
        f"a search keeps max(k, ef) candidates, and the widest beam vsearch allows is {limits.MAX_EF}; the index "
        f"holds {len(index)} vectors, and rows with fewer neighbours are padded with id -1",
    )


# What a change to a memory-mapped index is told.
READ_ONLY_HINT = (
    "this index is memory-mapped from a file and read-only; index.copy() gives a writable "
    "in-memory copy (or load the file without mmap=True)"
)


def _id_lookup(ids: Any) -> tuple[np.ndarray, bool, int | None]:
    """(the ids as a C-contiguous int64 array, whether one id was given, the
    first id outside int64, which no index holds, or None)."""
    single = np.ndim(ids) == 0
    id_array = np.atleast_1d(integer_array(ids, "ids"))
    if id_array.ndim != 1:
        raise InvalidParameterError(f"ids must be an integer or a 1-D sequence of integers; got {ids!r:.80}")
    outside = first_outside_int64(id_array)
    if outside is not None:
        id_array = np.array([i for i in id_array.tolist() if INT64_MIN <= i <= INT64_MAX], dtype=np.int64)
    return np.ascontiguousarray(id_array, dtype=np.int64), single, outside


class SearchResult(NamedTuple):
    """Nearest neighbours: ``ids`` (int64) and ``distances`` (float32), nearest first.

    Missing results (fewer than ``k`` vectors reachable) are id ``-1`` with
    distance ``inf``. Unpacks as ``ids, distances = index.search(q)``.
    """

    ids: np.ndarray
    distances: np.ndarray


class RangeResult(NamedTuple):
    """Every hit of a range search, flat: query ``i``'s hits are
    ``ids[offsets[i]:offsets[i + 1]]`` (and the same slice of ``distances``),
    nearest first, as FAISS's ``lims``. ``result.query(i)`` gives them as a
    :class:`SearchResult`; ``result.counts`` the hits per query.
    """

    ids: np.ndarray
    distances: np.ndarray
    offsets: np.ndarray

    def query(self, i: int) -> SearchResult:
        """The hits of query ``i``."""
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return SearchResult(self.ids[start:end], self.distances[start:end])

    @property
    def counts(self) -> np.ndarray:
        """Hits per query."""
        return np.diff(self.offsets)


class MemoryUsage(NamedTuple):
    """Bytes an index holds: ``in_use`` by its vectors, graph, ids and search
    scratch, ``reserved`` as room for vectors not added yet (``Index.reserve``,
    geometric growth). ``total`` is their sum; ``int(usage)`` is the total too.
    """

    in_use: int
    reserved: int

    @property
    def total(self) -> int:
        return self.in_use + self.reserved

    def __int__(self) -> int:
        return self.total


class Index:
    """An approximate nearest-neighbour index (HNSW) over float32 vectors (kept as float32 or float16).

    Args:
        dim: dimension of the vectors.
        metric: ``"l2"`` (squared Euclidean), ``"ip"`` (``1 - <q, x>``),
            ``"cosine"`` (``1 - cos(q, x)``), ``"snr"`` (``var(x - q) / var(q)``,
            the signal-to-noise-ratio distance), a trained :class:`vsearch.GSSF`
            model (``1 - S(q, x)``), or a :class:`vsearch.CustomMetric`.
            Smaller is closer for all.
        M: links per node on the upper levels (``2*M`` on level 0). Higher
            gives better recall for more memory and build time.
        ef_construction: beam width while building.
        ef: default beam width while searching (raise it for recall).
        seed: seed of the level generator; with ``threads=1`` the same seed and
            data give the same graph.
        metric_params: the :class:`vsearch.GSSF` model when ``metric="gssf"``.
        storage: how vectors are kept: ``"float32"`` (as given), or
            ``"float16"``: IEEE halves, half the memory and half the bytes
            read per distance. The graph is built and searched on the halves
            (queries stay float32), distances are those of the halves, and
            ``get`` returns them widened to float32. Values must lie within
            +-65504; relative precision is about 1e-3, which leaves recall
            within ~0.001 of float32's. A custom metric needs ``"float32"``.

    Thread safety: ``search``, ``get`` and ``in`` may be called from many
    threads at once, also while other threads call ``add``, ``upsert``,
    ``remove`` or ``consolidate``. Adds, upserts and removes may run at the same
    time as each other; each briefly pauses searches while it books its slots.
    ``consolidate`` waits for running adds, upserts, removes and saves, and
    they wait for it (searches go on); ``compact`` pauses everything while it runs.

    Example:
        >>> import numpy as np, vsearch
        >>> data = np.random.default_rng(0).random((1000, 32), dtype=np.float32)
        >>> index = vsearch.Index(32, metric="l2")
        >>> ids = index.add(data)
        >>> ids, distances = index.search(data[:2], k=3)
        >>> ids[:, 0].tolist()
        [0, 1]
    """

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        *,
        M: int = limits.DEFAULT_M,
        ef_construction: int = limits.DEFAULT_EF_CONSTRUCTION,
        ef: int = limits.DEFAULT_EF,
        seed: int = 0,
        metric_params: Any = None,
        storage: str = "float32",
    ) -> None:
        if isinstance(dim, str):
            order = (f": write vsearch.Index({metric!r}, {dim!r}), not vsearch.Index({dim!r}, {metric!r}) "
                     "(hnswlib's Index(space, dim) has the other order)" if not isinstance(metric, str) else "")
            raise InvalidParameterError(f"vsearch.Index takes the dimension first, then the metric{order}; "
                                        f"got dim={dim!r}")
        dim = bounded_int(dim, "dim", 1, limits.MAX_DIM, "the largest vector vsearch stores")
        M = bounded_int(M, "M", 2, limits.MAX_M, "links per node")
        ef_construction = _beam_width(ef_construction, "ef_construction")
        ef = _beam_width(ef, "ef")
        seed = seed_value(seed)
        spec = _metric_spec.resolve(dim, metric, metric_params)
        if not isinstance(storage, str) or storage not in STORAGES:
            raise InvalidParameterError(f"storage must be one of {', '.join(map(repr, STORAGES))}; got {storage!r}")
        if spec.name == "custom" and storage != "float32":
            raise InvalidParameterError(f"a custom metric reads float32 vectors: use storage='float32', not {storage!r}")
        params = _core.make_params(dim, spec.name, M, ef_construction, ef, seed, **spec.native_args(), storage=storage)
        self._attach(_core.HnswIndex(params), spec)

    def _attach(self, core: Any, spec: MetricSpec, mapped: persistence.MappedFile | None = None) -> None:
        self._core = core
        self._dim = core.dim  # immutable; kept here so the per-query path skips a native call
        self._spec = spec  # also keeps a custom metric's compiled code alive
        self._mapped = mapped  # the memory map behind a read-only index

    @classmethod
    def _wrap(cls, core: Any, spec: MetricSpec, mapped: persistence.MappedFile | None = None) -> "Index":
        index = cls.__new__(cls)
        index._attach(core, spec, mapped)
        return index

    # -- building -----------------------------------------------------------

    def add(
        self,
        vectors: Any,
        ids: Sequence[int] | np.ndarray | None = None,
        *,
        threads: int = 0,
        progress: Progress = None,
    ) -> np.ndarray:
        """Adds vectors and returns their ids (int64).

        Args:
            vectors: shape ``(n, dim)``, or one vector of shape ``(dim,)``.
                float64, float16, integer arrays and lists are converted.
            ids: one distinct int64 id per vector, any but -1 (search results
                use -1 for a missing neighbour; ``vsearch.limits.MISSING_ID``).
                When omitted, ids continue from the largest id in the index, and
                never below 0 (0, 1, 2, ... for a new one).
            threads: native threads (0: one per core), at most
                ``vsearch.limits.MAX_THREADS``.
            progress: ``True`` shows a progress bar with an ETA on stderr (a
                line redrawn on a terminal; elsewhere a few whole lines, at most
                one per tenth of the batch); ``False`` shows nothing; ``None``
                (the default) shows the bar for batches of 100,000 vectors or
                more when stderr is a terminal. A function is called as
                ``progress(done, total)`` from the calling thread, a few times
                a second and once at the end, instead of the bar.

        Raises a :mod:`vsearch.errors` error, leaving the index unchanged, for a
        wrong dimension or dtype, NaN/inf values, a zero vector with cosine, or
        ids that are repeated or already present; ``MemoryError``, also leaving
        it unchanged, when the batch does not fit.

        Freed slots (see :meth:`remove`) are filled first; a batch that would
        otherwise grow the index while removed vectors still hold slots
        consolidates first, so churn does not grow memory. An exception raised while
        progress is shown (Ctrl-C) comes once the whole batch is in: an add
        never stops half-way.

        Example:
            >>> index = vsearch.Index(2)
            >>> index.add([[0.0, 1.0], [1.0, 0.0]]).tolist()
            [0, 1]
            >>> index.add([2.0, 2.0], ids=[42]).tolist()
            [42]
            >>> def report(done, total):
            ...     print(f"{done} of {total}")
            >>> _ = index.add(np.eye(2) + 5, progress=report)
            2 of 2
        """
        return self._insert(vectors, ids, threads, progress, replace=False)

    def upsert(
        self,
        vectors: Any,
        ids: Sequence[int] | np.ndarray,
        *,
        threads: int = 0,
        progress: Progress = None,
    ) -> np.ndarray:
        """Adds vectors under ``ids``, replacing the vector of each id already in the index.

        Arguments as for :meth:`add`, but ``ids`` are required. A replaced
        vector's old version becomes a tombstone (see :meth:`remove`) in the same
        step as its new one takes the id: a search running meanwhile returns
        each id at most once, with its old or its new vector. Ids repeated in
        the batch raise :class:`vsearch.errors.DuplicateIdError` and change
        nothing. Returns the ids (int64).

        Example:
            >>> index = vsearch.Index(2)
            >>> _ = index.add([[0.0, 1.0], [1.0, 0.0]], ids=[1, 2])
            >>> index.upsert([[5.0, 5.0], [7.0, 7.0]], ids=[2, 3]).tolist()
            [2, 3]
            >>> len(index), index.get(2).tolist()
            (3, [5.0, 5.0])
        """
        if ids is None:
            raise InvalidParameterError("upsert needs ids: the ids to add or replace (add() gives new ids itself)")
        return self._insert(vectors, ids, threads, progress, replace=True)

    def _insert(self, vectors: Any, ids: Any, threads: int, progress: Progress, *, replace: bool) -> np.ndarray:
        if self._core.read_only:
            raise ReadOnlyIndexError(READ_ONLY_HINT)
        rows, _ = as_float_rows(vectors, self.dim, "vectors")
        threads = thread_count(threads)
        id_array = None if ids is None else as_ids(ids, rows.shape[0])
        report = reporter(progress, rows.shape[0], "upserting" if replace else "adding", batch=rows.shape[0])
        conflicts, first_auto_id = self._core.add(rows, id_array, threads, report, replace)
        if conflicts.size:
            raise DuplicateIdError(
                f"ids already in the index: {conflicts[:10].tolist()}"
                f"{' ...' if conflicts.size > 10 else ''}; nothing was added"
            )
        if id_array is None:
            return np.arange(first_auto_id, first_auto_id + rows.shape[0], dtype=np.int64)
        return id_array.copy()

    # -- removing -----------------------------------------------------------

    def remove(self, ids: int | Sequence[int] | np.ndarray, *, missing_ok: bool = False, threads: int = 0) -> int:
        """Removes the vectors of ``ids`` (an int, a sequence or a 1-D array); returns how many.

        They are at once out of :meth:`search` results, :meth:`get` and ``in``,
        and ``len`` drops. An id not in the index raises
        :class:`vsearch.errors.UnknownIdError` naming it and removes nothing;
        ``missing_ok=True`` skips such ids instead. An id repeated in ``ids``
        counts once. A removed id may be added again.

        A removed vector first stays in the graph as a tombstone (searches walk
        it, never return it), so recall does not drop. Once tombstones make up
        more than :attr:`consolidate_fraction` of the graph, the graph is
        repaired around them and their slots freed for later adds
        (:meth:`consolidate`, with ``threads`` native threads, 0: one per core).
        Raises :class:`vsearch.errors.ReadOnlyIndexError` on a memory-mapped index.

        Example:
            >>> index = vsearch.Index(2)
            >>> _ = index.add([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], ids=[10, 11, 12])
            >>> index.remove([10, 12])
            2
            >>> len(index), 10 in index, index.search([0.0, 0.0], k=2).ids.tolist()
            (1, False, [11, -1])
            >>> index.remove(99, missing_ok=True)
            0
        """
        if self._core.read_only:
            raise ReadOnlyIndexError(READ_ONLY_HINT)
        id_array, _, outside = _id_lookup(ids)
        if outside is not None and not missing_ok:
            raise UnknownIdError(f"id {outside} is not in the index (ids are int64); nothing was removed")
        threads = thread_count(threads)
        removed, unknown = self._core.remove(id_array, bool(missing_ok), threads)
        if unknown >= 0:
            raise UnknownIdError(
                f"id {int(id_array[unknown])} is not in the index; nothing was removed (missing_ok=True skips "
                "unknown ids)"
            )
        return removed

    def consolidate(self, *, threads: int = 0) -> int:
        """Repairs the graph around removed vectors now and frees their slots; returns how many.

        Every vector that linked to a removed one gets new links, chosen with
        HNSW's neighbour heuristic from its remaining links and the removed
        vectors' links (delete consolidation as in FreshDiskANN, Singh et al.
        2021); later adds reuse the freed slots. :meth:`remove` runs this by
        itself past :attr:`consolidate_fraction`. Searches go on meanwhile;
        adds, upserts, removes and saves wait for it. When more than half of
        the slots are free afterwards (a large removal), it also compacts
        (:meth:`compact`): live vectors scattered among free slots search
        slower than a dense index.

        Example:
            >>> index = vsearch.Index(2)
            >>> _ = index.add(np.eye(2))
            >>> index.consolidate_fraction = 1.0      # repair only on demand
            >>> index.remove(0)
            1
            >>> index.stats()["removed"], index.consolidate(), index.stats()["free_slots"]
            (1, 1, 1)
        """
        if self._core.read_only:
            raise ReadOnlyIndexError(READ_ONLY_HINT)
        return self._core.consolidate(thread_count(threads))

    def compact(self, *, threads: int = 0) -> None:
        """Consolidates, then renumbers the slots densely and gives memory back.

        Afterwards the index holds room for exactly ``len(index)`` vectors (adds
        grow it again as usual); ids, vectors and links stay the same. Pauses
        searches while it runs (about as long as copying the index).

        Example:
            >>> index = vsearch.Index(8)
            >>> _ = index.add(np.random.default_rng(0).random((1000, 8)))
            >>> _ = index.remove(range(500))
            >>> index.compact()
            >>> index.stats()["capacity"], index.memory_usage().reserved
            (500, 0)
        """
        if self._core.read_only:
            raise ReadOnlyIndexError(READ_ONLY_HINT)
        self._core.compact(thread_count(threads))

    @property
    def consolidate_fraction(self) -> float:
        """Share of the graph that tombstones may reach before :meth:`remove` (or
        :meth:`upsert`) consolidates by itself: removed / (len + removed), in
        [0, 1]. Default ``vsearch.limits.DEFAULT_CONSOLIDATE_FRACTION`` (0.1); 0
        consolidates after every removal, 1.0 only on :meth:`consolidate`. Saved
        with the index.
        """
        return self._core.consolidate_fraction

    @consolidate_fraction.setter
    def consolidate_fraction(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
            0.0 <= float(value) <= 1.0
        ):
            raise InvalidParameterError(
                f"consolidate_fraction must be a number in [0, 1] (0: consolidate after every removal, 1: only "
                f"on consolidate()); got {value!r:.40}"
            )
        self._core.consolidate_fraction = float(value)

    # -- searching ----------------------------------------------------------

    def search(
        self, queries: Any, k: int = 10, *, ef: int | None = None, threads: int = 0, exact: bool = False,
        filter: Any = None, plan: str = "auto",
    ) -> SearchResult:
        """Finds the ``k`` nearest neighbours of each query.

        Args:
            queries: shape ``(n, dim)``, or one query of shape ``(dim,)``.
            k: neighbours per query.
            ef: beam width (default: ``index.ef``); ``max(ef, k)`` is used.
            threads: native threads for a batch (0: one per core).
            exact: compare every query with every vector (the SIMD kernels,
                queries spread over the threads) instead of walking the graph:
                the true neighbours, equal distances ordered by the smaller id.
                Costs time linear in ``len(index)``; takes no ``ef``.
            filter: only ids that pass are returned (vsearch.filters): allowed
                ids (or :meth:`prepare_filter`'s), one id list per query, a
                :class:`vsearch.Predicate`, or a Python callable ``id -> bool``
                (the slow path: it holds the GIL).
            plan: for a filtered search, ``"auto"`` chooses per query between
                a filtered graph walk and an exact scan of the passing
                vectors, by how many pass; ``"graph"`` or ``"exact"`` forces one.
                ``exact=True`` is ``plan="exact"``.

        Returns:
            :class:`SearchResult` with arrays of shape ``(n, k)`` (``(k,)`` for
            a 1-D query). Missing results (fewer than ``k`` vectors reachable,
            or passing the filter) are id -1 and distance inf.

        Example:
            >>> index = vsearch.Index(2)
            >>> _ = index.add([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
            >>> index.search([0.0, 0.5], k=4)
            SearchResult(ids=array([ 0,  2,  1, -1]), distances=array([ 0.25,  1.25, 21.25,   inf], dtype=float32))
            >>> index.search([0.0, 0.5], k=1, exact=True).ids
            array([0])
            >>> index.search([0.0, 0.5], k=2, filter=[1, 2]).ids
            array([2, 1])
            >>> index.search([[0.0, 1.0], [3.0, 3.0]], k=1, filter=[[1], [0]]).ids
            array([[1],
                   [0]])
        """
        # The common call, an unfiltered graph search of a ready float32 array
        # with plain in-range ints, would pass every check below unchanged:
        # skipping them is most of what one query on a small index costs here.
        if (filter is None and exact is False and type(plan) is str and plan == "auto"
                and type(k) is int and 0 < k <= _MAX_EF and (ef is None or (type(ef) is int and 0 < ef <= _MAX_EF))
                and type(threads) is int and 0 <= threads <= _MAX_THREADS and is_ready(queries, self._dim)):
            try:
                return _new_result(SearchResult, self._core.search(queries, k, 0 if ef is None else ef, threads, False))
            except MemoryError:
                raise self._no_room_for_results(1 if queries.ndim == 1 else queries.shape[0], k) from None
        k = _neighbour_count(k, self)
        if type(exact) is not bool:
            raise InvalidParameterError(f"exact must be True or False, not {exact!r}")
        plan = filters.plan_name(plan)
        if exact:
            if plan == "graph":
                raise InvalidParameterError("exact=True and plan='graph' contradict each other: drop one")
            plan = "exact"
        if plan == "exact" and ef is not None:
            raise InvalidParameterError(
                "ef is the graph search's beam width; an exact search compares every vector and takes no ef: drop ef"
            )
        ef = 0 if ef is None else _beam_width(ef, "ef")  # 0: the index's own ef
        threads = thread_count(threads)
        if not is_ready(queries, self._dim):
            queries, was_1d = as_float_rows(queries, self.dim, "queries")
            if was_1d:
                queries = queries[0]
        rows = 1 if queries.ndim == 1 else queries.shape[0]
        try:
            if filter is None:
                return _new_result(SearchResult, self._core.search(queries, k, ef, threads, plan == "exact"))
            spec = filters.core_filter(filter, rows)
            return _new_result(SearchResult, self._core.search_filtered(queries, k, ef, threads, spec, plan))
        except MemoryError:  # numpy's, for the result arrays, or the core's
            raise self._no_room_for_results(rows, k) from None

    def _no_room_for_results(self, rows: int, k: int) -> OutOfMemoryError:
        return OutOfMemoryError(
            f"the results of {rows} queries x k={k} need {rows * k * _RESULT_BYTES:,} bytes, which are not "
            f"available: ask for fewer neighbours (the index holds {len(self)} vectors) or search fewer "
            "queries per call"
        )

    def prepare_filter(self, ids: Any) -> filters.PreparedFilter:
        """Looks allowed ids up once, for many filtered searches.

        ``filter=ids`` maps every id to its place in the index on every call;
        a prepared filter does it now. It stays correct when the index
        changes (calls then look the ids up again, as for plain ids).

        Example:
            >>> index = vsearch.Index(2)
            >>> _ = index.add([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
            >>> tenant = index.prepare_filter([1, 2])
            >>> index.search([0.0, 0.5], k=1, filter=tenant).ids
            array([2])
        """
        return filters.PreparedFilter(self._core.prepare_ids(filters.shared_ids(ids)))

    def range_search(
        self, queries: Any, radius: float, *, ef: int | None = None, filter: Any = None,
        max_results: int | None = None, threads: int = 0,
    ) -> RangeResult:
        """Finds every vector within ``radius`` of each query.

        A graph walk finds the region around the query, then keeps expanding
        every node it reaches inside the radius or a margin around it, so the
        hits are found however many there are (approximate: a hit that only
        nodes farther out lead to can be missed; raise ``ef`` for more).

        Args:
            queries: shape ``(n, dim)``, or one query of shape ``(dim,)``.
            radius: in the metric's distance, as ``search`` reports it (``l2``:
                squared); hits have ``distance <= radius``. Below 0 only for
                metrics whose distances can be (``ip``'s ``1 - <q,x>``,
                ``gssf``, a custom metric); ``inf`` returns everything.
            ef: beam width of the walk that finds the region (default: ``index.ef``).
            filter: as in :meth:`search`.
            max_results: keep at most this many hits per query, the nearest
                (default: all).
            threads: native threads for a batch (0: one per core).

        Returns:
            :class:`RangeResult`: flat ``ids``, ``distances`` and ``offsets``.

        Example:
            >>> index = vsearch.Index(2)
            >>> _ = index.add([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
            >>> hits = index.range_search([[0.0, 0.0], [3.0, 3.0]], radius=2.0)
            >>> hits.offsets
            array([0, 2, 3])
            >>> hits.query(0)
            SearchResult(ids=array([0, 2]), distances=array([0., 2.], dtype=float32))
        """
        real = not isinstance(radius, (bool, np.bool_)) and isinstance(radius, (int, float, np.integer, np.floating))
        if not real or np.isnan(radius):
            raise InvalidParameterError(f"radius must be a number in the metric's distance (l2: squared); got {radius!r}")
        if radius < 0 and self._spec.nonnegative:
            raise InvalidParameterError(
                f"radius must be >= 0: {self.metric} distances are never negative (l2's is squared); got {radius!r}"
            )
        ef = 0 if ef is None else _beam_width(ef, "ef")
        cap = 0 if max_results is None else positive_int(max_results, "max_results")
        threads = thread_count(threads)
        queries, _ = as_float_rows(queries, self.dim, "queries")
        spec = filters.core_filter(filter, queries.shape[0])
        return RangeResult(*self._core.range_search(queries, float(radius), ef, cap, threads, spec))

    # -- reading back -------------------------------------------------------

    def get(self, ids: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """Returns the vectors stored under ``ids``, exactly as they were added.

        A single id gives shape ``(dim,)``; a sequence gives ``(n, dim)``.
        Raises :class:`vsearch.errors.UnknownIdError` for an id not in the index.

        Example:
            >>> index = vsearch.Index(2, metric="cosine")
            >>> _ = index.add([[3.0, 4.0]], ids=[7])
            >>> index.get(7)
            array([3., 4.], dtype=float32)
        """
        id_array, single, outside = _id_lookup(ids)
        if outside is not None:  # ids are int64: no index holds this one
            raise UnknownIdError(f"id {outside} is not in the index (ids are int64)")
        vectors, missing = self._core.get(id_array)
        if missing >= 0:
            raise UnknownIdError(f"id {int(id_array[missing])} is not in the index")
        return vectors[0] if single else vectors

    def __contains__(self, id: object) -> bool:
        if isinstance(id, (bool, np.bool_)) or not isinstance(id, (int, np.integer)):
            return False
        if not INT64_MIN <= int(id) <= INT64_MAX:
            return False
        return self._core.contains(int(id))

    def __len__(self) -> int:
        return len(self._core)

    def ids(self) -> np.ndarray:
        """The ids of the vectors in the index, int64, in slot order: the order they
        were added, unless removals freed slots that later adds took.

        Example:
            >>> index = vsearch.Index(2)
            >>> _ = index.add(np.eye(2), ids=[7, -3])
            >>> index.ids().tolist()
            [7, -3]
        """
        return self._core.ids()

    def reserve(self, count: int) -> None:
        """Allocates room for ``count`` vectors in all now, so that adding up to that
        many later allocates nothing more (a smaller ``count`` than the room the
        index already has does nothing). The index grows by itself without it:
        geometrically, doubling while small and by a quarter once large.

        Raises ``InvalidParameterError`` past ``vsearch.limits.MAX_ELEMENTS``,
        ``OutOfMemoryError`` when the memory is not there (the index keeps its
        vectors, capacity and graph), and ``ReadOnlyIndexError`` on a
        memory-mapped index.

        Example:
            >>> index = vsearch.Index(8)
            >>> index.reserve(10_000)
            >>> index.memory_usage().reserved > 10_000 * 8 * 4
            True
        """
        count = bounded_int(count, "count", 0, limits.MAX_ELEMENTS, "vectors in one index")
        if self._core.read_only:
            raise ReadOnlyIndexError(READ_ONLY_HINT)
        self._core.reserve(count)

    # -- persistence ----------------------------------------------------------

    def save(self, path: str | os.PathLike | IO[bytes]) -> None:
        """Writes the index to one file, atomically (the old file survives a crash mid-save).

        ``path`` may also be a binary file object (``io.BytesIO``, ``open(path,
        "wb")``): it gets the same bytes, written at its position, without the
        atomic rename. Concurrent adds wait until the file is written; searches
        go on. The format is described in ``vsearch/FORMAT.md``. An ``OSError``
        (a missing or read-only folder) names ``path``.

        Example:
            >>> import io
            >>> index = vsearch.Index(2)
            >>> _ = index.add(np.eye(2))
            >>> buffer = io.BytesIO()
            >>> index.save(buffer)
            >>> len(vsearch.load(io.BytesIO(buffer.getvalue())))
            2
            >>> index.save("vectors.vsx")              # doctest: +SKIP
        """
        persistence.save(self._core, self._spec, path)

    def __bytes__(self) -> bytes:
        """The index in the file format, as bytes."""
        return persistence.to_bytes(self._core, self._spec)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *, metric: Any = None) -> "Index":
        """Rebuilds an index from ``bytes(index)``, validating everything first.

        Raises :class:`vsearch.errors.IndexFormatError` for damaged or hostile data.
        An index with a custom metric needs it again: ``metric=the_custom_metric``.

        Example:
            >>> copy = vsearch.Index.from_bytes(bytes(index))   # doctest: +SKIP
        """
        return cls._wrap(*persistence.from_bytes(data, metric))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle carries only the file format's bytes; unpickling validates them.
        if self._spec.name == "custom":
            raise TypeError("an index with a custom (compiled) metric cannot be pickled; use save() and "
                            "vsearch.load(path, metric=...)")
        return (Index.from_bytes, (bytes(self),))

    def copy(self) -> "Index":
        """An independent, writable in-memory copy (also of a memory-mapped index)."""
        return Index.from_bytes(bytes(self), metric=self._spec.model if self._spec.name == "custom" else None)

    @property
    def read_only(self) -> bool:
        """True for an index memory-mapped with ``vsearch.load(path, mmap=True)``."""
        return self._core.read_only

    def verify(self) -> None:
        """Checks every link, vector and (for a mapped file) section checksum.

        Raises :class:`vsearch.errors.IndexFormatError` naming the section at fault.
        """
        persistence.verify_core(self._core, self._mapped)

    # -- parameters and diagnostics -------------------------------------------

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return self._dim

    @property
    def metric(self) -> str:
        """Metric name: ``"l2"``, ``"ip"``, ``"cosine"``, ``"snr"``, ``"gssf"`` or the custom metric's name."""
        return self._spec.display_name

    @property
    def storage(self) -> str:
        """How vectors are kept: ``"float32"`` or ``"float16"`` (see :class:`Index`)."""
        return self._core.storage

    @property
    def metric_params(self) -> Any:
        """The GSSF model or CustomMetric behind the metric (None for the built-in ones)."""
        return self._spec.model

    @property
    def M(self) -> int:
        """Links per node on the upper levels (``2*M`` on level 0)."""
        return self._core.M

    @property
    def ef_construction(self) -> int:
        """Beam width used while building."""
        return self._core.ef_construction

    @property
    def seed(self) -> int:
        """Seed of the level generator."""
        return self._core.seed

    @property
    def ef(self) -> int:
        """Default beam width of :meth:`search` (at least 1)."""
        return self._core.ef

    @ef.setter
    def ef(self, value: int) -> None:
        self._core.ef = _beam_width(value, "ef")

    def memory_usage(self) -> MemoryUsage:
        """Bytes held by the index: ``in_use`` (vectors, graph, ids, id map, search
        scratch) and ``reserved`` (room for vectors not added yet).

        Example:
            >>> index = vsearch.Index(8)
            >>> _ = index.add(np.ones((100, 8)))
            >>> usage = index.memory_usage()
            >>> usage.total == usage.in_use + usage.reserved
            True
        """
        total = self._core.memory_bytes()
        reserved = self._core.reserved_bytes()
        return MemoryUsage(total - reserved, reserved)

    def stats(self) -> dict[str, Any]:
        """Shape of the graph: counts, levels, degrees, capacity, SIMD level.

        ``count`` is ``len(index)``; ``removed`` the tombstones not yet
        consolidated; ``free_slots`` the slots later adds will reuse; ``slots``
        their sum; ``capacity`` the slots allocated.

        Example:
            >>> index = vsearch.Index(4)
            >>> _ = index.add(np.eye(4))
            >>> index.stats()["level_counts"][0] <= 4
            True
        """
        stats = self._core.stats()
        degrees = stats.pop("mean_degree")
        stats["mean_degree_level0"] = degrees[0] if degrees else 0.0
        stats["mean_degree_per_level"] = degrees
        usage = self.memory_usage()
        stats["memory_bytes"], stats["reserved_bytes"] = usage.total, usage.reserved
        stats["simd"] = self._core.simd
        stats["storage"] = self._core.storage
        return stats

    def __repr__(self) -> str:
        mapped = f", mapped from {self._mapped.path!r}" if self._mapped else ""
        return (
            f"vsearch.Index(dim={self.dim}, metric={self.metric!r}, count={len(self)}, M={self.M}, "
            f"ef_construction={self.ef_construction}, ef={self.ef}, storage={self.storage!r}{mapped})"
        )

"""Search filters: which ids a search may return (``Index.search(..., filter=)``).

A filter is one of:

* an array or sequence of allowed ids, for every query (``index.prepare_filter(ids)``
  looks them up once for many calls: a search call then costs nothing for them);
* a list with one array of allowed ids per query (or a 2-D integer array, one
  row per query);
* a :class:`Predicate`: a numba ``@cfunc("boolean(int64)")``, called from
  native threads without the GIL (``@vsearch.predicate`` compiles one);
* any other Python callable ``id -> bool``: convenient, but the slow path, since
  each call takes the GIL and runs Python code (a search tests every node it
  compares, often thousands per query).

Ids that are not in the index allow nothing; removed ids never pass.

Example:
    >>> @vsearch.predicate
    ... def even(id):
    ...     return id % 2 == 0
    >>> index.search(queries, k=10, filter=even)            # doctest: +SKIP
    >>> index.search(queries, k=10, filter=[3, 5, 8])       # doctest: +SKIP
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from . import _core
from ._numba import check_cfunc, numba_module
from ._validation import INT64_MAX, INT64_MIN, first_outside_int64, integer_array
from .errors import InvalidParameterError

SIGNATURE_TEXT = "boolean(int64)"
# What the per-call planner may be told (Index.search's ``plan``).
PLANS = ("auto", "graph", "exact")


def _numba() -> Any:
    return numba_module("compiled predicates")


def _signature() -> Any:
    types = _numba().types
    return types.boolean(types.int64)


class Predicate:
    """A compiled id test, called by the search threads without the GIL.

    Args:
        function: a numba ``@cfunc("boolean(int64)")``; it must not touch
            Python objects (nopython mode guarantees that). Data it reads (a
            global numpy array) is frozen into the compiled code.

    Example:
        >>> import numba
        >>> @numba.cfunc("boolean(int64)")
        ... def small(id):
        ...     return id < 100
        >>> small_only = vsearch.Predicate(small)
    """

    def __init__(self, function: Any) -> None:
        check_cfunc(function, _signature(), SIGNATURE_TEXT, "a Predicate",
                    "Compile a Python function with @vsearch.predicate.")
        self.function = function  # keeps the compiled code alive while searches call it

    @property
    def address(self) -> int:
        """The native function pointer the search calls."""
        return int(self.function.address)

    def __call__(self, id: int) -> bool:
        return bool(self.function.ctypes(id))

    def __repr__(self) -> str:
        return f"Predicate({getattr(self.function, '__name__', '?')!r})"


def predicate(function: Callable[[int], bool]) -> Predicate:
    """Decorator: compiles ``f(id) -> bool`` with numba into a :class:`Predicate`.

    Example:
        >>> @vsearch.predicate
        ... def even(id):
        ...     return id % 2 == 0
        >>> even(4), even(5)
        (True, False)
    """
    return Predicate(_numba().cfunc(_signature(), nopython=True)(function))


class PreparedFilter:
    """Allowed ids already looked up in one index (``Index.prepare_filter``).

    Passing it as ``filter=`` skips the lookup every call of a list of ids
    would make (about a millisecond per 50,000 ids). It stays correct after
    the index changes, or on another index: then each call looks the ids up
    again, as for a plain list, until it is prepared anew.
    """

    def __init__(self, prepared: Any) -> None:
        self._prepared = prepared

    @property
    def ids(self) -> np.ndarray:
        """The allowed ids, as given."""
        return self._prepared.ids

    def __len__(self) -> int:
        return len(self._prepared)

    def __repr__(self) -> str:
        return f"PreparedFilter({len(self)} ids)"


def _id_array(ids: Any, what: str) -> np.ndarray:
    array = integer_array(ids, what)
    if array.ndim != 1:
        raise InvalidParameterError(f"{what} must be a 1-D sequence of ids; got shape {array.shape}")
    if first_outside_int64(array) is not None:
        array = array[[INT64_MIN <= int(v) <= INT64_MAX for v in array.flat]]  # ids past int64 are in no index
    return np.ascontiguousarray(array, dtype=np.int64)


def _is_id_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, range))


def _per_query(lists: Any, queries: int) -> Any:
    if len(lists) != queries:
        raise InvalidParameterError(
            f"a per-query filter needs one list of ids per query: {queries} queries, {len(lists)} lists"
        )
    arrays = [_id_array(ids, f"the ids of query {i}'s filter") for i, ids in enumerate(lists)]
    offsets = np.zeros(queries + 1, dtype=np.int64)
    np.cumsum([a.shape[0] for a in arrays], out=offsets[1:])
    flat = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
    return _core.Filter("query_ids", ids=flat, offsets=offsets)


def shared_ids(ids: Any) -> np.ndarray:
    """``ids`` (a sequence or set of ids for every query) as int64, checked."""
    return _id_array(sorted(ids) if isinstance(ids, (set, frozenset)) else ids, "filter ids")


def core_filter(filter: Any, queries: int) -> Any:
    """The core's form of a ``filter=`` argument for ``queries`` queries (None stays None)."""
    if filter is None:
        return None
    if isinstance(filter, Predicate):
        return _core.Filter("compiled", address=filter.address)
    if isinstance(filter, PreparedFilter):
        return _core.Filter("prepared", callable=filter._prepared)
    if isinstance(filter, np.ndarray) and filter.ndim == 2:
        return _per_query(list(filter), queries)
    if _is_id_list(filter):
        if len(filter) > 0 and all(_is_id_list(item) for item in filter):
            return _per_query(filter, queries)
        return _core.Filter("ids", ids=shared_ids(filter))
    if isinstance(filter, (set, frozenset)):
        return _core.Filter("ids", ids=shared_ids(filter))
    ccallback = sys.modules.get("numba.core.ccallback")  # a cfunc exists only once numba is imported
    if ccallback is not None and isinstance(filter, ccallback.CFunc):
        return _core.Filter("compiled", address=Predicate(filter).address)
    if callable(filter):
        return _core.Filter("python", callable=filter)
    raise InvalidParameterError(
        f"filter must be allowed ids (an array or sequence), one id list per query, a vsearch.Predicate or a "
        f"callable id -> bool; got {type(filter).__name__}"
    )


def plan_name(plan: Any) -> str:
    """``plan`` checked: one of PLANS."""
    if plan not in PLANS or not isinstance(plan, str):
        raise InvalidParameterError(f"plan must be one of {', '.join(map(repr, PLANS))}; got {plan!r}")
    return plan

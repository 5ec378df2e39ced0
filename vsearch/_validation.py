"""Turns user input into the arrays the native core expects, or raises a clear error.

Nothing here touches an index: every check runs before the index changes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import limits
from .errors import (
    DimensionMismatchError,
    DuplicateIdError,
    InvalidDTypeError,
    InvalidParameterError,
)

# dtype kinds that convert to float32 without surprises: bool, ints, floats.
_NUMERIC_KINDS = "biuf"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SEED_LIMIT = 2**64  # seeds are uint64


_FLOAT32 = np.dtype(np.float32)


def is_ready(data: Any, dim: int) -> bool:
    """True for a native float32 array of shape (dim,) or (n, dim): the core takes it as is.

    Kept cheap (no attribute objects built) because single queries pass here.
    """
    return type(data) is np.ndarray and data.dtype is _FLOAT32 and 0 < data.ndim <= 2 and data.shape[-1] == dim


def as_float_rows(data: Any, dim: int, what: str) -> tuple[np.ndarray, bool]:
    """Returns (C-contiguous float32 array of shape (n, dim), was_1d).

    Finiteness (and non-zero vectors for cosine) is checked by the native core
    in the same pass that reads the rows.
    """
    try:
        array = data if isinstance(data, np.ndarray) else np.asarray(data)
    except ValueError as error:  # ragged nested lists
        raise DimensionMismatchError(f"{what} must be a rectangular array of shape (n, {dim}): {error}") from None
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise InvalidDTypeError(
            f"{what} must be numeric (float32, float64, float16 or integers); got dtype {array.dtype}"
        )
    was_1d = array.ndim == 1
    if was_1d:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise DimensionMismatchError(
            f"{what} must be a 1-D vector of length {dim} or a 2-D array of shape (n, {dim}); "
            f"got an array of shape {array.shape}"
        )
    if array.shape[1] != dim:
        raise DimensionMismatchError(
            f"{what} must have dimension {dim}; got shape {array.shape} (dimension {array.shape[1]})"
        )
    if array.dtype != np.float32 or not array.flags.c_contiguous:
        with np.errstate(over="ignore"):  # too large for float32 becomes inf, rejected by the core
            array = np.ascontiguousarray(array, dtype=np.float32)
    return array, was_1d


def _is_integer(value: Any) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def integer_array(ids: Any, what: str) -> np.ndarray:
    """`ids` as a numpy array of integers: int or uint dtype, or object for Python ints past 64 bits."""
    array = np.asarray(ids)
    if array.size == 0:
        return array.astype(np.int64)  # np.asarray([]) is float64
    if array.dtype.kind == "f" and not isinstance(ids, np.ndarray):
        array = np.asarray(ids, dtype=object)  # numpy makes [5, 2**64 - 1] float64: keep the exact ints
    if array.dtype.kind in "iu" or (array.dtype.kind == "O" and all(_is_integer(v) for v in array.flat)):
        return array
    raise InvalidParameterError(f"{what} must be integers; got {ids!r:.80}" if array.dtype.kind == "O"
                                else f"{what} must be integers; got dtype {array.dtype}")


def first_outside_int64(array: np.ndarray) -> int | None:
    """The first value of an integer_array that does not fit in int64, or None."""
    if array.dtype.kind == "i" or array.size == 0:
        return None
    outside = np.flatnonzero([not INT64_MIN <= int(v) <= INT64_MAX for v in array.flat]) if array.dtype.kind == "O" \
        else np.flatnonzero(array.reshape(-1) > INT64_MAX)
    return int(array.reshape(-1)[outside[0]]) if outside.size else None


def as_ids(ids: Any, count: int) -> np.ndarray:
    """Returns a C-contiguous int64 array of `count` distinct ids."""
    array = integer_array(ids, "ids")
    if array.ndim != 1 or array.shape[0] != count:
        raise InvalidParameterError(
            f"ids must be a 1-D sequence with one id per vector ({count}); got shape {array.shape}"
        )
    outside = first_outside_int64(array)
    if outside is not None:
        raise InvalidParameterError(f"ids must fit in int64, [-2**63, 2**63 - 1]; got {outside}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if (array == limits.MISSING_ID).any():
        raise InvalidParameterError(
            f"id {limits.MISSING_ID} is reserved: search results use it to mark a missing neighbour; "
            "use any other int64 (other negative ids are fine)"
        )
    if count > 1:
        ordered = np.sort(array)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if repeated.size:
            raise DuplicateIdError(f"ids must be unique within a batch; repeated: {repeated[:10].tolist()}")
    return array


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer >= minimum (bools and non-integers rejected)."""
    if type(value) is int and value >= minimum:  # the common case, checked cheaply
        return value
    if not _is_integer(value):
        raise InvalidParameterError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise InvalidParameterError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def bounded_int(value: Any, name: str, minimum: int, maximum: int, what: str) -> int:
    """An integer in [minimum, maximum]; `what` says what the upper limit protects."""
    value = positive_int(value, name, minimum)
    if value > maximum:
        raise InvalidParameterError(f"{name} must be <= {maximum} ({what}); got {value}")
    return value


def thread_count(value: Any) -> int:
    """A `threads=` argument: 0 (one per core) up to vsearch.limits.MAX_THREADS."""
    if type(value) is int and 0 <= value <= limits.MAX_THREADS:  # the common case, checked cheaply
        return value
    return bounded_int(value, "threads", 0, limits.MAX_THREADS, "native threads per call; 0 means one per core")


def seed_value(value: Any) -> int:
    """A seed: an integer in [0, 2**64)."""
    if not _is_integer(value) or not 0 <= value < SEED_LIMIT:
        raise InvalidParameterError(f"seed must be an integer in [0, 2**64); got {value!r}")
    return int(value)


def real_in_range(value: Any, name: str, low: float, high: float, *, include_low: bool = True) -> float:
    """A finite real number in [low, high), or (low, high) without `include_low`."""
    real = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    if real and math.isfinite(value) and (low <= value if include_low else low < value) and value < high:
        return float(value)
    raise InvalidParameterError(
        f"{name} must be a finite number in {'[' if include_low else '('}{low}, {high}); got {value!r}"
    )

"""Turns user input into the arrays the native core expects, or raises a clear error.

Nothing here touches an index: every check runs before the index changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import (
    DimensionMismatchError,
    DuplicateIdError,
    InvalidDTypeError,
    InvalidParameterError,
)

METRICS = ("l2", "ip", "cosine", "snr")  # by name; gssf and custom metrics come as objects

# dtype kinds that convert to float32 without surprises: bool, ints, floats.
_NUMERIC_KINDS = "biuf"


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


def as_ids(ids: Any, count: int) -> np.ndarray:
    """Returns a C-contiguous int64 array of `count` distinct ids."""
    array = np.asarray(ids)
    if array.size == 0:
        array = array.astype(np.int64)  # np.asarray([]) is float64
    if array.dtype.kind not in "iu":
        raise InvalidParameterError(f"ids must be integers; got dtype {array.dtype}")
    if array.ndim != 1 or array.shape[0] != count:
        raise InvalidParameterError(
            f"ids must be a 1-D sequence with one id per vector ({count}); got shape {array.shape}"
        )
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise InvalidParameterError("ids must fit in int64")
    array = np.ascontiguousarray(array, dtype=np.int64)
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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
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

"""The exceptions vsearch raises.

Every error is a :class:`VSearchError` and also a subclass of the built-in
exception that fits (``ValueError``, ``TypeError``, ``KeyError``,
``MemoryError``...), so code that catches the built-ins keeps working. The
native core's C++ exceptions arrive as these classes too.

Example:
    >>> try:
    ...     vsearch.Index(8).search([0.0] * 8, k=0)
    ... except vsearch.errors.InvalidParameterError as error:
    ...     print(error)
    k must be >= 1; got 0
"""

from __future__ import annotations


class VSearchError(Exception):
    """Base class of every vsearch error."""


class InvalidParameterError(VSearchError, ValueError):
    """A parameter is out of range or of the wrong shape (k, ef, M, dim, ids...)."""


class UnknownMetricError(InvalidParameterError):
    """The metric name is not one vsearch knows."""


class DimensionMismatchError(VSearchError, ValueError):
    """Vectors or queries do not have the index's dimension (or a usable shape)."""


class InvalidVectorError(VSearchError, ValueError):
    """A vector holds NaN or infinity, or cannot be used with the metric (a zero vector with cosine)."""


class InvalidDTypeError(VSearchError, TypeError):
    """The array's dtype is not numeric and cannot be converted to float32."""


class DuplicateIdError(VSearchError, ValueError):
    """An id is repeated within a batch or is already in the index."""


class IdOverflowError(VSearchError, OverflowError):
    """Automatic ids would pass the largest int64 (an id near 2**63 - 1 is in the index): pass ids explicitly."""


class UnknownIdError(VSearchError, KeyError):
    """An id asked for is not in the index."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class OutOfRangeError(InvalidParameterError, IndexError):
    """A position or size is outside what the native core can address."""


class CapacityError(VSearchError, ValueError):
    """The index cannot grow that far (``vsearch.limits.MAX_ELEMENTS`` vectors, or its upper-level link table)."""


class OutOfMemoryError(VSearchError, MemoryError):
    """The memory a call needs is not available; the call changed nothing."""


class NativeError(VSearchError, RuntimeError):
    """The native core failed for a reason outside the caller's input (e.g. the OS refused a resource)."""


class IndexFormatError(VSearchError, ValueError):
    """An index file (or bytes) is truncated, corrupted, hostile or of an unsupported version.

    Attributes:
        path: the file, or ``None`` for bytes.
        section: the part at fault (``"header"``, ``"descriptor"``, ``"vectors"``, ...), or ``None``.
    """

    def __init__(self, message: str, *, path: str | None = None, section: str | None = None) -> None:
        where = f"{path}: " if path else ""
        part = f"section '{section}': " if section else ""
        super().__init__(f"{where}{part}{message}")
        self.path = path
        self.section = section


class ReadOnlyIndexError(VSearchError, ValueError):
    """The index is memory-mapped from a file and cannot change; ``index.copy()`` gives a writable one."""


__all__ = [
    "VSearchError",
    "InvalidParameterError",
    "UnknownMetricError",
    "DimensionMismatchError",
    "InvalidVectorError",
    "InvalidDTypeError",
    "DuplicateIdError",
    "UnknownIdError",
    "IdOverflowError",
    "OutOfRangeError",
    "CapacityError",
    "OutOfMemoryError",
    "NativeError",
    "IndexFormatError",
    "ReadOnlyIndexError",
]

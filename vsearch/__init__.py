"""vsearch: fast, safe approximate nearest-neighbour search for numpy.

Example:
    >>> import numpy as np, vsearch
    >>> data = np.random.default_rng(0).random((1000, 16), dtype=np.float32)
    >>> index = vsearch.Index(16, metric="cosine")
    >>> _ = index.add(data)
    >>> ids, distances = index.search(data[:5], k=10)
"""

from __future__ import annotations

import os
from typing import IO, Any

__version__ = "0.1.0"

from . import errors, limits, persistence  # noqa: E402
from ._metric_spec import METRICS  # noqa: E402
from .custom import CustomMetric, metric  # noqa: E402
from .gssf import GSSF  # noqa: E402
from .filters import Predicate, predicate  # noqa: E402
from .index import STORAGES, Index, MemoryUsage, RangeResult, SearchResult  # noqa: E402
from .simd import available_simd_levels, simd_level, warn_about_simd_request  # noqa: E402


def load(path: str | os.PathLike | IO[bytes], *, mmap: bool = False, verify: bool = False,
         metric: Any = None) -> Index:
    """Loads an index saved with ``Index.save``, validating it before use.

    Args:
        path: the file, or a binary file object (``open(path, "rb")``,
            ``io.BytesIO``), read from its position to its end and checked
            exactly like a file.
        mmap: map the file instead of reading it: loading is near-instant and
            memory is paged in on demand; the index is read-only
            (``index.copy()`` gives a writable one). The header, descriptor and
            small sections are validated now; section checksums only with
            ``verify=True`` or ``index.verify()``. Needs a path, not a file object.
        verify: with ``mmap``, also check every checksum and link now.
        metric: the :class:`CustomMetric` of an index saved with one (compiled
            code is not stored in files); optional otherwise.

    Raises :class:`vsearch.errors.IndexFormatError` naming the file, the
    section and the problem for a truncated, corrupted, hostile or too-new file.

    Example:
        >>> index = vsearch.load("vectors.vsx", mmap=True)   # doctest: +SKIP
        >>> with open("vectors.vsx", "rb") as f:              # doctest: +SKIP
        ...     same = vsearch.load(f)
    """
    core, spec, mapped = persistence.load(path, mmap=mmap, verify=verify, metric=metric)
    return Index._wrap(core, spec, mapped)


def info(path: str | os.PathLike) -> dict[str, Any]:
    """Reads only the header and descriptor of an index file: dim, metric,
    count, parameters, storage, format version, sections. Raises IndexFormatError."""
    return persistence.info(path)


warn_about_simd_request()

__all__ = [
    "load",
    "info",
    "Index",
    "SearchResult",
    "RangeResult",
    "MemoryUsage",
    "Predicate",
    "predicate",
    "METRICS",
    "STORAGES",
    "GSSF",
    "CustomMetric",
    "metric",
    "errors",
    "limits",
    "simd_level",
    "available_simd_levels",
    "__version__",
]

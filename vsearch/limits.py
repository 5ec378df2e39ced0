"""The limits and defaults of an index, defined once in the native core (``csrc/graph/limits.h``).

The constructor, the setters and the file reader enforce the same limits, so
every index one vsearch can build, another can save and load.

Example:
    >>> import vsearch
    >>> vsearch.limits.MAX_M, vsearch.limits.DEFAULT_M
    (4096, 16)
"""

from __future__ import annotations

from . import _core

MAX_DIM: int = _core.MAX_DIM  # dimension of a vector
MAX_M: int = _core.MAX_M  # links per node on the upper levels (2*M on level 0)
MAX_EF: int = _core.MAX_EF  # ef, ef_construction and k (a search keeps max(k, ef) candidates)
MAX_ELEMENTS: int = _core.MAX_ELEMENTS  # vectors in one index
MAX_LEVEL: int = _core.MAX_LEVEL  # top level of the graph
MAX_THREADS: int = _core.MAX_THREADS  # native threads of one call
MAX_GSSF_BLOCK_SIZE: int = _core.MAX_GSSF_BLOCK_SIZE  # channels per block of a vsearch.GSSF model

MISSING_ID: int = _core.MISSING_ID  # the id of a missing search result; no vector may have it

DEFAULT_M: int = _core.DEFAULT_M
DEFAULT_EF_CONSTRUCTION: int = _core.DEFAULT_EF_CONSTRUCTION
DEFAULT_EF: int = _core.DEFAULT_EF
# Removed vectors are tombstones until removed / (len + removed) passes this; then
# the graph is repaired around them and their slots freed (Index.consolidate_fraction).
DEFAULT_CONSOLIDATE_FRACTION: float = _core.DEFAULT_CONSOLIDATE_FRACTION

__all__ = [
    "MAX_DIM", "MAX_M", "MAX_EF", "MAX_ELEMENTS", "MAX_LEVEL", "MAX_THREADS", "MAX_GSSF_BLOCK_SIZE",
    "MISSING_ID", "DEFAULT_M", "DEFAULT_EF_CONSTRUCTION", "DEFAULT_EF", "DEFAULT_CONSOLIDATE_FRACTION",
]

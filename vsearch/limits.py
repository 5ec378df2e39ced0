"""The limits of an index, defined once in the native core (``csrc/graph/limits.h``).

The constructor, the setters and the file reader enforce the same numbers, so
every index one vsearch can build, another can save and load.

Example:
    >>> import vsearch
    >>> vsearch.limits.MAX_M
    4096
"""

from __future__ import annotations

from . import _core

MAX_DIM: int = _core.MAX_DIM  # dimension of a vector
MAX_M: int = _core.MAX_M  # links per node on the upper levels (2*M on level 0)
MAX_EF: int = _core.MAX_EF  # ef and ef_construction (beam widths)
MAX_ELEMENTS: int = _core.MAX_ELEMENTS  # vectors in one index
MAX_LEVEL: int = _core.MAX_LEVEL  # top level of the graph

__all__ = ["MAX_DIM", "MAX_M", "MAX_EF", "MAX_ELEMENTS", "MAX_LEVEL"]

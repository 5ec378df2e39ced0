"""vsearch: fast, safe approximate nearest-neighbour search for numpy.

Example:
    >>> import numpy as np, vsearch
    >>> data = np.random.default_rng(0).random((1000, 16), dtype=np.float32)
    >>> index = vsearch.Index(16, metric="cosine")
    >>> _ = index.add(data)
    >>> ids, distances = index.search(data[:5], k=10)
"""

from . import errors
from .index import METRICS, Index, SearchResult
from .simd import available_simd_levels, simd_level, warn_about_simd_request

__version__ = "0.1.0"

warn_about_simd_request()

__all__ = ["Index", "SearchResult", "METRICS", "errors", "simd_level", "available_simd_levels", "__version__"]

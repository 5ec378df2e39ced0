"""Which SIMD kernels the index uses."""

from __future__ import annotations

import os
import warnings

from . import _core

_LEVELS = ("scalar", "avx2", "avx512")


def simd_level() -> str:
    """The kernel level in use: ``"scalar"``, ``"avx2"`` or ``"avx512"``.

    It is the best level the CPU supports, or lower if the environment variable
    ``VSEARCH_SIMD`` asks for it (read once, at import).

    Example:
        >>> vsearch.simd_level() in vsearch.available_simd_levels()
        True
    """
    return _core.active_simd_level()


def available_simd_levels() -> list[str]:
    """Levels this CPU supports, lowest first, e.g. ``["scalar", "avx2", "avx512"]``."""
    return list(_core.supported_simd_levels())


def warn_about_simd_request() -> None:
    """Warns once at import when VSEARCH_SIMD names a level that cannot be honoured."""
    requested = os.environ.get("VSEARCH_SIMD", "")
    if not requested:
        return
    if requested not in _LEVELS:
        warnings.warn(
            f"VSEARCH_SIMD={requested!r} is not one of {', '.join(_LEVELS)}; using {simd_level()!r}",
            RuntimeWarning,
            stacklevel=3,
        )
    elif requested not in available_simd_levels():
        warnings.warn(
            f"VSEARCH_SIMD={requested!r} is not supported by this CPU; using {simd_level()!r}",
            RuntimeWarning,
            stacklevel=3,
        )

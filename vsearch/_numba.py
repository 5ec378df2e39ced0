"""The numba functions vsearch calls from native code (custom metrics, filter
predicates): importing numba with a hint, and checking a compiled function."""

from __future__ import annotations

from typing import Any

from .errors import InvalidParameterError


def numba_module(purpose: str) -> Any:
    """numba, or an InvalidParameterError saying that ``purpose`` needs it."""
    try:
        import numba
    except ImportError as error:  # numba is a dependency, but say what to do if it is missing
        raise InvalidParameterError(f"{purpose} are compiled with numba, which is not installed here: "
                                    "pip install numba") from error
    return numba


def check_cfunc(function: Any, signature: Any, signature_text: str, what: str, hint: str) -> None:
    """Raises InvalidParameterError unless ``function`` is a numba cfunc of ``signature``.

    ``what`` names the thing being made ("a custom metric"); ``hint`` says how to make one.
    """
    from numba.core.ccallback import CFunc

    if not isinstance(function, CFunc):
        raise InvalidParameterError(
            f"{what} must be a numba @cfunc('{signature_text}'); got {type(function).__name__} "
            f"{getattr(function, '__name__', '')!r}. {hint}"
        )
    if function._sig != signature:
        raise InvalidParameterError(f"{what}'s signature must be {signature_text}; got {function._sig}")

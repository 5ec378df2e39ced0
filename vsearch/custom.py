"""User-compiled metrics: a numba ``@cfunc`` the index calls from C++.

The function receives two float32 pointers and the dimension and returns the
distance (smaller is closer). It runs on native threads without the GIL, so
it must not touch Python objects (numba's nopython mode guarantees that).

Example:
    >>> import numba
    >>> @vsearch.metric("l1")
    ... def l1(a, b, n):
    ...     total = numba.float32(0.0)
    ...     for i in range(n):
    ...         total += abs(a[i] - b[i])
    ...     return total
    >>> index = vsearch.Index(16, metric=l1)            # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import InvalidParameterError

SIGNATURE_TEXT = "float32(CPointer(float32), CPointer(float32), intp)"


def _numba() -> Any:
    try:
        import numba
    except ImportError as error:  # numba is a dependency, but say what to do if it is missing
        raise InvalidParameterError(
            "custom metrics are compiled with numba, which is not installed here: pip install numba"
        ) from error
    return numba


def _signature() -> Any:
    types = _numba().types
    return types.float32(types.CPointer(types.float32), types.CPointer(types.float32), types.intp)


class CustomMetric:
    """A compiled distance function and the name it is saved under.

    Args:
        function: a numba ``@cfunc`` with the signature
            ``float32(CPointer(float32), CPointer(float32), intp)``.
        name: identifies the metric in saved index files; loading such a file
            requires passing a CustomMetric of the same name.
    """

    def __init__(self, function: Any, name: str | None = None) -> None:
        _numba()  # first: the friendly hint, not an ImportError from the line below
        from numba.core.ccallback import CFunc

        if not isinstance(function, CFunc):
            raise InvalidParameterError(
                f"a custom metric must be a numba @cfunc('{SIGNATURE_TEXT}'); got {type(function).__name__} "
                f"{getattr(function, '__name__', '')!r}. Wrap a Python function with @vsearch.metric(name)."
            )
        if function._sig != _signature():
            raise InvalidParameterError(
                f"a custom metric's signature must be {SIGNATURE_TEXT}; got {function._sig}"
            )
        self.function = function  # keeps the compiled code alive while indexes use it
        self.name = name or function.__name__
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameterError(f"a custom metric needs a non-empty name; got {name!r}")

    @property
    def address(self) -> int:
        """The native function pointer the index calls."""
        return int(self.function.address)

    def __repr__(self) -> str:
        return f"CustomMetric({self.name!r})"


def metric(name: str | None = None) -> Callable[[Callable[..., Any]], CustomMetric]:
    """Decorator: compiles ``f(a, b, n) -> distance`` with numba into a :class:`CustomMetric`.

    ``a`` and ``b`` are float32 arrays (pointers) of length ``n``.
    """

    def compile_metric(function: Callable[..., Any]) -> CustomMetric:
        compiled = _numba().cfunc(_signature(), nopython=True)(function)
        return CustomMetric(compiled, name or function.__name__)

    return compile_metric

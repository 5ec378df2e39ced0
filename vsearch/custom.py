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

from ._numba import check_cfunc, numba_module
from .errors import InvalidParameterError

SIGNATURE_TEXT = "float32(CPointer(float32), CPointer(float32), intp)"


def _numba() -> Any:
    return numba_module("custom metrics")


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
        check_cfunc(function, _signature(), SIGNATURE_TEXT, "a custom metric",
                    "Wrap a Python function with @vsearch.metric(name).")
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

"""Which metric an index uses and what it needs: native parameters, descriptor
entries and extra file sections. Keeps metric knowledge out of Index and the
file code."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from .custom import CustomMetric
from .errors import InvalidParameterError, UnknownMetricError
from .gssf import GSSF

_MODEL_METRICS = ("gssf", "custom")  # named in files, but given as objects (a GSSF model, a CustomMetric)
METRICS = tuple(name for name in _core.METRICS if name not in _MODEL_METRICS)  # metrics given by name
# Other libraries' names for vsearch's metrics, for "did you mean" hints.
# Metrics whose distances are never negative: a range search's radius below 0 finds nothing by
# definition there, so it is refused as a mistake.
NONNEGATIVE_METRICS = ("l2", "cosine", "snr")
_ALIASES = {"euclidean": "l2", "sqeuclidean": "l2", "dot": "ip", "inner_product": "ip", "angular": "cosine"}
_CLOSE_ENOUGH = 0.5  # difflib's similarity ratio from which a name counts as a typo of another


@dataclass(frozen=True)
class MetricSpec:
    name: str                               # the native metric: l2, ip, cosine, snr, gssf or custom
    model: GSSF | CustomMetric | None = None

    @property
    def nonnegative(self) -> bool:
        """Whether no distance of the metric is below 0 (ip's 1 - <q,x>, GSSF's and a custom one may be)."""
        return self.name in NONNEGATIVE_METRICS

    @property
    def display_name(self) -> str:
        return self.model.name if isinstance(self.model, CustomMetric) else self.name

    def native_args(self) -> dict[str, Any]:
        if isinstance(self.model, GSSF):
            return {
                "gssf_diagonal": self.model.diagonal,
                "gssf_blocks": self.model.blocks.ravel(),
                "gssf_block_size": self.model.block_size,
            }
        if isinstance(self.model, CustomMetric):
            return {"custom_address": self.model.address}
        return {}

    def descriptor_params(self) -> dict[str, Any]:
        if isinstance(self.model, GSSF):
            return {"block_size": self.model.block_size}
        if isinstance(self.model, CustomMetric):
            return {"name": self.model.name}
        return {}

    def extra_sections(self) -> dict[str, np.ndarray]:
        return {_core.GSSF_SECTION: self.model.weights()} if isinstance(self.model, GSSF) else {}


def resolve(dim: int, metric: Any, metric_params: Any = None) -> MetricSpec:
    """The spec for Index(dim, metric=..., metric_params=...)."""
    if isinstance(metric, GSSF) or (metric == "gssf" and isinstance(metric_params, GSSF)):
        model = metric if isinstance(metric, GSSF) else metric_params
        if model.dim != dim:
            raise InvalidParameterError(f"the GSSF model has dim {model.dim}; the index has dim {dim}")
        # A snapshot: the index computes with these weights even if the
        # caller's model is changed or re-trained later, and saves the same.
        return MetricSpec("gssf", GSSF.from_weights(model.dim, model.block_size, model.weights()))
    if metric == "gssf":
        raise InvalidParameterError("metric='gssf' needs its learned parameters: metric_params=vsearch.GSSF(...)")
    if isinstance(metric, CustomMetric):
        return MetricSpec("custom", metric)
    if callable(metric):
        return MetricSpec("custom", CustomMetric(metric))  # raises a clear error for a non-cfunc
    if not isinstance(metric, str) or metric not in METRICS:
        raise UnknownMetricError(
            f"metric must be one of {', '.join(repr(m) for m in METRICS)}, a vsearch.GSSF model or a "
            f"vsearch.CustomMetric; got {metric!r}{_suggestion(metric)}"
        )
    if metric_params is not None:
        raise InvalidParameterError(f"metric {metric!r} takes no metric_params; got {metric_params!r}")
    return MetricSpec(metric)


def _suggestion(metric: Any) -> str:
    """ ": did you mean 'l2'?" for a name close to a known one, else "". """
    if not isinstance(metric, str):
        return ""
    name = metric.strip().lower().replace("-", "_")
    close = [_ALIASES[name]] if name in _ALIASES else difflib.get_close_matches(
        name, METRICS + ("gssf",), n=1, cutoff=_CLOSE_ENOUGH)
    return f"; did you mean {close[0]!r}?" if close else ""


def from_file(descriptor: dict[str, Any], gssf_weights: np.ndarray | None, metric: Any) -> MetricSpec:
    """The spec of a saved index. A custom metric cannot be saved as code, so
    the caller passes it again (`metric`), checked against the saved name."""
    name, params = descriptor["metric"], descriptor["metric_params"]
    if name == "gssf":
        return MetricSpec("gssf", GSSF.from_weights(descriptor["dim"], params["block_size"], gssf_weights))
    if name == "custom":
        if not isinstance(metric, CustomMetric):
            raise InvalidParameterError(
                f"this index uses the custom metric {params['name']!r}: pass it again, "
                f"vsearch.load(path, metric=<the CustomMetric named {params['name']!r}>)"
            )
        if metric.name != params["name"]:
            raise InvalidParameterError(
                f"this index was saved with the custom metric {params['name']!r}, not {metric.name!r}"
            )
        return MetricSpec("custom", metric)
    if metric is not None and metric != name:
        raise InvalidParameterError(f"this index uses the metric {name!r}; got metric={metric!r}")
    return MetricSpec(name)

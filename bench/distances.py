"""Exact distance definitions and brute-force top-k: the harness's own reference.

Every distance follows vsearch's conventions (smaller is closer, the same as
hnswlib's):

==========  =============================================================
``l2``      squared Euclidean ``|q - x|^2``
``ip``      ``1 - <q, x>``
``cosine``  ``1 - cos(q, x)``
``snr``     ``var(x - q) / var(q)`` (variance over a vector's coordinates;
            asymmetric, the query is the anchor)
``gssf``    ``1 - S(q, x)`` for a learned bilinear similarity ``S``; its
            reference is the model's own ``distance`` method
==========  =============================================================

Everything here is computed in float64 so that it can serve as ground truth
and as the judge of what an engine returned (recall is computed from these
distances, never from the engines' own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

# Queries per chunk of the brute-force search (bounds memory at CHUNK x N float64).
EXACT_CHUNK_ROWS = 64
# Guards divisions by a norm or a variance of exactly zero.
TINY = 1e-300

PairwiseFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _l2(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    d = (q * q).sum(1)[:, None] - 2.0 * (q @ x.T) + (x * x).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _ip(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1.0 - q @ x.T


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), TINY)


def _cosine(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1.0 - _unit(q) @ _unit(x).T


def _snr(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    qc = q - q.mean(1, keepdims=True)
    xc = x - x.mean(1, keepdims=True)
    num = (qc * qc).sum(1)[:, None] - 2.0 * (qc @ xc.T) + (xc * xc).sum(1)[None, :]
    return np.maximum(num, 0.0) / np.maximum((qc * qc).sum(1), TINY)[:, None]


@dataclass(frozen=True)
class MetricSpec:
    """A metric the harness can judge exactly.

    Attributes:
        name: the name engines know it by (``"l2"``, ``"cosine"``, ...).
        pairwise: exact float64 distances, queries (m, d) x base (n, d) -> (m, n).
        model: for a learned metric (gssf), the trained model object that
            vsearch takes as its ``metric`` argument; None for named metrics.
        key: what identifies the metric in a cache key (the name, plus a hash
            of the parameters for a learned one).
    """

    name: str
    pairwise: PairwiseFn = field(compare=False)
    model: Any = field(default=None, compare=False)
    key: str = ""

    def cache_key(self) -> str:
        return self.key or self.name


BUILTIN: dict[str, MetricSpec] = {
    "l2": MetricSpec("l2", _l2),
    "ip": MetricSpec("ip", _ip),
    "cosine": MetricSpec("cosine", _cosine),
    "snr": MetricSpec("snr", _snr),
}


def spec(name: str) -> MetricSpec:
    """The built-in metric of that name; ValueError naming the known ones otherwise."""
    try:
        return BUILTIN[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; the harness knows {', '.join(BUILTIN)}") from None


def gssf_spec(model: Any, key: str) -> MetricSpec:
    """A MetricSpec for a trained vsearch GSSF model (its ``distance`` is the reference)."""

    def pairwise(q: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.atleast_2d(np.asarray(model.distance(q, x), np.float64))

    return MetricSpec("gssf", pairwise, model=model, key=key)


def rowwise(metric: MetricSpec, queries: np.ndarray, base: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Exact distance of query i to base[ids[i, j]], float64 (Q, k); ``inf`` where ids < 0.

    An id repeated within a row counts once: its later copies get ``inf``, so
    an engine cannot score twice with one neighbour.
    """
    ids = np.asarray(ids)
    out = np.full(ids.shape, np.inf)
    for i in range(ids.shape[0]):
        row = ids[i]
        valid = row >= 0
        _, first = np.unique(row, return_index=True)
        keep = np.zeros(row.shape, bool)
        keep[first] = True
        keep &= valid
        if keep.any():
            d = metric.pairwise(np.asarray(queries[i : i + 1], np.float64), np.asarray(base[row[keep]], np.float64))
            out[i, keep] = d[0]
    return out


def exact_topk(
    base: np.ndarray, queries: np.ndarray, metric: MetricSpec, k: int, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force exact top-k in float64: (ids int64 (Q, k), distances float64 (Q, k)).

    Ties are broken by the smaller base id (the convention of ../shared/data).
    ``progress``, if given, is called with the number of queries done.
    """
    base64 = np.asarray(base, np.float64)
    k = min(k, base64.shape[0])
    ids = np.empty((len(queries), k), np.int64)
    dist = np.empty((len(queries), k), np.float64)
    for start in range(0, len(queries), EXACT_CHUNK_ROWS):
        d = metric.pairwise(np.asarray(queries[start : start + EXACT_CHUNK_ROWS], np.float64), base64)
        kth = np.partition(d, k - 1, axis=1)[:, k - 1]
        for r in range(d.shape[0]):
            cand = np.flatnonzero(d[r] <= kth[r])  # every id tied with the k-th, ascending ids
            order = cand[np.argsort(d[r, cand], kind="stable")[:k]]
            ids[start + r] = order
            dist[start + r] = d[r, order]
        if progress:
            progress(min(start + EXACT_CHUNK_ROWS, len(queries)))
    return ids, dist


def exact_within(base: np.ndarray, queries: np.ndarray, metric: MetricSpec, radius: float) -> list[np.ndarray]:
    """Brute-force range search in float64: per query, the ids (ascending) of every base vector
    at distance <= ``radius``."""
    base64 = np.asarray(base, np.float64)
    hits = []
    for start in range(0, len(queries), EXACT_CHUNK_ROWS):
        d = metric.pairwise(np.asarray(queries[start : start + EXACT_CHUNK_ROWS], np.float64), base64)
        hits += [np.flatnonzero(row <= radius) for row in d]
    return hits

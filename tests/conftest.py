"""Shared fixtures and helpers for the vsearch test suite.

Helpers defined here are plain functions; test modules import them with
``from conftest import ...`` (pytest puts this folder on ``sys.path``).

* ``shared_data`` / ``shared_data_dir()``: the real-data folder, ``$VSEARCH_DATA`` if set,
  else ``<repo root>/../shared/data``.
* ``load_dataset(name)``: the arrays of one real dataset; skips the test if it is missing.
* ``make_clustered(...)``: a deterministic gaussian-cluster generator.
* ``brute_force(...)`` / ``pair_distances(...)``: exact float64 references for l2, ip, cosine.
* ``recall_at_k(...)``: distance-tolerant recall (robust to ties).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
METRICS = ("l2", "ip", "cosine")

# Recall tolerance: a returned id counts as a true neighbour if its exact distance is within
# RECALL_RTOL (relative) + RECALL_ATOL (absolute) of the k-th exact distance.  This treats ties at
# rank k correctly (any tied id is as good as the one the ground truth happened to list).
RECALL_RTOL = 1e-5
RECALL_ATOL = 1e-6


# ----------------------------------------------------------------------------- real data
def shared_data_dir() -> Path:
    env = os.environ.get("VSEARCH_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder (may not exist; use load_dataset to skip cleanly)."""
    return shared_data_dir()


def load_dataset(name: str) -> dict:
    """Load every ``.npy`` file of dataset ``name`` plus ``meta.json``.

    Calls ``pytest.skip`` with a clear reason when the folder (or a required file) is missing,
    so the suite passes on machines without the shared data.
    """
    folder = shared_data_dir() / name
    required = ("base.npy", "queries.npy", "gt_ids.npy", "gt_dist.npy", "meta.json")
    if not folder.is_dir():
        pytest.skip(
            f"dataset {name!r} not found at {folder} "
            f"(set VSEARCH_DATA or place the shared data at {REPO_ROOT.parent / 'shared' / 'data'})"
        )
    missing = [f for f in required if not (folder / f).is_file()]
    if missing:
        pytest.skip(f"dataset {name!r} at {folder} is incomplete: missing {missing}")
    out = {p.stem: np.load(p, allow_pickle=False) for p in sorted(folder.glob("*.npy"))}
    with open(folder / "meta.json") as f:
        out["meta"] = json.load(f)
    return out


# ----------------------------------------------------------------------------- synthetic data
def make_clustered(n: int, dim: int, *, n_clusters: int = 50, spread: float = 0.35,
                   n_queries: int = 0, seed: int = 0):
    """Gaussian clusters: centres ~ N(0, I), points = centre + spread * N(0, I), float32.

    Queries (if any) are drawn from the same mixture but are distinct points from the base.
    Returns ``base`` or ``(base, queries)`` when ``n_queries > 0``.
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, dim))
    total = n + n_queries
    labels = rng.integers(0, n_clusters, total)
    x = (centers[labels] + spread * rng.standard_normal((total, dim))).astype(np.float32)
    if n_queries:
        return x[:n], x[n:]
    return x


def random_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Standard-normal float32 vectors (no zero vectors in practice)."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


# ----------------------------------------------------------------------------- exact references
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def distance_matrix(queries, base, metric: str) -> np.ndarray:
    """Exact (float64) distance matrix (Q, N) with vsearch's definitions."""
    Q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    B = np.atleast_2d(np.asarray(base, dtype=np.float64))
    if metric == "l2":
        # expanded form in float64: cancellation error ~1e-16 * |x|^2, negligible at our tolerances
        return np.maximum((Q * Q).sum(1)[:, None] - 2.0 * Q @ B.T + (B * B).sum(1)[None, :], 0.0)
    if metric == "ip":
        return 1.0 - Q @ B.T
    if metric == "cosine":
        return 1.0 - _unit(Q) @ _unit(B).T
    raise ValueError(metric)


def brute_force(base, queries, k: int, metric: str, batch: int = 256):
    """Exact top-k: (ids int64 (Q,k), distances float64 (Q,k)), ascending, ties -> smaller id."""
    Q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    ids = np.empty((Q.shape[0], k), np.int64)
    dist = np.empty((Q.shape[0], k), np.float64)
    for s in range(0, Q.shape[0], batch):
        d = distance_matrix(Q[s:s + batch], base, metric)
        o = np.argsort(d, axis=1, kind="stable")[:, :k]
        ids[s:s + batch] = o
        dist[s:s + batch] = np.take_along_axis(d, o, axis=1)
    return ids, dist


def pair_distances(base, queries, ids, metric: str) -> np.ndarray:
    """Exact distance between queries[i] and base[ids[i, j]] (float64); +inf where ids == -1.

    ``base`` is indexed by id, i.e. this assumes ids are row numbers of ``base``.
    """
    Q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    B = np.asarray(base, dtype=np.float64)
    ids = np.atleast_2d(np.asarray(ids))
    valid = ids >= 0
    X = B[np.where(valid, ids, 0)]                       # (Q, k, d)
    if metric == "l2":
        d = ((X - Q[:, None, :]) ** 2).sum(-1)
    elif metric == "ip":
        d = 1.0 - np.einsum("qkd,qd->qk", X, Q)
    elif metric == "cosine":
        d = 1.0 - np.einsum("qkd,qd->qk", _unit(X), _unit(Q))
    else:
        raise ValueError(metric)
    return np.where(valid, d, np.inf)


def recall_at_k(found_ids, base, queries, kth_dist, metric: str, k: int | None = None) -> float:
    """Distance-tolerant recall@k.

    ``found_ids`` (Q, k): ids returned by the index (row numbers of ``base``; -1 = missing).
    ``kth_dist`` (Q,): the exact k-th smallest distance per query.
    A returned id is correct if its exact distance <= kth * (1 + RTOL) + ATOL.  The relative
    slack uses |kth| so that it loosens (never tightens) the bound when distances are negative
    ('ip' distances 1 - <q,x> are negative for large inner products).  Each distinct id is
    counted once, so an index returning duplicates cannot inflate recall.
    """
    found_ids = np.atleast_2d(np.asarray(found_ids))
    if k is None:
        k = found_ids.shape[1]
    kth = np.asarray(kth_dist, dtype=np.float64).reshape(-1)
    d = pair_distances(base, queries, found_ids[:, :k], metric)
    bound = kth + RECALL_RTOL * np.abs(kth) + RECALL_ATOL
    hits = 0
    for i in range(found_ids.shape[0]):
        row = found_ids[i, :k]
        ok = (row >= 0) & (d[i] <= bound[i])
        hits += len(set(row[ok].tolist()))
    return hits / (k * found_ids.shape[0])


# Keys of Index.stats() that describe the graph itself.  Others (e.g. 'memory_bytes', 'capacity')
# may legitimately vary with per-thread scratch buffers or growth policy, so they are not compared
# when checking "unchanged" or "identical build".
GRAPH_STATS_KEYS = ("count", "max_level", "level_counts", "mean_degree_level0",
                    "mean_degree_per_level", "entry_point_id")


def graph_stats(idx) -> dict:
    s = idx.stats()
    return {k: s[k] for k in GRAPH_STATS_KEYS if k in s}

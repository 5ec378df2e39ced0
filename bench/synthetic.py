"""Data the harness can make itself (or that a dependency ships), so that it runs
anywhere: Gaussian clusters, clusters of skewed sizes, out-of-distribution
queries, and scikit-learn's bundled digits.

Every generator is deterministic for a given seed and returns a dict with
``base`` and ``queries`` (float32) and, where labels mean something,
``base_labels`` and ``query_labels`` (int32, the cluster a point was drawn from).
"""

from __future__ import annotations

import numpy as np

# Cluster centres are drawn from N(0, CENTER_SCALE^2 I); points add N(0, I) noise. With
# this ratio neighbouring clusters overlap a little: kNN classification is good, not perfect.
CENTER_SCALE = 0.5
# Skewed cluster sizes: the cluster of rank r gets a share proportional to r ** -SKEW_EXPONENT.
SKEW_EXPONENT = 1.5
# Per-cluster noise scale of the skewed set is drawn uniformly from this range.
SKEW_SPREAD_RANGE = (0.5, 1.5)
# Out-of-distribution queries come from clusters the base never saw, shifted by this many
# noise standard deviations along a random direction.
OOD_SHIFT = 3.0
# The metric-misuse set: the class signal lives in the first MISUSE_SIGNAL_DIMS dimensions
# (class centres N(0, MISUSE_CLASS_SPREAD^2), within-class noise MISUSE_CLASS_NOISE); every
# dimension also carries nuisance noise of MISUSE_NUISANCE_STD, so l2 and cosine retrieve by noise.
MISUSE_SIGNAL_DIMS = 4
MISUSE_CLASSES = 10
MISUSE_CLASS_SPREAD = 2.0
MISUSE_CLASS_NOISE = 0.5
MISUSE_NUISANCE_STD = 3.0
# scikit-learn digits split, as in ../shared/data/make_digits.py: a default_rng(0) permutation,
# the first DIGITS_QUERIES rows are queries.
DIGITS_QUERIES = 200


def _draw(rng: np.random.Generator, centers: np.ndarray, labels: np.ndarray, spread: np.ndarray) -> np.ndarray:
    noise = rng.standard_normal((len(labels), centers.shape[1]))
    return (centers[labels] + noise * spread[labels, None]).astype(np.float32)


def clustered(n: int, dim: int, n_queries: int, n_clusters: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Equal-probability Gaussian clusters; queries come from the same clusters."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, dim)) * CENTER_SCALE
    spread = np.ones(n_clusters)
    base_labels = rng.integers(0, n_clusters, n).astype(np.int32)
    query_labels = rng.integers(0, n_clusters, n_queries).astype(np.int32)
    return {"base": _draw(rng, centers, base_labels, spread), "queries": _draw(rng, centers, query_labels, spread),
            "base_labels": base_labels, "query_labels": query_labels}


def skewed(n: int, dim: int, n_queries: int, n_clusters: int = 50, seed: int = 0) -> dict[str, np.ndarray]:
    """Clusters of power-law sizes and unequal spreads (a few huge classes, a long tail of
    small ones); queries are drawn uniformly over clusters, so the tail is queried as often
    as the head (label recall's min(K, class size) denominator matters here)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, dim)) * CENTER_SCALE
    spread = rng.uniform(*SKEW_SPREAD_RANGE, n_clusters)
    share = np.arange(1, n_clusters + 1, dtype=np.float64) ** -SKEW_EXPONENT
    base_labels = rng.choice(n_clusters, size=n, p=share / share.sum()).astype(np.int32)
    query_labels = rng.integers(0, n_clusters, n_queries).astype(np.int32)
    return {"base": _draw(rng, centers, base_labels, spread), "queries": _draw(rng, centers, query_labels, spread),
            "base_labels": base_labels, "query_labels": query_labels}


def out_of_distribution(n: int, dim: int, n_queries: int, n_clusters: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Base from Gaussian clusters; queries from other clusters, shifted away from the base
    (as when a text query is embedded unlike the documents). No labels: recall only."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((2 * n_clusters, dim)) * CENTER_SCALE
    spread = np.ones(2 * n_clusters)
    shift = rng.standard_normal(dim)
    shift *= OOD_SHIFT / np.linalg.norm(shift)
    base_labels = rng.integers(0, n_clusters, n)
    query_labels = rng.integers(n_clusters, 2 * n_clusters, n_queries)
    queries = _draw(rng, centers, query_labels, spread) + shift.astype(np.float32)
    return {"base": _draw(rng, centers, base_labels, spread), "queries": queries.astype(np.float32)}


def metric_misuse(n: int, dim: int, n_queries: int, n_clusters: int = MISUSE_CLASSES,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Classes separable only in a few dimensions, drowned in large nuisance noise in all of
    them: a set where the plain metrics retrieve by noise and a learned metric should win."""
    if dim < MISUSE_SIGNAL_DIMS:
        raise ValueError(f"the metric-misuse set needs dim >= {MISUSE_SIGNAL_DIMS}; got {dim}")
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, MISUSE_SIGNAL_DIMS)) * MISUSE_CLASS_SPREAD
    labels = rng.integers(0, n_clusters, n + n_queries).astype(np.int32)
    x = rng.standard_normal((n + n_queries, dim)) * MISUSE_NUISANCE_STD
    x[:, :MISUSE_SIGNAL_DIMS] = centers[labels] + rng.standard_normal((len(labels), MISUSE_SIGNAL_DIMS)) * MISUSE_CLASS_NOISE
    x = x.astype(np.float32)
    return {"base": x[:n], "queries": x[n:], "base_labels": labels[:n], "query_labels": labels[n:]}


def sklearn_digits() -> dict[str, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1,797 x 64, no download), split as the shared
    ``digits`` folder is: the same base, queries and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int32)
    perm = np.random.default_rng(0).permutation(len(x))
    qi, bi = np.sort(perm[:DIGITS_QUERIES]), np.sort(perm[DIGITS_QUERIES:])
    return {"base": x[bi], "queries": x[qi], "base_labels": y[bi], "query_labels": y[qi]}

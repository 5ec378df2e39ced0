"""The measures of the harness: pure functions of arrays, no engines, no I/O.

Conventions shared by every function:

* ``found`` is an int array (Q, k) of base ids, best first; ``-1`` marks a
  missing result (an engine that found fewer than k).
* Distances are "smaller is closer" (see bench.distances); missing ones are ``inf``.
* A score averaged over queries skips the queries for which it is undefined
  (a class with no base vector, an empty relevant list) and says so in its
  docstring; with no defined query at all the score is ``nan``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# Recall tolerance (ann-benchmarks' convention, made relative as in ../shared/data/README.md):
# a returned id is a true neighbour if its exact distance is at most the k-th exact distance
# plus RECALL_RTOL * |that distance| + RECALL_ATOL. Ties at rank k are therefore all correct.
RECALL_RTOL = 1e-5
RECALL_ATOL = 1e-6

# Iceberg's metric rule: inner product if DBI_E >= DBI_C and CV <= NORM_CV_IP_MAX, else Euclidean.
NORM_CV_IP_MAX = 0.1
# Guards the normalisation of a zero vector.
TINY_NORM = 1e-300
# Queries per block in relative_contrast (bounds memory at CHUNK x N float64).
CONTRAST_CHUNK_ROWS = 32
# Task-score confidence intervals: a percentile bootstrap over queries with this many
# resamples at this level, drawn in blocks of BOOTSTRAP_BLOCK resamples (bounds memory).
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95
BOOTSTRAP_BLOCK = 100
# Metric families, to compare the rule's suggestion with the metric that scored best.
METRIC_FAMILY = {"l2": "euclidean", "snr": "euclidean", "ip": "inner product", "cosine": "inner product",
                 "gssf": "inner product"}


# ----------------------------------------------------------------------------- neighbour quality
def tolerant(limit: np.ndarray | float) -> np.ndarray | float:
    """The largest exact distance that still counts as within ``limit`` (a k-th true distance,
    a radius): ``limit`` plus the recall tolerance."""
    return limit + RECALL_RTOL * np.abs(limit) + RECALL_ATOL


def recall_at_k(found_dist: np.ndarray, gt_dist: np.ndarray, k: int) -> float:
    """Distance-tolerant recall@k (ann-benchmarks): mean over queries of
    ``#{j < k : found_dist[i, j] <= gt_dist[i, k-1] + tol} / k``.

    ``found_dist`` holds the exact distances of the returned ids (``inf`` for
    missing or repeated ones, see bench.distances.rowwise); ``gt_dist`` the
    exact ascending distances of the true top-k (or deeper).
    """
    if gt_dist.shape[1] < k or found_dist.shape[1] < k:
        raise ValueError(f"need at least k={k} columns; got found {found_dist.shape}, ground truth {gt_dist.shape}")
    hits = (found_dist[:, :k] <= tolerant(gt_dist[:, k - 1])[:, None]).sum(1)
    return float(hits.mean() / k)


def capped_recall_at_k(found_dist: np.ndarray, gt_dist: np.ndarray, k: int) -> float:
    """Recall@k when fewer than k ids may qualify (a filter passing only m < k): with
    ``m = min(k, gt_dist.shape[1])`` true ones, the mean over queries of
    ``#{j < k : found_dist[i, j] <= gt_dist[i, m-1] + tol} / m``; the same as recall_at_k when
    ``gt_dist`` holds k columns. ``found_dist`` must be ``inf`` where an id does not qualify
    (missing, repeated, or failing the filter)."""
    m = min(k, gt_dist.shape[1])
    if m < 1 or found_dist.shape[1] < 1:
        raise ValueError(f"need at least one column; got found {found_dist.shape}, ground truth {gt_dist.shape}")
    hits = (found_dist[:, :k] <= tolerant(gt_dist[:, m - 1])[:, None]).sum(1)
    return float(np.minimum(hits, m).mean() / m)


def range_recall(found_dist: Sequence[np.ndarray], true_counts: Sequence[int], radius: float) -> dict[str, float]:
    """How well a range search found every vector within ``radius``, pooled over queries.

    ``found_dist[i]``: the exact distances of what query i returned (``inf`` for an id that
    does not qualify: repeated, or failing a filter); ``true_counts[i]``: how many vectors
    lie within ``radius`` of query i. A returned distance up to the radius (with the recall
    tolerance) is a true hit; one beyond it is a false hit. Returns ``recall`` (true hits
    found / true hits, nan when no query has one), ``found``, ``true``, ``false_hits`` and
    ``returned`` (totals over queries)."""
    bound = tolerant(radius)
    found = sum(min(int((d <= bound).sum()), n) for d, n in zip(found_dist, true_counts))
    true = int(sum(true_counts))
    returned = int(sum(len(d) for d in found_dist))
    return {"recall": found / true if true else math.nan, "found": found, "true": true,
            "false_hits": int(sum(int((d > bound).sum()) for d in found_dist)), "returned": returned}


def overlap_at_k(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Mean fraction of ids shared by the first k of two id lists (ignores -1)."""
    total = 0
    for row_a, row_b in zip(a[:, :k], b[:, :k]):
        total += len(set(row_a[row_a >= 0].tolist()) & set(row_b[row_b >= 0].tolist()))
    return total / (len(a) * k) if len(a) else math.nan


# ----------------------------------------------------------------------------- task measures
def class_sizes(base_labels: np.ndarray) -> dict[int, int]:
    """Number of base vectors per label."""
    values, counts = np.unique(base_labels, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def mean_defined(per_query: np.ndarray) -> float:
    """Mean of per-query scores over the queries where the score is defined (not nan);
    nan when none is."""
    defined = per_query[~np.isnan(per_query)]
    return float(defined.mean()) if len(defined) else math.nan


def label_recall_per_query(found: np.ndarray, base_labels: np.ndarray, query_labels: np.ndarray,
                           k: int) -> np.ndarray:
    """Iceberg's label recall@K of each query:
    ``#{j < K : label(found[i, j]) == label(query i)} / min(K, size of that class in the base)``;
    nan for a query whose class has no base vector (the denominator would be 0).
    With K no larger than any class this is precision@K."""
    sizes = class_sizes(base_labels)
    out = np.full(len(query_labels), math.nan)
    for i, (row, y) in enumerate(zip(found[:, :k], query_labels)):
        denominator = min(k, sizes.get(int(y), 0))
        if denominator:
            row = row[row >= 0]
            out[i] = int((base_labels[row] == y).sum()) / denominator
    return out


def label_recall_at_k(found: np.ndarray, base_labels: np.ndarray, query_labels: np.ndarray, k: int) -> float:
    """Mean label recall@K over the queries where it is defined (see label_recall_per_query)."""
    return mean_defined(label_recall_per_query(found, base_labels, query_labels, k))


def knn_vote(labels_in_rank_order: np.ndarray) -> int | None:
    """Majority label among neighbours; a tie goes to the tied label that appears first
    (i.e. whose nearest member is nearest). None for no neighbours."""
    if len(labels_in_rank_order) == 0:
        return None
    values, first, counts = np.unique(labels_in_rank_order, return_index=True, return_counts=True)
    tied = counts == counts.max()
    return int(values[tied][np.argmin(first[tied])])


def knn_correct_per_query(found: np.ndarray, base_labels: np.ndarray, query_labels: np.ndarray,
                          k: int) -> np.ndarray:
    """1.0 where the query's label wins the majority vote of its first k found neighbours
    (ties: see knn_vote), else 0.0 (a query with no neighbour is wrong)."""
    return np.array([float(knn_vote(base_labels[row[row >= 0]]) == int(y))
                     for row, y in zip(found[:, :k], query_labels)])


def knn_accuracy(found: np.ndarray, base_labels: np.ndarray, query_labels: np.ndarray, k: int) -> float:
    """Majority-vote kNN accuracy@k: fraction of queries whose label wins the vote of the
    first k found neighbours (see knn_correct_per_query)."""
    return mean_defined(knn_correct_per_query(found, base_labels, query_labels, k))


def hit_per_query(found: np.ndarray, relevant: Sequence[np.ndarray], k: int) -> np.ndarray:
    """1.0 where a relevant id is among the first K found, else 0.0; nan for a query with
    an empty relevant list."""
    return np.array([float(np.isin(row[:k], rel).any()) if len(rel) else math.nan
                     for row, rel in zip(found, relevant)])


def hit_at_k(found: np.ndarray, relevant: Sequence[np.ndarray], k: int) -> float:
    """hit@K (HR@K): fraction of queries with at least one relevant id among the first K.
    Queries with an empty relevant list are skipped."""
    return mean_defined(hit_per_query(found, relevant, k))


def relevant_recall_per_query(found: np.ndarray, relevant: Sequence[np.ndarray], k: int) -> np.ndarray:
    """``#(first K found ∩ relevant) / #relevant`` of each query (e.g. held-out items);
    nan for a query with no relevant id."""
    return np.array([len(set(row[:k].tolist()) & set(np.asarray(rel).tolist())) / len(rel) if len(rel) else math.nan
                     for row, rel in zip(found, relevant)])


def relevant_recall_at_k(found: np.ndarray, relevant: Sequence[np.ndarray], k: int) -> float:
    """Recall@K against a relevant-id list, averaged over the queries that have one."""
    return mean_defined(relevant_recall_per_query(found, relevant, k))


def bootstrap_ci(per_query: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, level: float = CI_LEVEL,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of per-query scores: the queries
    (those where the score is defined) are resampled with replacement ``resamples`` times.
    (nan, nan) when no query is defined."""
    defined = np.asarray(per_query, np.float64)
    defined = defined[~np.isnan(defined)]
    if len(defined) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, BOOTSTRAP_BLOCK):
        stop = min(resamples, start + BOOTSTRAP_BLOCK)
        means[start:stop] = defined[rng.integers(0, len(defined), (stop - start, len(defined)))].mean(1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def drop_excluded(found: np.ndarray, exclude: Sequence[np.ndarray], keep: int) -> np.ndarray:
    """Removes each query's excluded ids (e.g. items a user has seen) and -1s from its
    result, keeps the first ``keep``, pads with -1: (Q, keep)."""
    out = np.full((len(found), keep), -1, dtype=np.int64)
    for i, (row, ex) in enumerate(zip(found, exclude)):
        row = row[(row >= 0) & ~np.isin(row, ex)][:keep]
        out[i, : len(row)] = row
    return out


def task_loss(exact_score: float, ann_score: float) -> float:
    """Iceberg's task loss: task score under exact search minus task score of the ANN result
    (positive: the approximation cost task quality; negative: it happened to help)."""
    return exact_score - ann_score


# ----------------------------------------------------------------------------- speed
def percentile_us(latencies_ns: np.ndarray, q: float) -> float:
    """The q-th percentile of per-call latencies, in microseconds."""
    return float(np.percentile(latencies_ns, q) / 1e3)


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (recall, qps) points not beaten on both axes, by ascending recall."""
    frontier: list[tuple[float, float]] = []
    for r, q in sorted(points, key=lambda p: (-p[0], -p[1])):
        if not frontier or q > frontier[-1][1]:
            frontier.append((r, q))
    return sorted(frontier)


def qps_at_recall(points: Sequence[tuple[float, float]], target: float) -> float:
    """QPS at a target recall, interpolated linearly in (recall, log QPS) on the Pareto
    frontier of measured (recall, qps) points. A target beyond the best recall gives nan
    (not reached); one below the lowest measured recall gives the fastest point that
    reaches it (no extrapolation)."""
    frontier = [p for p in pareto_frontier(points) if p[1] > 0 and math.isfinite(p[1])]
    if not frontier or frontier[-1][0] < target:
        return math.nan
    if frontier[0][0] >= target:
        return frontier[0][1]
    for (r0, q0), (r1, q1) in zip(frontier, frontier[1:]):
        if r0 <= target <= r1:
            t = 0.0 if r1 == r0 else (target - r0) / (r1 - r0)
            return float(math.exp(math.log(q0) + t * (math.log(q1) - math.log(q0))))
    return math.nan  # unreachable: the frontier spans the target


# ----------------------------------------------------------------------------- meta-features
def norm_cv(x: np.ndarray) -> float:
    """Coefficient of variation of the vectors' L2 norms: std / mean (population std)."""
    norms = np.linalg.norm(np.asarray(x, np.float64), axis=1)
    mean = norms.mean()
    return float(norms.std() / mean) if mean > 0 else math.nan


def relative_contrast(base: np.ndarray, queries: np.ndarray) -> float:
    """Relative contrast (He, Kumar & Chang, ICML 2012) under Euclidean distance:
    ``E_q[mean_x |q - x|] / E_q[min_x |q - x|]``. Large: neighbours stand out; near 1: the
    nearest is hardly nearer than the average (hard for any index). nan if every query
    coincides with a base vector."""
    b = np.asarray(base, np.float64)
    b_sq = (b * b).sum(1)
    means, mins = [], []
    for start in range(0, len(queries), CONTRAST_CHUNK_ROWS):
        q = np.asarray(queries[start : start + CONTRAST_CHUNK_ROWS], np.float64)
        d = np.sqrt(np.maximum((q * q).sum(1)[:, None] - 2.0 * (q @ b.T) + b_sq[None, :], 0.0))
        means.append(d.mean(1))
        mins.append(d.min(1))
    d_min = float(np.concatenate(mins).mean())
    return float(np.concatenate(means).mean() / d_min) if d_min > 0 else math.nan


def davies_bouldin(x: np.ndarray, labels: np.ndarray, distance: str = "euclidean") -> float:
    """Davies-Bouldin index: mean over clusters i of ``max_{j != i} (S_i + S_j) / M_ij``, where
    S_i is the mean distance of cluster i's points to its centroid and M_ij the distance
    between centroids. Lower: tighter, better separated clusters.

    ``distance="euclidean"``: Euclidean distance, plain means as centroids (equal to
    sklearn.metrics.davies_bouldin_score). ``distance="cosine"``: the same on L2-normalised
    vectors with the cosine distance ``1 - cos`` (centroids: means of the normalised vectors).
    Labels with a single cluster give nan.
    """
    v = np.asarray(x, np.float64)
    if distance == "cosine":
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), TINY_NORM)

        def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            an = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), TINY_NORM)
            bn = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), TINY_NORM)
            return 1.0 - (an * bn).sum(-1)
    elif distance == "euclidean":
        def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.linalg.norm(a - b, axis=-1)
    else:
        raise ValueError(f"distance must be 'euclidean' or 'cosine'; got {distance!r}")
    classes = np.unique(labels)
    if len(classes) < 2:
        return math.nan
    centroids = np.stack([v[labels == c].mean(0) for c in classes])
    scatter = np.array([dist(v[labels == c], centroids[i][None, :]).mean() for i, c in enumerate(classes)])
    between = dist(centroids[:, None, :], centroids[None, :, :])
    ratio = (scatter[:, None] + scatter[None, :]) / np.where(between > 0, between, np.nan)
    np.fill_diagonal(ratio, -np.inf)
    worst = np.nanmax(ratio, axis=1)  # a pair of identical centroids gives nan and is skipped
    worst = worst[np.isfinite(worst)]
    return float(worst.mean()) if len(worst) else math.nan


def suggest_metric(dbi_euclidean: float, dbi_cosine: float, cv: float) -> str:
    """Iceberg's rule: ``"ip"`` (inner product) if DBI_E >= DBI_C and CV <= 0.1, else ``"l2"``."""
    return "ip" if dbi_euclidean >= dbi_cosine and cv <= NORM_CV_IP_MAX else "l2"


def same_family(a: str, b: str) -> bool:
    """Whether two metrics are of one family (see METRIC_FAMILY: ip and cosine rank alike on
    unit vectors, snr is Euclidean on centred vectors)."""
    return METRIC_FAMILY.get(a, a) == METRIC_FAMILY.get(b, b)

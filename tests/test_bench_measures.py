"""The benchmark harness's measures, on small hand-computed cases."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1]))  # `bench` lives at the repo root

from bench import measures, tasks  # noqa: E402
from bench.distances import exact_topk, rowwise, spec  # noqa: E402
from bench.tasks import Task  # noqa: E402

INF = math.inf


# ----------------------------------------------------------------------------- recall
def test_recall_counts_ties_at_rank_k():
    gt = np.array([[0.0, 1.0, 1.0, 2.0]])          # ids 10, 11, 12 tie at distance 1
    # the ground truth listed id 11 at rank 2; the engine returned the tied id 12 instead
    assert measures.recall_at_k(np.array([[0.0, 1.0]]), gt, 2) == 1.0
    assert measures.recall_at_k(np.array([[0.0, 2.0]]), gt, 2) == 0.5
    assert measures.recall_at_k(np.array([[1.0, 1.0]]), gt, 2) == 1.0   # both tied ids are correct


def test_recall_tolerance_and_missing():
    gt = np.array([[1.0, 4.0], [0.0, 0.0]])
    found = np.array([[1.0, 4.0 * (1 + 0.5e-5)],    # within the relative tolerance
                      [0.0, INF]])                   # a missing result never counts
    assert measures.recall_at_k(found, gt, 2) == 0.75
    assert measures.recall_at_k(np.array([[1.0, 4.001]]), gt[:1], 2) == 0.5


def test_recall_needs_k_columns():
    with pytest.raises(ValueError):
        measures.recall_at_k(np.zeros((1, 1)), np.zeros((1, 5)), 2)


def test_rowwise_distances_missing_and_repeated_ids():
    base = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]], np.float32)
    q = np.array([[0.0, 0.0]], np.float32)
    d = rowwise(spec("l2"), q, base, np.array([[1, 1, -1, 2]]))
    assert d.tolist() == [[25.0, INF, INF, 1.0]]     # the repeated id scores once


def test_distance_conventions():
    q = np.array([[1.0, 0.0, 2.0]])
    x = np.array([[2.0, 2.0, 2.0], [0.0, 1.0, 0.0]])
    assert np.allclose(spec("l2").pairwise(q, x), [[1 + 4 + 0, 1 + 1 + 4]])
    assert np.allclose(spec("ip").pairwise(q, x), [[1 - 6, 1 - 0]])
    cos = (q @ x.T) / np.linalg.norm(q) / np.linalg.norm(x, axis=1)
    assert np.allclose(spec("cosine").pairwise(q, x), 1 - cos)
    snr = [np.var(row - q[0]) / np.var(q[0]) for row in x]   # var(x - q) / var(q)
    assert np.allclose(spec("snr").pairwise(q, x), [snr])


def test_exact_topk_breaks_ties_by_smaller_id():
    base = np.array([[2.0], [1.0], [1.0], [0.0], [1.0]], np.float32)
    ids, dist = exact_topk(base, np.array([[1.0]], np.float32), spec("l2"), 4)
    assert ids.tolist() == [[1, 2, 4, 0]]
    assert dist.tolist() == [[0.0, 0.0, 0.0, 1.0]]


# ----------------------------------------------------------------------------- label tasks
def test_label_recall_denominator_is_min_k_and_class_size():
    base_labels = np.array([0, 0, 0, 1, 2])           # class sizes: 0 -> 3, 1 -> 1, 2 -> 1
    found = np.array([[0, 1, 3, 4, -1],               # query of class 0: 2 hits / min(5, 3)
                      [3, 0, 1, 2, 4],                # class 1: 1 hit / min(5, 1)
                      [0, 1, 2, 3, 4]])               # class 7 has no base vector: skipped
    q = np.array([0, 1, 7])
    assert measures.label_recall_at_k(found, base_labels, q, 5) == pytest.approx((2 / 3 + 1) / 2)
    # K = 2 < class size 3: denominator 2 (precision@2)
    assert measures.label_recall_at_k(found[:1], base_labels, q[:1], 2) == 1.0
    assert math.isnan(measures.label_recall_at_k(found[2:], base_labels, q[2:], 5))


def test_knn_vote_ties_go_to_the_label_seen_first():
    assert measures.knn_vote(np.array([1, 2, 2, 1])) == 1
    assert measures.knn_vote(np.array([2, 1, 1, 2])) == 2
    assert measures.knn_vote(np.array([3, 1, 1, 2])) == 1    # plain majority
    assert measures.knn_vote(np.array([], int)) is None


def test_knn_accuracy():
    base_labels = np.array([5, 6, 6, 5, 7])
    found = np.array([[0, 1, 2, 3],     # 5,6,6,5: tie -> 5 (nearest first): correct for 5
                      [1, 0, 2, -1],    # 6,5,6 -> 6: wrong for 5
                      [-1, -1, -1, -1]])  # nothing found: wrong
    assert measures.knn_accuracy(found, base_labels, np.array([5, 5, 5]), 4) == pytest.approx(1 / 3)
    assert measures.knn_accuracy(found[:1], base_labels, np.array([5]), 1) == 1.0


def test_hit_and_relevant_recall():
    found = np.array([[4, 5, 6], [1, 2, 3], [7, 8, 9]])
    relevant = [np.array([6, 40]), np.array([9]), np.array([], int)]   # the empty one is skipped
    assert measures.hit_at_k(found, relevant, 3) == 0.5
    assert measures.hit_at_k(found, relevant, 2) == 0.0
    assert measures.relevant_recall_at_k(found, relevant, 3) == pytest.approx((1 / 2 + 0) / 2)


def test_drop_excluded_keeps_first_unseen():
    found = np.array([[3, 1, 4, -1, 5, 9]])
    assert measures.drop_excluded(found, [np.array([1, 5])], 3).tolist() == [[3, 4, 9]]
    assert measures.drop_excluded(found, [np.array([3, 4, 5, 9])], 3).tolist() == [[1, -1, -1]]


def test_task_scores_with_seen_items_dropped():
    # a movielens-like query: retrieve deep, drop seen items, score the first 2
    found = np.array([[10, 11, 12, 13]])
    scores = tasks.score((Task("relevant_recall", 2), Task("hit", 2)), found,
                         relevant=[np.array([12, 99])], exclude=[np.array([10, 11])])
    assert scores == {"relevant_recall@2": 0.5, "hit@2": 1.0}


def test_task_loss_sign():
    assert measures.task_loss(0.9, 0.85) == pytest.approx(0.05)
    assert measures.task_loss(0.5, 0.6) == pytest.approx(-0.1)


def test_task_needs_its_inputs():
    with pytest.raises(ValueError, match="labels"):
        tasks.score((Task("knn_acc", 1),), np.zeros((1, 1), int))
    with pytest.raises(ValueError):
        Task("nonsense", 1)


# ----------------------------------------------------------------------------- speed
def test_qps_at_recall_interpolates_on_the_frontier():
    pts = [(0.80, 1000.0), (0.90, 100.0), (0.99, 10.0), (0.85, 50.0)]   # (0.85, 50) is dominated
    assert measures.pareto_frontier(pts) == [(0.80, 1000.0), (0.90, 100.0), (0.99, 10.0)]
    assert measures.qps_at_recall(pts, 0.85) == pytest.approx(math.sqrt(1000 * 100))  # log-linear midpoint
    assert measures.qps_at_recall(pts, 0.90) == pytest.approx(100.0)
    assert measures.qps_at_recall(pts, 0.50) == 1000.0   # below every point: the fastest that reaches it
    assert math.isnan(measures.qps_at_recall(pts, 0.995))  # never reached


def test_percentile_us():
    assert measures.percentile_us(np.array([1000, 2000, 3000]), 50) == 2.0


# ----------------------------------------------------------------------------- meta-features
def test_norm_cv():
    assert measures.norm_cv(np.array([[3.0, 4.0], [6.0, 8.0]])) == pytest.approx(2.5 / 7.5)
    assert measures.norm_cv(np.eye(3)) == 0.0


def test_relative_contrast():
    base = np.array([[0.0], [3.0]])
    assert measures.relative_contrast(base, np.array([[1.0]])) == pytest.approx(1.5)   # mean 1.5 / min 1
    # two queries: E[mean] = (1.5 + 1.5) / 2, E[min] = (1 + 0.5) / 2
    assert measures.relative_contrast(base, np.array([[1.0], [2.5]])) == pytest.approx(1.5 / 0.75)


def test_davies_bouldin_by_hand():
    x = np.array([[0.0, 0], [2, 0], [10, 0], [12, 0]])
    labels = np.array([0, 0, 1, 1])
    assert measures.davies_bouldin(x, labels, "euclidean") == pytest.approx((1 + 1) / 10)
    y = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    s = 1 - 1 / math.sqrt(2)                 # 1 - cos(45 degrees)
    assert measures.davies_bouldin(y, labels, "cosine") == pytest.approx(2 * s / 2)   # centroid distance 1 - cos(180)
    assert math.isnan(measures.davies_bouldin(x, np.zeros(4, int)))


def test_davies_bouldin_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)) + np.repeat(rng.normal(size=(3, 5)) * 3, 20, axis=0)
    labels = np.repeat(np.arange(3), 20)
    assert measures.davies_bouldin(x, labels) == pytest.approx(sklearn_metrics.davies_bouldin_score(x, labels))


def test_iceberg_metric_rule():
    assert measures.suggest_metric(2.0, 1.0, 0.05) == "ip"
    assert measures.suggest_metric(1.0, 1.0, 0.1) == "ip"      # both bounds inclusive
    assert measures.suggest_metric(1.0, 2.0, 0.05) == "l2"
    assert measures.suggest_metric(2.0, 1.0, 0.2) == "l2"
    assert measures.same_family("ip", "cosine") and not measures.same_family("ip", "l2")

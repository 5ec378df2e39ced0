"""Downstream tasks: what the retrieved neighbours are worth (Iceberg's task metrics).

A :class:`Task` names one score of one query set (kNN accuracy@k, label
recall@K, hit@K, recall@K against relevant ids); :func:`score` turns found ids
into those scores with the pure functions of bench.measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import measures

KINDS = {
    "knn_acc": "majority-vote kNN accuracy@k (ties: the tied label seen first)",
    "label_recall": "label recall@K = same-label hits in top K / min(K, class size)",
    "hit": "hit@K: a relevant id in the top K",
    "relevant_recall": "recall@K against the relevant ids: hits / #relevant",
}
NEEDS_LABELS = ("knn_acc", "label_recall")
NEEDS_RELEVANT = ("hit", "relevant_recall")


@dataclass(frozen=True)
class Task:
    """One task score: ``kind`` (a key of KINDS) at cut-off ``k``."""

    kind: str
    k: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown task kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.k < 1:
            raise ValueError(f"task cut-off must be >= 1; got {self.k}")

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.k}"


def score(
    tasks: Sequence[Task],
    found: np.ndarray,
    *,
    base_labels: np.ndarray | None = None,
    query_labels: np.ndarray | None = None,
    relevant: Sequence[np.ndarray] | None = None,
    exclude: Sequence[np.ndarray] | None = None,
) -> dict[str, float]:
    """Scores found ids (Q, depth) on each task. With ``exclude`` (per-query ids to drop,
    e.g. a user's seen items), those are removed first and each task sees the first
    ``k`` of what remains."""
    if exclude is not None:
        found = measures.drop_excluded(found, exclude, max(t.k for t in tasks))
    out: dict[str, float] = {}
    for task in tasks:
        if task.kind in NEEDS_LABELS and (base_labels is None or query_labels is None):
            raise ValueError(f"task {task.name} needs base and query labels")
        if task.kind in NEEDS_RELEVANT and relevant is None:
            raise ValueError(f"task {task.name} needs relevant ids")
        if task.kind == "knn_acc":
            out[task.name] = measures.knn_accuracy(found, base_labels, query_labels, task.k)
        elif task.kind == "label_recall":
            out[task.name] = measures.label_recall_at_k(found, base_labels, query_labels, task.k)
        elif task.kind == "hit":
            out[task.name] = measures.hit_at_k(found, relevant, task.k)
        else:
            out[task.name] = measures.relevant_recall_at_k(found, relevant, task.k)
    return out

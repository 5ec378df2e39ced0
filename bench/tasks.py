"""Downstream tasks: what the retrieved neighbours are worth (Iceberg's task metrics).

A :class:`Task` names one score of one query set (kNN accuracy@k, label
recall@K, hit@K, recall@K against relevant ids); :func:`score` turns found ids
into those scores with the pure functions of bench.measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

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


PER_QUERY = {
    "knn_acc": lambda found, t, labels, relevant: measures.knn_correct_per_query(found, *labels, t.k),
    "label_recall": lambda found, t, labels, relevant: measures.label_recall_per_query(found, *labels, t.k),
    "hit": lambda found, t, labels, relevant: measures.hit_per_query(found, relevant, t.k),
    "relevant_recall": lambda found, t, labels, relevant: measures.relevant_recall_per_query(found, relevant, t.k),
}


def per_query(
    tasks: Sequence[Task],
    found: np.ndarray,
    *,
    base_labels: np.ndarray | None = None,
    query_labels: np.ndarray | None = None,
    relevant: Sequence[np.ndarray] | None = None,
    exclude: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Each task's score per query (nan where undefined) for found ids (Q, depth). With
    ``exclude`` (per-query ids to drop, e.g. a user's seen items), those are removed first
    and each task sees the first ``k`` of what remains."""
    if exclude is not None:
        found = measures.drop_excluded(found, exclude, max(t.k for t in tasks))
    out: dict[str, np.ndarray] = {}
    for task in tasks:
        if task.kind in NEEDS_LABELS and (base_labels is None or query_labels is None):
            raise ValueError(f"task {task.name} needs base and query labels")
        if task.kind in NEEDS_RELEVANT and relevant is None:
            raise ValueError(f"task {task.name} needs relevant ids")
        out[task.name] = PER_QUERY[task.kind](found, task, (base_labels, query_labels), relevant)
    return out


def score(tasks: Sequence[Task], found: np.ndarray, **inputs: Any) -> dict[str, float]:
    """Each task's mean score over the queries where it is defined (see :func:`per_query`)."""
    return {name: measures.mean_defined(values) for name, values in per_query(tasks, found, **inputs).items()}

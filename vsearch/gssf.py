"""GSSF: a learned structured bilinear similarity (after "GSSF: Generalized
Structural Sparse Function for Deep Cross-modal Metric Learning", TIP 2024).

The paper's code was never published; vsearch uses this explicit form:

    S(x, y) = sum_m w_m x_m y_m + sum_k x_{G_k}^T W_k y_{G_k}

for L2-normalised x and y, with the channels split into K contiguous blocks
G_k of ``block_size`` channels. It is the bilinear form x^T A y with
A = diag(w) + blockdiag(W_1..W_K). The index serves the distance 1 - S(q, x):
a query costs one block-sparse transform A^T q, then plain inner products.

Training (:meth:`GSSF.fit`) uses a bidirectional hinge ranking loss with the
hardest in-batch negatives (margin 0.2) on pairs of same-label vectors, Adam,
and early stopping on the label recall@10 of a validation split. It starts
from A = I, i.e. from cosine similarity.

Example:
    >>> model = vsearch.GSSF(64, block_size=8).fit(vectors, labels)   # doctest: +SKIP
    >>> index = vsearch.Index(64, metric=model)                       # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import limits
from ._progress import Progress, reporter
from ._validation import bounded_int, positive_int, real_in_range, seed_value
from .errors import InvalidParameterError

MARGIN = 0.2
RECALL_AT = 10
# Adam's usual constants.
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8
# Pulls A gently back towards the identity (cosine), so small or noisy
# training sets cannot drift far from a sensible similarity.
IDENTITY_PULL = 1e-4
VALIDATION_BATCH = 1024


@dataclass
class TrainingHistory:
    """Per epoch: mean training loss and validation label recall@10."""

    loss: list[float] = field(default_factory=list)
    validation_recall: list[float] = field(default_factory=list)
    best_epoch: int = -1
    initial_validation_recall: float = 0.0


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise InvalidParameterError("GSSF works on directions: zero vectors have none")
    return x / norms


class GSSF:
    """The learned similarity's parameters and its numpy reference.

    Args:
        dim: vector dimension.
        block_size: channels per block; must divide ``dim``.
        diagonal: the weights w (default: ones).
        blocks: the K blocks W_k, shape ``(dim // block_size, block_size, block_size)`` (default: zeros).
    """

    def __init__(
        self,
        dim: int,
        block_size: int = 16,
        *,
        diagonal: np.ndarray | None = None,
        blocks: np.ndarray | None = None,
    ) -> None:
        dim = bounded_int(dim, "dim", 1, limits.MAX_DIM, "the largest vector vsearch stores")
        block_size = bounded_int(block_size, "block_size", 1, limits.MAX_GSSF_BLOCK_SIZE,
                                 "a model holds dim * (1 + block_size) weights")
        if dim % block_size:
            raise InvalidParameterError(f"block_size must be a positive divisor of dim {dim}; got {block_size!r}")
        self.dim, self.block_size = int(dim), int(block_size)
        shape = (self.dim // self.block_size, self.block_size, self.block_size)
        self.diagonal = np.ones(self.dim, np.float32) if diagonal is None else np.asarray(diagonal, np.float32)
        self.blocks = np.zeros(shape, np.float32) if blocks is None else np.asarray(blocks, np.float32)
        if self.diagonal.shape != (self.dim,) or self.blocks.shape != shape:
            raise InvalidParameterError(f"GSSF needs diagonal of shape ({self.dim},) and blocks of shape {shape}")
        if not (np.isfinite(self.diagonal).all() and np.isfinite(self.blocks).all()):
            raise InvalidParameterError("GSSF parameters must be finite")
        self.history: TrainingHistory | None = None

    # -- the similarity ---------------------------------------------------------

    @property
    def matrix(self) -> np.ndarray:
        """The dense D x D matrix A (for reference and inspection)."""
        a = np.diag(self.diagonal.astype(np.float64))
        b = self.block_size
        for k, block in enumerate(self.blocks):
            a[k * b : (k + 1) * b, k * b : (k + 1) * b] += block
        return a

    def _apply(self, x: np.ndarray, diagonal: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """x A for rows x (block-sparse: O(n D b), never the dense matrix)."""
        b = self.block_size
        grouped = x.reshape(x.shape[0], -1, b)
        return x * diagonal + np.einsum("nki,kij->nkj", grouped, blocks).reshape(x.shape)

    def similarity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | float:
        """S(x, y) for all pairs: (n, D) x (m, D) -> (n, m); 1-D inputs give a row or a number.

        The numpy reference of what the index computes (in float64).
        """
        xs, ys = np.atleast_2d(np.asarray(x, np.float64)), np.atleast_2d(np.asarray(y, np.float64))
        s = self._apply(_normalise(xs), self.diagonal.astype(np.float64), self.blocks.astype(np.float64)) @ _normalise(
            ys
        ).T
        if np.ndim(x) == 1 and np.ndim(y) == 1:
            return float(s[0, 0])
        if np.ndim(x) == 1:
            return s[0]
        if np.ndim(y) == 1:
            return s[:, 0]
        return s

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | float:
        """1 - S(x, y): what the index returns."""
        return 1.0 - self.similarity(x, y)

    # -- persistence --------------------------------------------------------------

    def weights(self) -> np.ndarray:
        """All parameters as one float32 vector: the diagonal, then the blocks row-major."""
        return np.concatenate([self.diagonal.ravel(), self.blocks.ravel()]).astype(np.float32)

    @classmethod
    def from_weights(cls, dim: int, block_size: int, weights: np.ndarray) -> "GSSF":
        weights = np.asarray(weights, np.float32)
        if weights.shape != (dim + dim * block_size,):
            raise InvalidParameterError(f"expected {dim + dim * block_size} GSSF weights; got {weights.shape}")
        blocks = weights[dim:].reshape(dim // block_size, block_size, block_size)
        return cls(dim, block_size, diagonal=weights[:dim], blocks=blocks)

    def __repr__(self) -> str:
        trained = "trained" if self.history else "untrained"
        return f"GSSF(dim={self.dim}, block_size={self.block_size}, {trained})"

    # -- training -------------------------------------------------------------------

    def fit(
        self,
        vectors: np.ndarray,
        labels: np.ndarray,
        *,
        epochs: int = 30,
        batch_size: int = 256,
        learning_rate: float = 0.01,
        margin: float = MARGIN,
        validation_fraction: float = 0.15,
        patience: int = 5,
        seed: int = 0,
        progress: Progress = None,
    ) -> "GSSF":
        """Learns the parameters from labelled vectors; same-label pairs should score higher.

        Each step draws ``batch_size`` anchors and, for each, a positive of the
        same label; the loss is the bidirectional hinge with the hardest
        in-batch negative (a pair of different labels) of each anchor and each
        positive. Training stops when the validation label recall@10 has not
        improved for ``patience`` epochs and keeps the best parameters. The
        same seed and data give the same model. Returns ``self``.

        ``progress`` is as in :meth:`vsearch.Index.add`, counting epochs; ``None``
        shows the bar whenever stderr is a terminal (training takes a while).

        Example:
            >>> model = vsearch.GSSF(64, block_size=8)                          # doctest: +SKIP
            >>> model.fit(vectors, labels, progress=lambda done, total: print(done, total))  # doctest: +SKIP
        """
        epochs = positive_int(epochs, "epochs")
        batch_size = bounded_int(batch_size, "batch_size", 2, limits.MAX_ELEMENTS,
                                 "the largest number of vectors vsearch handles")  # 2: a batch needs a negative
        patience = positive_int(patience, "patience")
        seed = seed_value(seed)
        learning_rate = real_in_range(learning_rate, "learning_rate", 0, math.inf, include_low=False)
        margin = real_in_range(margin, "margin", 0, math.inf)
        validation_fraction = real_in_range(validation_fraction, "validation_fraction", 0, 1)
        x = _normalise(np.asarray(vectors, np.float64))
        y = np.asarray(labels)
        if x.ndim != 2 or x.shape[1] != self.dim or y.shape != (x.shape[0],):
            raise InvalidParameterError(f"fit needs vectors (n, {self.dim}) and labels (n,)")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(x))
        n_val = int(round(validation_fraction * len(x)))
        val, train = order[:n_val], order[n_val:]
        classes, train_labels = np.unique(y[train], return_inverse=True)
        class_sizes = np.bincount(train_labels)
        by_class = np.argsort(train_labels, kind="stable")     # train positions grouped by class
        class_start = np.concatenate([[0], np.cumsum(class_sizes)[:-1]])
        position = np.empty(len(train), np.int64)               # where each lies within its class
        position[by_class] = np.arange(len(train)) - class_start[train_labels[by_class]]
        anchors = np.flatnonzero(class_sizes[train_labels] > 1)
        if len(anchors) < 2 or len(classes) < 2:
            raise InvalidParameterError("fit needs at least two labels with two or more vectors each")

        diagonal, blocks = self.diagonal.astype(np.float64), self.blocks.astype(np.float64)
        best = (self._validation_recall(diagonal, blocks, x[train], y[train], x[val], y[val]), diagonal, blocks)
        history = TrainingHistory(initial_validation_recall=best[0])
        moments = [np.zeros_like(diagonal), np.zeros_like(diagonal), np.zeros_like(blocks), np.zeros_like(blocks)]
        step, stale = 0, 0
        bar = reporter(progress, epochs, "training GSSF")
        for epoch in range(epochs):
            losses = []
            for _ in range(0, len(anchors), batch_size):
                chosen = anchors[rng.integers(0, len(anchors), min(batch_size, len(anchors)))]
                # A random other member of each anchor's class.
                sizes = class_sizes[train_labels[chosen]]
                offset = np.minimum((rng.random(len(chosen)) * (sizes - 1)).astype(np.int64), sizes - 2)
                offset += offset >= position[chosen]
                positives = by_class[class_start[train_labels[chosen]] + offset]
                loss, grad_d, grad_b = self._loss_and_gradient(
                    diagonal, blocks, x[train[chosen]], x[train[positives]], train_labels[chosen], margin
                )
                grad_d += IDENTITY_PULL * (diagonal - 1.0)
                grad_b += IDENTITY_PULL * blocks
                step += 1
                diagonal, blocks = self._adam(step, learning_rate, (diagonal, blocks), (grad_d, grad_b), moments)
                losses.append(loss)
            recall = self._validation_recall(diagonal, blocks, x[train], y[train], x[val], y[val])
            history.loss.append(float(np.mean(losses)))
            history.validation_recall.append(recall)
            if bar:
                bar(epoch + 1)
            if recall > best[0] or n_val == 0:  # without a validation split, keep the last
                best, stale = (recall, diagonal.copy(), blocks.copy()), 0
                history.best_epoch = epoch
            else:
                stale += 1
                if stale >= patience:
                    break
        if bar and len(history.loss) < epochs:
            bar(epochs)
        self.diagonal, self.blocks = best[1].astype(np.float32), best[2].astype(np.float32)
        self.history = history
        return self

    def _loss_and_gradient(
        self, diagonal: np.ndarray, blocks: np.ndarray, anchors: np.ndarray, positives: np.ndarray,
        labels: np.ndarray, margin: float,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Bidirectional hinge with hardest in-batch negatives, and its gradient in (w, W)."""
        n = len(anchors)
        scores = self._apply(anchors, diagonal, blocks) @ positives.T  # S(anchor_i, positive_j)
        negative = labels[:, None] != labels[None, :]
        masked = np.where(negative, scores, -np.inf)
        hardest_for_anchor = masked.argmax(axis=1)      # hardest positive_j for anchor i
        hardest_for_positive = masked.argmax(axis=0)    # hardest anchor_j for positive i
        rows = np.arange(n)
        has_row = negative.any(axis=1)
        has_col = negative.any(axis=0)
        matched = scores[rows, rows]
        row_cost = np.where(has_row, margin - matched + scores[rows, hardest_for_anchor], 0.0)
        col_cost = np.where(has_col, margin - matched + scores[hardest_for_positive, rows], 0.0)
        row_active, col_active = row_cost > 0, col_cost > 0
        loss = float((np.maximum(row_cost, 0) + np.maximum(col_cost, 0)).sum() / n)
        # dLoss/dScores: -1 on the matched pair, +1 on the hardest negative, per active term.
        g = np.zeros_like(scores)
        np.add.at(g, (rows[row_active], rows[row_active]), -1.0)
        np.add.at(g, (rows[row_active], hardest_for_anchor[row_active]), 1.0)
        np.add.at(g, (rows[col_active], rows[col_active]), -1.0)
        np.add.at(g, (hardest_for_positive[col_active], rows[col_active]), 1.0)
        g /= n
        # scores = anchors A positives^T: dA = anchors^T g positives, kept on A's structure.
        gp = g @ positives
        grad_diagonal = (anchors * gp).sum(axis=0)
        b = self.block_size
        grad_blocks = np.einsum("nki,nkj->kij", anchors.reshape(n, -1, b), gp.reshape(n, -1, b))
        return loss, grad_diagonal, grad_blocks

    @staticmethod
    def _adam(step: int, rate: float, params: tuple, grads: tuple, moments: list) -> tuple:
        updated = []
        for i, (p, g) in enumerate(zip(params, grads)):
            m, v = moments[2 * i], moments[2 * i + 1]
            m *= ADAM_BETA1
            m += (1 - ADAM_BETA1) * g
            v *= ADAM_BETA2
            v += (1 - ADAM_BETA2) * g * g
            m_hat = m / (1 - ADAM_BETA1**step)
            v_hat = v / (1 - ADAM_BETA2**step)
            updated.append(p - rate * m_hat / (np.sqrt(v_hat) + ADAM_EPSILON))
        return tuple(updated)

    def _validation_recall(
        self, diagonal: np.ndarray, blocks: np.ndarray, base: np.ndarray, base_labels: np.ndarray,
        queries: np.ndarray, query_labels: np.ndarray,
    ) -> float:
        """Label recall@10 of exact search under the current parameters (denominator min(10, class size))."""
        if len(queries) == 0:
            return 0.0
        class_size = {label: count for label, count in zip(*np.unique(base_labels, return_counts=True))}
        total = 0.0
        for start in range(0, len(queries), VALIDATION_BATCH):
            q = queries[start : start + VALIDATION_BATCH]
            scores = self._apply(q, diagonal, blocks) @ base.T
            top = np.argpartition(-scores, RECALL_AT - 1, axis=1)[:, :RECALL_AT]
            for row, labels in zip(top, query_labels[start : start + VALIDATION_BATCH]):
                hits = int((base_labels[row] == labels).sum())
                total += hits / max(1, min(RECALL_AT, class_size.get(labels, 0))) if class_size.get(labels) else 0.0
        return total / len(queries)

"""Is GSSF worth learning? Label recall@10 of cosine, l2 and a learned GSSF.

    python -m bench.gssf_worth

Two datasets: a synthetic "metric misuse" set (the class signal lives in a
few dimensions, large nuisance variance in all others, so cosine and l2
retrieve by noise) and fortunes_minilm from ../shared/data (skipped when
absent). GSSF is trained on the base vectors and their labels only; every
metric is served by a vsearch index (ef=200) and scored on the held-out
queries: label recall@10 = same-label hits / min(10, size of the query's
class in the base).

Targets (issue 4): learned GSSF beats the best of cosine/l2 by >= 10 points on
the synthetic set and is not worse on the real one.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import vsearch

K = 10
EF = 200
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_DATASET = "fortunes_minilm"

# The synthetic set: classes separable only in SIGNAL_DIMS of DIM dimensions.
DIM, SIGNAL_DIMS, CLASSES = 64, 4, 10
CLASS_SPREAD, CLASS_NOISE, NUISANCE_STD = 2.0, 0.5, 3.0
BASE_SIZE, QUERY_SIZE = 6000, 500


def metric_misuse_set(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(CLASSES, SIGNAL_DIMS)) * CLASS_SPREAD
    n = BASE_SIZE + QUERY_SIZE
    labels = rng.integers(0, CLASSES, n)
    x = rng.normal(size=(n, DIM)) * NUISANCE_STD
    x[:, :SIGNAL_DIMS] = centers[labels] + rng.normal(size=(n, SIGNAL_DIMS)) * CLASS_NOISE
    x = x.astype(np.float32)
    return x[:BASE_SIZE], labels[:BASE_SIZE], x[BASE_SIZE:], labels[BASE_SIZE:]


def label_recall(found: np.ndarray, base_labels: np.ndarray, query_labels: np.ndarray) -> float:
    sizes = np.bincount(base_labels, minlength=int(query_labels.max()) + 1)
    scores = [(base_labels[ids[ids >= 0]] == label).sum() / max(1, min(K, sizes[label]))
              for ids, label in zip(found, query_labels)]
    return float(np.mean(scores))


def evaluate(name: str, base: np.ndarray, base_labels: np.ndarray, queries: np.ndarray,
             query_labels: np.ndarray, block_size: int) -> dict:
    print(f"\n== {name}: {len(base):,} x {base.shape[1]} base, {len(queries)} queries, "
          f"{len(np.unique(base_labels))} labels", flush=True)
    scores = {}
    for metric in ("cosine", "l2"):
        index = vsearch.Index(base.shape[1], metric)
        index.add(base)
        scores[metric] = label_recall(index.search(queries, K, ef=EF).ids, base_labels, query_labels)
    start = time.perf_counter()
    model = vsearch.GSSF(base.shape[1], block_size).fit(base, base_labels, seed=0)
    train_seconds = time.perf_counter() - start
    index = vsearch.Index(base.shape[1], model)
    index.add(base)
    scores["gssf"] = label_recall(index.search(queries, K, ef=EF).ids, base_labels, query_labels)
    best_plain = max(scores["cosine"], scores["l2"])
    history = model.history
    print(f"  label recall@{K}: cosine {scores['cosine']:.4f}, l2 {scores['l2']:.4f}, learned GSSF {scores['gssf']:.4f}")
    print(f"  GSSF - best of cosine/l2: {100 * (scores['gssf'] - best_plain):+.1f} points; training "
          f"{train_seconds:.1f} s, {len(history.loss)} epochs (best {history.best_epoch + 1}), validation "
          f"recall {history.initial_validation_recall:.3f} -> {max(history.validation_recall, default=0):.3f}")
    return {"scores": scores, "train_seconds": train_seconds, "gain_points": 100 * (scores["gssf"] - best_plain)}


def main() -> None:
    results = {"synthetic metric misuse": evaluate("synthetic metric misuse", *metric_misuse_set(), block_size=8)}
    folder = SHARED_DATA / REAL_DATASET
    if folder.is_dir():
        results[REAL_DATASET] = evaluate(
            REAL_DATASET, np.load(folder / "base.npy"), np.load(folder / "base_labels.npy"),
            np.load(folder / "queries.npy"), np.load(folder / "query_labels.npy"), block_size=16)
    else:
        print(f"\nnote: {folder} not found; the real-data check is skipped")
    synthetic = results["synthetic metric misuse"]["gain_points"]
    print(f"\nsynthetic: GSSF gain {synthetic:+.1f} points (target >= +10)")
    if REAL_DATASET in results:
        print(f"{REAL_DATASET}: GSSF gain {results[REAL_DATASET]['gain_points']:+.1f} points (target >= 0)")


if __name__ == "__main__":
    main()

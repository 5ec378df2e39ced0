"""Timing of searches: one query per call with engines interleaved, and batches.

* single-thread QPS: one query per call, the queries cycled up to ``min_calls``;
  ``repetitions`` passes per engine, the engines taking turns within each
  repetition (their order rotates), the best pass kept. QPS = calls / the summed
  latency of the calls; p50/p99 latency pool every call of every pass;
* batch QPS: all queries in one call, best of the passes.

Engines are keyed by a label, so two indexes of one library (e.g. vsearch under
two metrics) can be interleaved too.
"""

from __future__ import annotations

import gc
import math
import time
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from .engines import Engine

NANOSECONDS = 1e9


class OneQuerySearch(Protocol):
    """What a one-query timing calls: an engine, or anything with the same ``search_one``
    (e.g. an engine searching under one filter, bench.filtered)."""

    def search_one(self, query: Any, k: int) -> np.ndarray: ...


def qps(latencies_ns: np.ndarray) -> float:
    """Calls per second of a pass: its calls over their summed latency."""
    return len(latencies_ns) * NANOSECONDS / max(int(latencies_ns.sum()), 1)


def timed_pass(engine: OneQuerySearch, prepared: Sequence[Any], k: int, cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """One timed pass: every prepared query, ``cycles`` times, one call each.
    Returns (latencies ns (calls,), ids of the first cycle (Q, k))."""
    n = len(prepared)
    lat = np.empty(n * cycles, np.int64)
    found = np.full((n, k), -1, np.int64)
    clock, search = time.perf_counter_ns, engine.search_one
    call = 0
    for cycle in range(cycles):
        for i, q in enumerate(prepared):
            t0 = clock()
            ids = search(q, k)
            lat[call] = clock() - t0
            call += 1
            if cycle == 0:
                m = min(len(ids), k)
                found[i, :m] = ids[:m]
    return lat, found


def timed_single(engines: Mapping[str, tuple[OneQuerySearch, Sequence[Any]]], k: int, repetitions: int,
                 min_calls: int) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """Interleaved one-query-per-call timing of {label: (engine, prepared queries)}:
    {label: (best QPS, all latencies ns, ids)}."""
    labels = list(engines)
    n = len(engines[labels[0]][1])
    cycles = max(1, math.ceil(min_calls / n))
    best: dict[str, float] = {label: 0.0 for label in labels}
    lats: dict[str, list[np.ndarray]] = {label: [] for label in labels}
    found: dict[str, np.ndarray] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rep in range(repetitions):
            shift = rep % len(labels)
            for label in labels[shift:] + labels[:shift]:  # rotate who goes first
                engine, prepared = engines[label]
                lat, ids = timed_pass(engine, prepared, k, cycles)
                best[label] = max(best[label], qps(lat))
                lats[label].append(lat)
                found[label] = ids
    finally:
        if gc_was_enabled:
            gc.enable()
    return {label: (best[label], np.concatenate(lats[label]), found[label]) for label in labels}


def timed_batch(engine: Engine, queries: np.ndarray, k: int, repetitions: int) -> float:
    """Best-of-repetitions QPS of one batch call over all queries."""
    best = math.inf
    for _ in range(repetitions):
        t0 = time.perf_counter()
        engine.search_batch(queries, k)
        best = min(best, time.perf_counter() - t0)
    return len(queries) / best if best > 0 else math.inf

"""Helpers shared by the kernel, metric and failure tests (imported as ``helpers``)."""

from __future__ import annotations

import pickle
import textwrap
import threading
import traceback

import numpy as np
import pytest

import vsearch
from conftest import distance_matrix


def available_levels() -> list[str]:
    return list(vsearch.available_simd_levels())


def require_level(level: str) -> None:
    if level not in available_levels():
        pytest.skip(f"SIMD level {level!r} not supported on this CPU (available: {available_levels()})")


# What surrounds a placed vector: huge values of its element type (halves: 0x7bff = 65504).
GARBAGE = {np.dtype(np.float32): 3.0e7, np.dtype(np.uint16): 0x7BFF}


def place_vector(x: np.ndarray, aligned: bool) -> np.ndarray:
    """Copy ``x`` (1-D float32, or uint16 halves) into a buffer at a 64-byte-aligned or a deliberately
    unaligned address.

    Unaligned = a view ``buf[off + 1 : off + 1 + d]`` starting one element after a 64-byte boundary,
    so it is aligned to neither 16, 32 nor 64 bytes.  The buffer around the view is filled with
    huge garbage values: a kernel that reads past either end of the view would be visibly wrong.
    """
    d = x.shape[0]
    buf = np.full(d + 64, GARBAGE[x.dtype], dtype=x.dtype)
    off = (-buf.ctypes.data % 64) // x.dtype.itemsize  # first 64-byte aligned element
    start = off if aligned else off + 1
    view = buf[start:start + d]
    view[:] = x
    addr = view.ctypes.data
    if aligned:
        assert addr % 64 == 0
    else:
        assert addr % 16 != 0 and addr % 32 != 0 and addr % 64 != 0
    return view


def tolerant_recall(found_ids, D: np.ndarray, k: int, rtol=1e-5, atol=1e-6) -> float:
    """Recall@k that treats ties at rank k correctly: a returned id is right if its exact distance
    is <= the exact k-th distance (plus a tiny tolerance). Ids are row numbers of the base; each
    distinct id counts once."""
    kth = np.sort(D, axis=1)[:, k - 1]
    hits = 0
    for i, row in enumerate(np.asarray(found_ids)[:, :k]):
        valid = row[row >= 0]
        ok = D[i, valid] <= kth[i] + rtol * abs(kth[i]) + atol
        hits += len(set(valid[ok].tolist()))
    return hits / (k * len(found_ids))


def assert_same_ranking(ids, ref_ids, D, rtol=1e-5, atol=1e-7):
    """ids == ref_ids position by position, except where two ids are tied (their exact distances
    agree within the tolerance)."""
    for i in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            a, b = int(ids[i, j]), int(ref_ids[i, j])
            if a == b:
                continue
            assert a >= 0, (i, j, ids[i])
            da, db = D[i, a], D[i, b]
            assert abs(da - db) <= rtol * max(abs(da), abs(db)) + atol, (
                f"query {i} rank {j}: index gave id {a} (d={da}), exact is id {b} (d={db})"
            )
        assert len(set(ids[i].tolist())) == ids.shape[1], ids[i]


def assert_same_search(index, loaded, queries, k: int = 10) -> None:
    """Two indexes give identical ids and distances, single- and multi-threaded."""
    for threads in (1, 0):
        a = index.search(queries, k=k, threads=threads)
        b = loaded.search(queries, k=k, threads=threads)
        assert np.array_equal(a.ids, b.ids)
        assert np.array_equal(a.distances, b.distances)


# Source for child processes that cap their address space (RLIMIT_AS) a margin above what they map.
VM_BYTES_SOURCE = textwrap.dedent(
    """
    def vm_bytes():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    """
)


# ----------------------------------------------------------------------------- mutable indexes
# Used by test_mutable*.py: a plain-Python model of what an index holds once ids are removed and
# replaced, exact searches over it, and the checks every search result must pass.

def exact_distances(queries, vectors, metric: str) -> np.ndarray:
    """Exact (float64) distances (Q, N) with vsearch's definitions; besides conftest's l2, ip and cosine
    also snr, var(x - q) / var(q) = |xc - qc|^2 / |qc|^2 for mean-centred xc, qc."""
    if metric != "snr":
        return distance_matrix(queries, vectors, metric)
    qc, xc = (np.atleast_2d(np.asarray(a, np.float64)) for a in (queries, vectors))
    qc, xc = qc - qc.mean(1, keepdims=True), xc - xc.mean(1, keepdims=True)
    return distance_matrix(qc, xc, "l2") / (qc * qc).sum(1)[:, None]


class ReferenceIndex:
    """What an index should hold: live id -> vector (float32, as given), searched exactly."""

    def __init__(self, dim: int, metric: str) -> None:
        self.dim, self.metric = dim, metric
        self.vectors: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.vectors)

    def __contains__(self, id: int) -> bool:
        return int(id) in self.vectors

    def ids(self) -> np.ndarray:
        return np.array(sorted(self.vectors), dtype=np.int64)

    def matrix(self, ids) -> np.ndarray:
        return np.array([self.vectors[int(i)] for i in ids], dtype=np.float32).reshape(-1, self.dim)

    def put(self, vectors, ids) -> None:
        """add and upsert alike: each id now has its row of ``vectors``."""
        rows = np.array(vectors, dtype=np.float32).reshape(-1, self.dim)
        for id, row in zip(np.atleast_1d(ids).tolist(), rows):
            self.vectors[id] = row

    def remove(self, ids) -> int:
        """Removes the live ones of ``ids`` (each once); returns how many."""
        present = {int(i) for i in np.atleast_1d(ids).tolist()} & self.vectors.keys()
        for id in present:
            del self.vectors[id]
        return len(present)

    def distances_of(self, queries, ids) -> np.ndarray:
        """Exact distance of queries[i] to the live vector of ids[i, j]; inf where ids is -1 (missing)."""
        ids = np.atleast_2d(ids)
        out = np.full(ids.shape, np.inf)
        for i, row in enumerate(ids):
            found = row != vsearch.limits.MISSING_ID
            out[i, found] = exact_distances(np.atleast_2d(queries)[i], self.matrix(row[found]), self.metric)[0]
        return out

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k ids and distances, padded with -1 / inf past the live count."""
        queries = np.atleast_2d(queries)
        ids = np.full((len(queries), k), -1, np.int64)
        dist = np.full((len(queries), k), np.inf)
        live = self.ids()
        if len(live):
            d = exact_distances(queries, self.matrix(live), self.metric)
            order = np.argsort(d, axis=1, kind="stable")[:, :k]
            ids[:, :order.shape[1]] = live[order]
            dist[:, :order.shape[1]] = np.take_along_axis(d, order, axis=1)
        return ids, dist


def assert_well_formed(ids, distances, k: int, live: int) -> None:
    """Rows of a search result: k columns; min(k, live) real ids, then -1 / inf padding only; no id twice
    in a row; finite distances, ascending."""
    ids, distances = np.atleast_2d(ids), np.atleast_2d(distances)
    assert ids.shape == distances.shape and ids.shape[1] == k, (ids.shape, distances.shape, k)
    found = ids != vsearch.limits.MISSING_ID
    expected = min(k, live)
    assert (found.sum(1) == expected).all(), f"rows should hold {expected} results: {ids[found.sum(1) != expected][:3]}"
    assert found[:, :expected].all() and (ids[:, expected:] == -1).all(), ids[:3]
    assert np.isfinite(distances[found]).all() and np.isposinf(distances[~found]).all()
    assert (np.diff(distances[:, :expected], axis=1) >= 0).all(), distances[:3]
    for row in ids[:, :expected]:
        assert len(set(row.tolist())) == expected, f"an id twice in one result: {row}"


def assert_search_valid(index, ref: ReferenceIndex, queries, k: int, *, ef=None, exact=False) -> None:
    """index.search(queries) returns only live ids, each with its true distance, well formed; with
    ``exact``, the same distances as brute force over ref (a tie may pick either id)."""
    result = index.search(queries, k=k, ef=ef, threads=1)
    ids, dist = np.atleast_2d(result.ids), np.atleast_2d(result.distances)
    assert_well_formed(ids, dist, k, len(ref))
    found = ids != vsearch.limits.MISSING_ID
    unknown = set(ids[found].tolist()) - ref.vectors.keys()
    assert not unknown, f"search returned ids that are not live: {sorted(unknown)[:10]}"
    true = ref.distances_of(queries, ids)
    np.testing.assert_allclose(dist[found], true[found], rtol=1e-4, atol=1e-4)
    if exact:
        _, best = ref.search(queries, k)
        np.testing.assert_allclose(np.sort(true, axis=1)[found], best[found], rtol=1e-4, atol=1e-4,
                                   err_msg="a search at ef >= the index's size missed a nearer live vector")


def assert_holds(index, ref: ReferenceIndex) -> None:
    """index and ref agree on len, ids() (as a set), `in` and get; the slot counts add up."""
    ids = index.ids()
    assert ids.dtype == np.int64 and len(ids) == len(index) == len(ref)
    assert set(ids.tolist()) == ref.vectors.keys()
    if len(ref):
        live = ref.ids()
        np.testing.assert_array_equal(index.get(live), ref.matrix(live))
        assert all(int(i) in index for i in live[:: max(1, len(live) // 20)])
    stats = index.stats()
    assert stats["slots"] == len(ref) + stats["removed"] + stats["free_slots"] <= stats["capacity"], stats


SLOT_STATS = ("count", "removed", "free_slots", "slots", "max_level", "level_counts", "entry_point_id")


def slot_stats(index) -> dict:
    stats = index.stats()
    return {key: stats[key] for key in SLOT_STATS}


def index_state(index, queries) -> tuple:
    """Everything a failed call must leave as it was: len, ids, slot counts, search results, file bytes."""
    result = index.search(queries, k=10, threads=1)
    return (len(index), index.ids().tobytes(), slot_stats(index), index.consolidate_fraction,
            result.ids.tobytes(), result.distances.tobytes(), bytes(index))


RELOADS = ("file", "bytes", "pickle", "mmap")


def reload(index, how: str, folder):
    """The index after a round trip through a file, bytes, pickle or a memory map (read-only)."""
    if how == "bytes":
        return vsearch.Index.from_bytes(bytes(index))
    if how == "pickle":
        return pickle.loads(pickle.dumps(index))
    path = folder / f"reload_{how}.vsx"
    index.save(path)
    return vsearch.load(path, mmap=how == "mmap")


def run_concurrently(bodies, seconds: float) -> None:
    """Runs each ``body(stop)`` on a thread of its own until ``seconds`` have passed or one of them fails
    (``stop``, a threading.Event, is then set); fails with every thread's traceback, or if one hangs."""
    stop, failures = threading.Event(), []

    def guarded(body):
        try:
            body(stop)
        except BaseException:
            failures.append(traceback.format_exc())
            stop.set()

    threads = [threading.Thread(target=guarded, args=(body,), daemon=True) for body in bodies]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    assert not failures, "\n".join(failures)

"""Helpers shared by the kernel, metric and failure tests (imported as ``helpers``)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import vsearch


def available_levels() -> list[str]:
    return list(vsearch.available_simd_levels())


def require_level(level: str) -> None:
    if level not in available_levels():
        pytest.skip(f"SIMD level {level!r} not supported on this CPU (available: {available_levels()})")


def place_vector(x: np.ndarray, aligned: bool) -> np.ndarray:
    """Copy ``x`` (float32, 1-D) into a buffer at a 64-byte-aligned or a deliberately unaligned address.

    Unaligned = a view ``buf[off + 1 : off + 1 + d]`` starting 4 bytes after a 64-byte boundary,
    so it is aligned to neither 16, 32 nor 64 bytes.  The buffer around the view is filled with
    huge garbage values: a kernel that reads past either end of the view would be visibly wrong.
    """
    d = x.shape[0]
    buf = np.full(d + 64, 3.0e7, dtype=np.float32)
    off = (-buf.ctypes.data % 64) // 4           # first 64-byte aligned element
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

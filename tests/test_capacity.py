"""Capacity and ids: reserve(), geometric growth, memory in use against memory reserved,
ids(), and the reserved id -1 (the "no result" marker)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vsearch
from vsearch import errors, limits

from conftest import random_vectors
from helpers import VM_BYTES_SOURCE

DIM = 16


def test_id_minus_one_is_refused_and_nothing_is_added():
    index = vsearch.Index(DIM)
    index.add(random_vectors(3, DIM, seed=1), ids=[-5, -2, 9])        # other negative ids are fine
    for ids in ([4, -1], np.array([-1]), [limits.MISSING_ID, 7]):
        with pytest.raises(errors.InvalidParameterError, match="id -1 is reserved: search results use it"):
            index.add(random_vectors(len(ids), DIM, seed=2), ids=ids)
    assert len(index) == 3 and 4 not in index and -1 not in index
    assert limits.MISSING_ID == -1


def test_automatic_ids_never_reach_minus_one():
    index = vsearch.Index(DIM)
    index.add(random_vectors(2, DIM, seed=3), ids=[-10, -4])
    assert index.add(random_vectors(5, DIM, seed=4)).tolist() == [0, 1, 2, 3, 4]
    assert index.add(random_vectors(1, DIM, seed=5)).tolist() == [5]
    result = index.search(random_vectors(1, DIM, seed=6), k=20)
    assert (result.ids != -1).sum() == 8 and (result.ids == -1).sum() == 12     # -1 is padding only


def test_ids_lists_the_live_ids_in_the_order_they_were_added(tmp_path):
    index = vsearch.Index(DIM)
    assert index.ids().dtype == np.int64 and index.ids().shape == (0,)
    first = index.add(random_vectors(50, DIM, seed=7), ids=np.arange(50) * -3 - 2)
    second = index.add(random_vectors(20, DIM, seed=8))
    expected = np.concatenate([first, second])
    np.testing.assert_array_equal(index.ids(), expected)
    assert index.ids() is not index.ids()                              # a copy, never the index's memory
    index.ids()[:] = 0
    np.testing.assert_array_equal(index.ids(), expected)
    index.save(tmp_path / "a.vsx")
    np.testing.assert_array_equal(vsearch.load(tmp_path / "a.vsx").ids(), expected)
    np.testing.assert_array_equal(vsearch.load(tmp_path / "a.vsx", mmap=True).ids(), expected)


def test_memory_usage_splits_in_use_from_reserved():
    index = vsearch.Index(DIM)
    index.add(random_vectors(100, DIM, seed=9))
    usage = index.memory_usage()
    assert isinstance(usage, vsearch.MemoryUsage) and usage.reserved == 0      # the first batch gets its size
    assert usage.total == usage.in_use + usage.reserved == int(usage)
    index.add(random_vectors(1, DIM, seed=10))                        # growth doubles a small index
    grown = index.memory_usage()
    assert index.stats()["capacity"] == 200
    row = vsearch._core.row_stride(DIM) * 4
    assert grown.reserved >= 99 * row and grown.in_use < grown.total
    stats = index.stats()
    assert stats["memory_bytes"] == grown.total and stats["reserved_bytes"] == grown.reserved


def test_reserve_allocates_up_front_so_adds_allocate_nothing():
    index = vsearch.Index(DIM)
    index.add(random_vectors(10, DIM, seed=11))
    index.reserve(5000)
    reserved = index.memory_usage()
    assert index.stats()["capacity"] == 5000
    assert reserved.reserved >= 4990 * vsearch._core.row_stride(DIM) * 4
    index.add(random_vectors(4990, DIM, seed=12))
    filled = index.memory_usage()
    assert index.stats()["capacity"] == 5000 and filled.reserved == 0
    index.reserve(100)                                                 # less than it has: nothing changes
    assert index.stats()["capacity"] == 5000
    ids, _ = index.search(random_vectors(3, DIM, seed=13), k=5)
    assert (ids >= 0).all()


@pytest.mark.parametrize("count, error", [(-1, errors.InvalidParameterError), (2**64, errors.InvalidParameterError),
                                          (limits.MAX_ELEMENTS + 1, errors.InvalidParameterError),
                                          (1.5, errors.InvalidParameterError), (True, errors.InvalidParameterError)])
def test_reserve_rejects_impossible_counts(count, error):
    index = vsearch.Index(DIM)
    with pytest.raises(error):
        index.reserve(count)
    assert index.stats()["capacity"] == 0


def test_reserve_on_a_mapped_index_is_refused(tmp_path):
    index = vsearch.Index(DIM)
    index.add(random_vectors(10, DIM, seed=14))
    index.save(tmp_path / "m.vsx")
    mapped = vsearch.load(tmp_path / "m.vsx", mmap=True)
    with pytest.raises(errors.ReadOnlyIndexError, match="index.copy"):
        mapped.reserve(100)
    assert mapped.memory_usage().reserved == 0


RESERVE_OUT_OF_MEMORY = VM_BYTES_SOURCE + textwrap.dedent(
    """
    import resource
    import numpy as np
    import vsearch

    index = vsearch.Index(64, seed=1)
    index.add(np.random.default_rng(0).standard_normal((500, 64)).astype(np.float32), threads=1)
    before = (index.stats()["capacity"], len(index), bytes(index))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + 16 * 2**20, hard))
    try:
        index.reserve(2_000_000)          # about 1 GB: far past the cap
        outcome = "reserved"
    except MemoryError as error:
        outcome = type(error).__name__
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert (index.stats()["capacity"], len(index), bytes(index)) == before, "a failed reserve changed the index"
    index.reserve(1000)
    print(outcome, index.stats()["capacity"])
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS and /proc")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="AddressSanitizer reserves the address space")
def test_a_reserve_that_runs_out_of_memory_changes_nothing():
    child = subprocess.run([sys.executable, "-c", RESERVE_OUT_OF_MEMORY], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.split() == ["OutOfMemoryError", "1000"]

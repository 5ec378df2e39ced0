"""A call that fails, for any reason, changes nothing: len, `in`, search results and the saved bytes
of the index are what they were before it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vsearch
from helpers import VM_BYTES_SOURCE
from vsearch.errors import VSearchError

DIM = 16
rng = np.random.default_rng(0)
DATA = rng.standard_normal((300, DIM)).astype(np.float32)
QUERIES = rng.standard_normal((10, DIM)).astype(np.float32)


def _state(index: vsearch.Index) -> tuple:
    result = index.search(QUERIES, k=10, threads=1)
    return (len(index), tuple(i in index for i in (0, 5, 299, 300, 1000, 10**6)),
            result.ids.tobytes(), result.distances.tobytes(), bytes(index))


def _index(metric: str) -> vsearch.Index:
    index = vsearch.Index(DIM, metric, M=8, ef_construction=40, seed=1)
    index.add(DATA[:250], threads=1)
    index.add(DATA[250:], ids=np.arange(250, 300) * 1000, threads=1)
    return index


NAN = DATA[:5].copy()
NAN[3, 7] = np.nan
FAILING_CALLS = {
    "add wrong dim": lambda ix: ix.add(np.ones((3, DIM + 1), np.float32)),
    "add NaN row": lambda ix: ix.add(NAN),
    "add inf row": lambda ix: ix.add(np.full((2, DIM), np.inf, np.float32)),
    "add huge row": lambda ix: ix.add(np.full((2, DIM), 1e30, np.float32)),
    "add strings": lambda ix: ix.add(np.array([["a"] * DIM])),
    "add repeated ids": lambda ix: ix.add(DATA[:3], ids=[7000, 7001, 7000]),
    "add existing id": lambda ix: ix.add(DATA[:3], ids=[7000, 5, 7002]),
    "add ids of wrong length": lambda ix: ix.add(DATA[:3], ids=[1, 2]),
    "add float ids": lambda ix: ix.add(DATA[:2], ids=[1.5, 2.5]),
    "add negative threads": lambda ix: ix.add(DATA[:2], threads=-1),
    "add ragged": lambda ix: ix.add([[1.0] * DIM, [1.0] * (DIM - 1)]),
    "search k=0": lambda ix: ix.search(QUERIES, k=0),
    "search ef=0": lambda ix: ix.search(QUERIES, k=3, ef=0),
    "search NaN": lambda ix: ix.search(NAN),
    "get unknown": lambda ix: ix.get([0, 123456789]),
    "set ef 0": lambda ix: setattr(ix, "ef", 0),
    "set ef too large": lambda ix: setattr(ix, "ef", vsearch.limits.MAX_EF + 1),
}


@pytest.mark.parametrize("metric", ["l2", "cosine", "snr"])
@pytest.mark.parametrize("name", list(FAILING_CALLS))
def test_a_rejected_call_changes_nothing(metric, name):
    index = _index(metric)
    before = _state(index)
    with pytest.raises((VSearchError, ValueError, TypeError)):
        FAILING_CALLS[name](index)
    assert _state(index) == before


def test_a_failed_save_changes_nothing(tmp_path):
    index = _index("l2")
    before = _state(index)
    with pytest.raises(FileNotFoundError):
        index.save(tmp_path / "no such folder" / "x.vsx")
    assert _state(index) == before
    assert os.listdir(tmp_path) == []


# In a child: adds batches while the address space is capped at a range of sizes above what the
# process holds, so allocation fails at every step of add (vectors, links, id map, search state,
# threads). Each add either succeeds whole or raises MemoryError and leaves the index as it was.
OUT_OF_MEMORY = VM_BYTES_SOURCE + textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import vsearch

    def state(index, queries):
        r = index.search(queries, k=10, threads=1)
        return len(index), 7 in index, 10**6 + 5 in index, r.ids.tobytes(), r.distances.tobytes(), bytes(index)

    rng = np.random.default_rng(0)
    dim = 32
    index = vsearch.Index(dim, "cosine", M=8, ef_construction=64, seed=2)
    index.add(rng.standard_normal((2000, dim)).astype(np.float32), threads=1)
    batch = rng.standard_normal((20000, dim)).astype(np.float32)
    queries = rng.standard_normal((5, dim)).astype(np.float32)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    failed = succeeded = 0
    for margin_kib in range(0, 24 * 1024, 512):
        before = state(index, queries)
        resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + margin_kib * 1024, hard))
        try:
            index.add(batch, ids=np.arange(10**6, 10**6 + batch.shape[0]) + succeeded * batch.shape[0], threads=2)
            outcome = "added"
        except MemoryError:
            outcome = "failed"
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if outcome == "failed":
            failed += 1
            assert state(index, queries) == before, f"a failed add changed the index (margin {margin_kib} KiB)"
        else:
            succeeded += 1
            assert len(index) == before[0] + batch.shape[0]
            index.verify()
            if succeeded == 2:
                break
    print(f"failed={failed} succeeded={succeeded}")
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS and /proc")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="AddressSanitizer reserves the address space")
def test_an_add_that_runs_out_of_memory_changes_nothing():
    child = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    counts = dict(item.split("=") for item in child.stdout.split())
    assert int(counts["failed"]) >= 3, child.stdout  # allocation failed at several points of add
    assert int(counts["succeeded"]) >= 1, child.stdout


def test_a_failed_save_names_the_target(tmp_path):
    index = _index("l2")
    target = tmp_path / "missing" / "x.vsx"
    with pytest.raises(FileNotFoundError) as caught:
        index.save(target)
    assert caught.value.filename == str(target)

"""Index.save is atomic: a process killed (SIGKILL) at any moment of a save leaves the old file intact."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import vsearch

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# Builds (once) a large-ish index file; big by dimension so building is quick and saving is slow.
BUILD = textwrap.dedent(
    """
    import sys, numpy as np, vsearch
    n, dim, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    data = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    index = vsearch.Index(dim, "l2", M=4, ef_construction=16, seed=0)
    index.add(data, threads=0)
    index.save(path)
    """
)

# Loads the good file and saves the same index over it, forever, announcing each save.
SAVE_LOOP = textwrap.dedent(
    """
    import sys, vsearch
    path = sys.argv[1]
    index = vsearch.load(path)
    while True:
        sys.stdout.write("saving\\n"); sys.stdout.flush()
        index.save(path)
        sys.stdout.write("saved\\n"); sys.stdout.flush()
    """
)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_sigkill_during_save_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "big.vsx"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", BUILD, "40000", "384", str(target)], check=True, timeout=120)
    build_s = time.monotonic() - t0
    assert build_s < 40, f"building the test index took {build_s:.0f}s"
    size = target.stat().st_size
    assert size > 50_000_000, size
    good = sha256(target)
    reference = vsearch.load(target)
    queries = np.random.default_rng(1).standard_normal((5, 384)).astype(np.float32)
    expected = reference.search(queries, k=5, threads=1)
    del reference

    rng = np.random.default_rng(99)
    kills = 0
    mid_save = 0
    for attempt in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", SAVE_LOOP, str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            # let it finish 1-3 saves (timing them), then kill it at a random moment of the next one
            # (0 to 1.2 save durations after its "saving" line, so the rename is covered too)
            durations = []
            for _ in range(int(rng.integers(1, 4))):
                assert child.stdout.readline() == b"saving\n", child.stderr.read() if child.poll() is not None else b""
                t = time.monotonic()
                assert child.stdout.readline() == b"saved\n"
                durations.append(time.monotonic() - t)
            assert child.stdout.readline() == b"saving\n"
            time.sleep(float(rng.uniform(0.0, 1.2 * min(durations))))
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            assert child.returncode == -signal.SIGKILL
            kills += 1
            rest = child.stdout.read()
            if not rest.endswith(b"saved\n"):
                mid_save += 1  # killed between "saving" and "saved"
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
            child.stderr.close()

        # the target is whole and unchanged, whatever the moment of the kill
        assert sha256(target) == good, f"attempt {attempt}: target changed"
        loaded = vsearch.load(target)
        got = loaded.search(queries, k=5, threads=1)
        assert np.array_equal(got.ids, expected.ids) and np.array_equal(got.distances, expected.distances)
        del loaded
        mapped = vsearch.load(target, mmap=True, verify=True)
        del mapped
        # leftovers may exist (a killed process cannot clean up), but never under the target's name
        for name in os.listdir(tmp_path):
            if name != target.name:
                assert not name.endswith(".vsx"), f"a partial file {name} looks like an index file"
                assert (tmp_path / name).is_file()
    assert kills == 5
    assert mid_save >= 1, "no kill landed inside a save; the test did not exercise anything"
    leftovers = len(os.listdir(tmp_path)) - 1
    print(f"build {build_s:.1f}s, file {size / 1e6:.0f} MB, save {min(durations):.2f}s, "
          f"{mid_save}/5 kills inside a save, {leftovers} temporary files left by the kills")

"""Index.save is atomic and leaves no litter: a process killed (SIGKILL) at any moment of a save leaves the
old file intact, and any temporary file it left is removed by the next save to the same target."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import vsearch
from vsearch import _atomic_file

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

# Loads the good file, then saves the same index over it at each line on stdin, announcing each
# save; between saves it waits, so the parent can look at the folder while no save is under way.
# "named" saves without anonymous files (the fallback of other OSes and file systems).
SAVE_LOOP = textwrap.dedent(
    """
    import sys, vsearch
    from vsearch import _atomic_file
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "named":
        _atomic_file.ANONYMOUS_FLAG = 0
    index = vsearch.load(path)
    while sys.stdin.readline():
        sys.stdout.write("saving\\n"); sys.stdout.flush()
        index.save(path)
        sys.stdout.write("saved\\n"); sys.stdout.flush()
    """
)

KILLS = 12
N, DIM = 40000, 384


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def anonymous_files_work(folder: Path) -> bool:
    if not _atomic_file.ANONYMOUS_FLAG:
        return False
    try:
        os.close(os.open(folder, _atomic_file.ANONYMOUS_FLAG | os.O_RDWR, 0o600))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The large index file (built once), its build time, sha256 and reference search results."""
    path = tmp_path_factory.mktemp("built") / "big.vsx"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", BUILD, str(N), str(DIM), str(path)], check=True, timeout=120)
    build_s = time.monotonic() - t0
    assert build_s < 40, f"building the test index took {build_s:.0f}s"
    assert path.stat().st_size > 50_000_000, path.stat().st_size
    reference = vsearch.load(path)
    queries = np.random.default_rng(1).standard_normal((5, DIM)).astype(np.float32)
    expected = reference.search(queries, k=5, threads=1)
    return path, build_s, sha256(path), queries, expected


def start_saver(target: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SAVE_LOOP, str(target), mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def request_save(child: subprocess.Popen) -> None:
    child.stdin.write(b"go\n")
    child.stdin.flush()
    line = child.stdout.readline()
    assert line == b"saving\n", child.stderr.read() if child.poll() is not None else line


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()
        child.wait()
    for stream in (child.stdin, child.stdout, child.stderr):
        stream.close()


@pytest.mark.parametrize("mode", ["default", "named"])
def test_sigkill_during_save_leaves_the_old_file_intact_and_no_temporary_file(tmp_path, built, mode):
    """12 SIGKILLs at random moments of a large save, each in a fresh process saving over the target:
    after each kill the target is the old file, whole; whatever a kill left (nothing, with anonymous
    files; a dead writer's temporary file, with named ones) the next process's first save removes;
    at the end the folder holds only the target."""
    source, build_s, good, queries, expected = built
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    size = target.stat().st_size
    # anonymous files are named only once complete, just before the rename
    anonymous = mode == "default" and anonymous_files_work(tmp_path)

    def others() -> list[str]:
        return sorted(name for name in os.listdir(tmp_path) if name != target.name)

    rng = np.random.default_rng(99)
    kills = mid_save = 0
    left_by_kills = 0  # temporary files found right after the kills
    kills_that_left_files = 0
    removed_by_next_save = 0
    pending: list[str] = []  # what the last kill left, for the next save to remove
    for attempt in range(KILLS):
        child = start_saver(target, mode)
        try:
            # let it finish 1-3 saves (timing them), then kill it at a random moment of the next one
            # (0 to 1.2 save durations after its "saving" line, so the rename is covered too)
            durations = []
            for _ in range(int(rng.integers(1, 4))):
                request_save(child)
                t = time.monotonic()
                assert child.stdout.readline() == b"saved\n"
                durations.append(time.monotonic() - t)
                # the child now waits for its next request: no save is under way
                assert others() == [], f"attempt {attempt}: a save left {others()} (the kill before left {pending})"
                removed_by_next_save += len(pending)
                pending = []
            request_save(child)
            time.sleep(float(rng.uniform(0.0, 1.2 * min(durations))))
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            assert child.returncode == -signal.SIGKILL
            kills += 1
            rest = child.stdout.read()
            if not rest.endswith(b"saved\n"):
                mid_save += 1  # killed between "saving" and "saved"
        finally:
            stop(child)

        # the target is whole and unchanged, whatever the moment of the kill
        assert sha256(target) == good, f"attempt {attempt}: target changed"
        loaded = vsearch.load(target)
        got = loaded.search(queries, k=5, threads=1)
        assert np.array_equal(got.ids, expected.ids) and np.array_equal(got.distances, expected.distances)
        del loaded
        mapped = vsearch.load(target, mmap=True, verify=True)
        del mapped
        # a killed process cannot clean up: what it left is at most its temporary file, never under
        # the target's name nor looking like an index file
        pending = others()
        for name in pending:
            assert _atomic_file.is_temporary_of(name, target.name), f"attempt {attempt}: {name} left"
            assert not name.endswith(".vsx") and (tmp_path / name).is_file()
            if anonymous:
                # only possible if killed between the link and the rename (microseconds): then complete
                assert sha256(tmp_path / name) == good, f"attempt {attempt}: {name} was named before it was complete"
        assert len(pending) <= 1, f"attempt {attempt}: one process left {pending}"
        left_by_kills += len(pending)
        kills_that_left_files += bool(pending)

    # one last process, not killed: its save removes what the last kill left
    child = start_saver(target, mode)
    try:
        request_save(child)
        assert child.stdout.readline() == b"saved\n"
        child.stdin.close()
        assert child.wait(timeout=30) == 0, child.stderr.read()
    finally:
        stop(child)
    removed_by_next_save += len(pending)
    assert os.listdir(tmp_path) == [target.name], "the folder holds more than the target"
    assert sha256(target) == good

    assert kills == KILLS
    assert mid_save >= 1, "no kill landed inside a save; the test did not exercise anything"
    assert removed_by_next_save == left_by_kills
    if anonymous:
        # a kill leaves a file only inside the microseconds between the link and the rename
        assert kills_that_left_files <= 1, f"{kills_that_left_files} kills left a file: named too early"
    if mode == "named":
        assert left_by_kills >= 1, "no kill left a named temporary file; the clean-up was not exercised"
    print(f"\n{mode} ({'anonymous O_TMPFILE files' if anonymous else 'named temporary files'}): "
          f"build {build_s:.1f}s, file {size / 1e6:.0f} MB, save {min(durations):.2f}s, "
          f"{kills} kills, {mid_save} inside a save, {left_by_kills} temporary files right after the kills "
          f"({kills_that_left_files} kills left one), {removed_by_next_save} removed by the next save, "
          f"0 left at the end")

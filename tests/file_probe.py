"""Uses index files every way a user can, in child processes, and reports what happened to each.

A hostile file must raise IndexFormatError at load, or load and then serve searches, adds (plain
loads), `get`, `stats`, saving and `verify()` that work or raise a vsearch.errors error. Each file
runs in a child process, so a crash is reported (with the file) instead of killing the test run;
one child takes many files in turn, and a new one starts after a crash.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

# The child: reads one path per line on stdin, prints "BEGIN i" before each and one JSON line
# after it: {"i": i, "plain": outcome, "mmap": outcome} with outcome "rejected", "served" or
# "unexpected: ...". A child that dies leaves a BEGIN without its result.
CHILD = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import numpy as np
    import vsearch
    from vsearch.errors import IndexFormatError, VSearchError

    scratch = tempfile.mkdtemp()
    rng = np.random.default_rng(0)

    def serve(index, mmap):
        dim = index.dim
        queries = rng.standard_normal((3, dim)).astype(np.float32)
        steps = [
            lambda: index.search(queries[0], k=5),
            lambda: index.search(queries, k=7, threads=2),
            lambda: index.search(queries, k=len(index) + 3, ef=1),
            lambda: index.stats(),
            lambda: index.memory_usage(),
            lambda: 0 in index,
            lambda: index.get(list(index.search(queries[0], k=2).ids[:1]) if len(index) else []),
            lambda: index.verify(),
            lambda: index.save(os.path.join(scratch, "again.vsx")),
            lambda: vsearch.load(os.path.join(scratch, "again.vsx")).search(queries, k=3),
            lambda: index.copy().search(queries, k=3),
        ]
        if not mmap:
            steps += [
                lambda: index.add(rng.standard_normal((4, dim)).astype(np.float32) + 0.5),
                lambda: index.search(queries, k=5, threads=2),
                lambda: index.verify(),
            ]
        for step in steps:
            try:
                step()
            except VSearchError:
                pass  # a clear error is fine; a crash or another exception is not

    for i, line in enumerate(sys.stdin):
        path = line.rstrip("\\n")
        print(f"BEGIN {i}", flush=True)
        result = {"i": i}
        for mode in ("plain", "mmap"):
            try:
                index = vsearch.load(path, mmap=(mode == "mmap"))
            except IndexFormatError as error:
                result[mode] = "rejected"
                result[mode + "_section"] = error.section
                continue
            except Exception as error:
                result[mode] = f"unexpected at load: {type(error).__name__}: {error}"
                continue
            try:
                serve(index, mode == "mmap")
                result[mode] = "served"
            except Exception as error:
                result[mode] = f"unexpected: {type(error).__name__}: {error}"
            del index
        print(json.dumps(result), flush=True)
    """
)


@dataclass
class Outcome:
    path: Path
    plain: str  # "rejected", "served", "unexpected: ..." or "died by SIGNAME"
    mmap: str
    rejected_by: str | None = None  # the section a plain load named, if it rejected the file

    @property
    def problem(self) -> str | None:
        for mode, outcome in (("plain", self.plain), ("mmap", self.mmap)):
            if outcome not in ("rejected", "served"):
                return f"{self.path.name} ({mode}): {outcome}"
        return None


# Address space of a child: a file that makes vsearch allocate more fails with MemoryError, which
# counts as a problem. Not set under AddressSanitizer, which reserves terabytes of address space.
CHILD_ADDRESS_SPACE = 4 << 30


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))


def probe(paths: list[Path], *, timeout: float = 600.0) -> list[Outcome]:
    """Runs every file through CHILD; a file whose child died is reported as such, the rest go on."""
    sanitized = "asan" in os.environ.get("LD_PRELOAD", "")
    limit = None if sanitized or not hasattr(os, "fork") else _limit_memory
    outcomes: list[Outcome] = []
    remaining = list(paths)
    while remaining:
        child = subprocess.run(
            [sys.executable, "-c", CHILD],
            input="".join(f"{p}\n" for p in remaining),
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,
        )
        done = 0
        for line in child.stdout.splitlines():
            if line.startswith("{"):
                result = json.loads(line)
                outcomes.append(
                    Outcome(remaining[result["i"]], result["plain"], result["mmap"], result.get("plain_section"))
                )
                done = result["i"] + 1
        if child.returncode == 0 and done == len(remaining):
            break
        if done == len(remaining):  # all reported, then died at exit
            raise AssertionError(f"the probe exited with {child.returncode}: {child.stderr[-2000:]}")
        died = _death(child.returncode)
        outcomes.append(Outcome(remaining[done], died, died))
        if child.returncode < 0 or "AddressSanitizer" in child.stderr or "runtime error" in child.stderr:
            print(f"{remaining[done].name}: {died}\n{child.stderr[-4000:]}", file=sys.stderr)
        remaining = remaining[done + 1 :]
    return outcomes


def _death(returncode: int) -> str:
    if returncode < 0:
        return f"died by {signal.Signals(-returncode).name}"
    return f"died with exit code {returncode}"


"""Measurements that need a fresh process: the peak memory of a build, and the cost
of loading a saved index. Not a benchmark of its own: the harness's sweeps and
its persistence suite run it as their child process.

A process's resident memory never shrinks back cleanly (allocators keep freed
memory) and a loaded library stays loaded, so measuring in one long process
would let one engine disturb the next. The harness runs each measurement in a
fresh interpreter (``python -m bench.probes``), which imports the engine first,
records its resident memory, does the one thing measured, and prints one JSON line:

``build``: ``peak_bytes`` (high-water resident memory during the build minus the
resident memory before it: the build's peak cost, transient buffers included, after
resetting the kernel's mark via ``/proc/self/clear_refs``), ``resident_bytes``
(resident growth after the build: what the index keeps), ``index_bytes`` (what the
engine reports; null if it cannot).

``load``: ``seconds`` (the load), ``resident_bytes`` (resident growth from before the
load to after it, before any query) and ``first_query_seconds`` (one search right
after loading: what a memory-mapped index pays on first touch).

Linux only (it reads /proc); elsewhere the figures are null.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .datasets import Dataset
from .distances import spec
from .engines import ENGINES, BuildParams, Engine

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
RESET_PEAK = "5"  # clear_refs value that resets VmHWM to the current resident size (Linux >= 4.0)
CHILD_TIMEOUT_S = 600
REPO_ROOT = Path(__file__).resolve().parents[1]
# Neighbours asked for, and the beam width used, by the first query after a load.
FIRST_QUERY_K = 10
FIRST_QUERY_EF = 64


def status_bytes(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in bytes; None if unavailable."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _difference(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


def _engine(name: str, threads: int) -> Engine:
    """The engine, its library imported before any baseline is taken."""
    cls = ENGINES[name]
    reason = cls.unavailable()
    if reason:
        raise SystemExit(f"{name}: {reason}")
    return cls(threads)


def measure_build(engine: str, metric: str, base_file: Path, params: BuildParams, threads: int) -> dict[str, Any]:
    """Builds once in this process and returns its memory figures."""
    e = _engine(engine, threads)
    base = np.ascontiguousarray(np.load(base_file), np.float32)
    before = status_bytes("VmRSS")
    with contextlib.suppress(OSError):
        CLEAR_REFS.write_text(RESET_PEAK)  # without it the mark also covers loading the base
    e.build(base, spec(metric), params)
    return {"peak_bytes": _difference(status_bytes("VmHWM"), before),
            "resident_bytes": _difference(status_bytes("VmRSS"), before), "index_bytes": e.index_bytes()}


def measure_load(engine: str, metric: str, index_file: Path, dim: int, mmap: bool, seed: int) -> dict[str, Any]:
    """Loads a saved index once in this process, then runs one query."""
    e = _engine(engine, threads=1)
    query = np.random.default_rng(seed).standard_normal((1, dim)).astype(np.float32)
    before = status_bytes("VmRSS")
    t0 = time.perf_counter()
    e.load(index_file, dim, spec(metric), mmap=mmap)
    seconds = time.perf_counter() - t0
    resident = _difference(status_bytes("VmRSS"), before)
    e.set_ef(FIRST_QUERY_EF)
    prepared = e.prepare(query)
    t0 = time.perf_counter()
    e.search_one(prepared[0], FIRST_QUERY_K)
    return {"seconds": seconds, "resident_bytes": resident, "first_query_seconds": time.perf_counter() - t0}


def run_child(*args: str) -> dict[str, Any]:
    """Runs ``python -m bench.probes ARGS`` in a fresh interpreter and returns its JSON;
    raises RuntimeError with the last line of its stderr on failure."""
    # The child imports the same bench and vsearch as this process (cwd would come first on
    # sys.path with -m, so it runs from a neutral folder with both on PYTHONPATH).
    paths = [str(REPO_ROOT)]
    loaded = sys.modules.get("vsearch")
    if loaded is not None and getattr(loaded, "__file__", None):
        paths.insert(0, str(Path(loaded.__file__).resolve().parents[1]))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-probe-") as cwd:
        out = subprocess.run([sys.executable, "-m", "bench.probes", *args], capture_output=True, text=True, cwd=cwd,
                             env=env, timeout=CHILD_TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def build_in_child(engine: str, metric: str, base_file: Path, params: BuildParams, threads: int) -> dict[str, Any]:
    """:func:`measure_build` in a fresh interpreter."""
    return run_child("build", engine, metric, str(base_file), "--M", str(params.M), "--ef-construction",
                     str(params.ef_construction), "--seed", str(params.seed), "--threads", str(threads))


def load_in_child(engine: str, metric: str, index_file: Path, dim: int, mmap: bool, seed: int) -> dict[str, Any]:
    """:func:`measure_load` in a fresh interpreter."""
    return run_child("load", engine, metric, str(index_file), "--dim", str(dim), "--seed", str(seed),
                     *(["--mmap"] if mmap else []))


@contextlib.contextmanager
def base_file(ds: Dataset) -> Iterator[Path]:
    """A ``.npy`` file holding the dataset's base vectors, for the children to read: the
    dataset's own file where it has one, else a temporary copy removed afterwards."""
    if ds.base_file is not None and ds.base_file.exists():
        yield ds.base_file
        return
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-") as folder:
        path = Path(folder) / "base.npy"
        np.save(path, ds.base)
        yield path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.probes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="probe", required=True)
    build = sub.add_parser("build", help="peak and resident memory of one build")
    build.add_argument("engine", choices=tuple(ENGINES))
    build.add_argument("metric", help="l2, ip, cosine or snr")
    build.add_argument("base_file", type=Path, help=".npy file of the base vectors")
    build.add_argument("--M", type=int, required=True, help="graph degree")
    build.add_argument("--ef-construction", type=int, required=True, help="build beam width")
    build.add_argument("--seed", type=int, default=0, help="build seed (default: %(default)s)")
    build.add_argument("--threads", type=int, default=1, help="build threads (default: %(default)s)")
    load = sub.add_parser("load", help="time and resident memory of loading a saved index, and a first query")
    load.add_argument("engine", choices=tuple(ENGINES))
    load.add_argument("metric", help="the metric the index was built with")
    load.add_argument("index_file", type=Path, help="the saved index")
    load.add_argument("--dim", type=int, required=True, help="vector dimension")
    load.add_argument("--mmap", action="store_true", help="open the index memory-mapped")
    load.add_argument("--seed", type=int, default=0, help="seed of the first query (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    if a.probe == "build":
        figures = measure_build(a.engine, a.metric, a.base_file, BuildParams(a.M, a.ef_construction, a.seed), a.threads)
    else:
        figures = measure_load(a.engine, a.metric, a.index_file, a.dim, a.mmap, a.seed)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

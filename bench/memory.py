"""Peak memory of one index build, measured in a fresh child process.

A process's resident memory never shrinks back cleanly (allocators keep freed
memory), so builds in one long process would disturb each other. Instead the
runner starts ``python -m bench.memory`` once per (dataset, engine): the child
imports the engine, loads the base vectors, then records its resident memory,
resets the kernel's high-water mark (``/proc/self/clear_refs``), builds, and
prints one JSON line:

* ``peak_bytes``: high-water resident memory during the build minus the
  resident memory before it (the build's peak cost, transient buffers included);
* ``resident_bytes``: resident growth after the build (what the index keeps);
* ``index_bytes``: what the engine itself reports (None if it cannot).

Linux only (it reads /proc); elsewhere the runner reports memory as unknown.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .distances import spec
from .engines import ENGINES, BuildParams

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
RESET_PEAK = "5"  # clear_refs value that resets VmHWM to the current resident size (Linux >= 4.0)
CHILD_TIMEOUT_S = 600
REPO_ROOT = Path(__file__).resolve().parents[1]


def status_bytes(field: str) -> int:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in bytes; -1 if unavailable."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def measure(engine: str, metric: str, base_file: Path, params: BuildParams, threads: int) -> dict[str, Any]:
    """Builds once in this process and returns its memory figures."""
    cls = ENGINES[engine]
    reason = cls.unavailable()  # imports the library before the baseline
    if reason:
        raise SystemExit(reason)
    base = np.ascontiguousarray(np.load(base_file), np.float32)
    e = cls(threads)
    before = status_bytes("VmRSS")
    try:
        CLEAR_REFS.write_text(RESET_PEAK)
    except OSError:
        pass  # the high-water mark then also covers loading, which comes before the build
    e.build(base, spec(metric), params)
    peak, after = status_bytes("VmHWM"), status_bytes("VmRSS")
    known = before >= 0
    return {"peak_bytes": peak - before if known and peak >= 0 else None,
            "resident_bytes": after - before if known and after >= 0 else None,
            "index_bytes": e.index_bytes()}


def run_child(engine: str, metric: str, base_file: Path, params: BuildParams, threads: int) -> dict[str, Any]:
    """Runs :func:`measure` in a fresh interpreter; raises RuntimeError with its stderr on failure."""
    cmd = [sys.executable, "-m", "bench.memory", engine, metric, str(base_file), str(params.M),
           str(params.ef_construction), str(params.seed), str(threads)]
    # The child imports the same bench and vsearch as this process (cwd would come first on
    # sys.path with -m, so it runs from a neutral folder with both on PYTHONPATH).
    paths = [str(REPO_ROOT)]
    loaded = sys.modules.get("vsearch")
    if loaded is not None and getattr(loaded, "__file__", None):
        paths.insert(0, str(Path(loaded.__file__).resolve().parents[1]))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-mem-") as cwd:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=CHILD_TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("engine", choices=tuple(ENGINES))
    parser.add_argument("metric")
    parser.add_argument("base_file", type=Path, help=".npy file of the base vectors")
    parser.add_argument("M", type=int)
    parser.add_argument("ef_construction", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("threads", type=int)
    a = parser.parse_args()
    print(json.dumps(measure(a.engine, a.metric, a.base_file, BuildParams(a.M, a.ef_construction, a.seed), a.threads)))


if __name__ == "__main__":
    main()

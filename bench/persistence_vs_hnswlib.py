"""Save and load cost of vsearch vs hnswlib, side by side in one run.

    python -m bench.persistence_vs_hnswlib              # 200,000 x 128
    python -m bench.persistence_vs_hnswlib --n 50000    # quicker

Both indexes are built once (M=16, ef_construction=200, all cores) on the
same clustered data and saved to one folder. Each load is then timed in a
fresh child process (so nothing is cached in the interpreter), engines
interleaved, median of the repetitions; "resident growth" is the growth of
the child's resident memory from before the load to after it, before any
query. The files were just written, so both engines read from the page cache.

Targets (issue 3): vsearch load(mmap=True) in under 5% of hnswlib's load time,
with resident growth under 10% of the file size; plain vsearch load no slower
than hnswlib's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from .speed_vs_hnswlib import EF_CONSTRUCTION, M, clustered

REPEATS = 5

CHILD = r"""
import json, sys, time
kind, path, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy as np, vsearch, hnswlib
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
query = np.zeros(dim, np.float32)
before = rss()
start = time.perf_counter()
if kind == "hnswlib":
    index = hnswlib.Index(space="l2", dim=dim)
    index.load_index(path)
else:
    index = vsearch.load(path, mmap=(kind == "vsearch-mmap"))
seconds = time.perf_counter() - start
growth = rss() - before
start = time.perf_counter()
if kind == "hnswlib":
    index.knn_query(query, k=10)
else:
    index.search(query, 10)
first_query = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_growth": growth, "first_query_seconds": first_query}))
"""


def child(kind: str, path: Path, dim: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), str(dim)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="vectors (128-d clustered)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    import hnswlib
    import vsearch

    base, _ = clustered(args.n, 128, 1)
    folder = Path(tempfile.mkdtemp(prefix="vsearch-bench-"))
    paths = {"vsearch": folder / "index.vsx", "hnswlib": folder / "index.hnsw"}
    print(f"{args.n:,} x 128, M={M}, ef_construction={EF_CONSTRUCTION}; files in {folder}", flush=True)

    start = time.perf_counter()
    ours = vsearch.Index(128, "l2", M=M, ef_construction=EF_CONSTRUCTION)
    ours.add(base, progress=False)
    print(f"  built vsearch in {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    theirs = hnswlib.Index(space="l2", dim=128)
    theirs.init_index(max_elements=args.n, ef_construction=EF_CONSTRUCTION, M=M)
    theirs.add_items(base, num_threads=os.cpu_count())
    print(f"  built hnswlib in {time.perf_counter() - start:.1f} s", flush=True)

    save = {"vsearch": [], "hnswlib": []}
    for _ in range(3):
        start = time.perf_counter()
        ours.save(paths["vsearch"])
        save["vsearch"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs.save_index(str(paths["hnswlib"]))
        save["hnswlib"].append(time.perf_counter() - start)
    del ours, theirs
    sizes = {name: p.stat().st_size for name, p in paths.items()}

    kinds = {"hnswlib": paths["hnswlib"], "vsearch": paths["vsearch"], "vsearch-mmap": paths["vsearch"]}
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(REPEATS):
        for kind, path in kinds.items():  # interleaved
            runs[kind].append(child(kind, path, 128))

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    print(f"\n  {'':14s} {'file MB':>8s} {'save s':>8s} {'load s':>9s} {'resident growth MB':>19s} {'first query ms':>15s}")
    for kind in kinds:
        engine = "hnswlib" if kind == "hnswlib" else "vsearch"
        save_s = statistics.median(save[engine]) if kind != "vsearch-mmap" else float("nan")
        print(f"  {kind:14s} {sizes[engine] / 1e6:8.1f} {save_s:8.3f} {median(kind, 'seconds'):9.4f}"
              f" {median(kind, 'rss_growth') / 1e6:19.1f} {median(kind, 'first_query_seconds') * 1e3:15.2f}")
    h, v, m = (median(k, "seconds") for k in kinds)
    mmap_growth = median("vsearch-mmap", "rss_growth") / sizes["vsearch"]
    print(f"\n  mmap load / hnswlib load: {m / h:.4f} (target < 0.05)")
    print(f"  mmap resident growth / file size: {mmap_growth:.4f} (target < 0.10)")
    print(f"  plain load / hnswlib load: {v / h:.2f} (target <= 1.00)")
    print(f"  save / hnswlib save: {statistics.median(save['vsearch']) / statistics.median(save['hnswlib']):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "save": save, "runs": runs}, indent=2))
    for p in paths.values():
        p.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()

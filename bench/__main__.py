"""`python -m bench`: build an index on real data and report recall and speed.

For now this is a quick build-and-query demo (the full task-centric harness
will replace it): it indexes siftsmall from ../shared/data when present, and
a synthetic clustered set otherwise, then prints recall@10 against exact
search and single-query QPS at a few ef values, next to hnswlib if installed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import vsearch

from .speed_vs_hnswlib import SHARED_DATA, clustered, exact_l2, recall

K = 10
EF_VALUES = (16, 32, 64, 128)


def load_default() -> tuple[str, np.ndarray, np.ndarray]:
    folder = SHARED_DATA / "siftsmall"
    if folder.is_dir():
        return "siftsmall", np.load(folder / "base.npy"), np.load(folder / "queries.npy")
    print(f"note: {folder} not found (it ships only with the vsearch developers' checkout); "
          "using a synthetic clustered set instead")
    base, queries = clustered(20_000, 128, 200)
    return "synthetic clustered 20,000 x 128", base, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help=".npz file with 'base' and 'queries' arrays (l2 metric)")
    args = parser.parse_args()
    if args.data:
        with np.load(args.data) as f:
            name, base, queries = args.data.name, f["base"].astype(np.float32), f["queries"].astype(np.float32)
    else:
        name, base, queries = load_default()
    print(f"vsearch {vsearch.__version__} ({vsearch.simd_level()} kernels) on {name}: "
          f"{len(base):,} x {base.shape[1]}, {len(queries)} queries, k={K}, one thread")
    kth = exact_l2(base, queries, K)[:, K - 1]
    index = vsearch.Index(base.shape[1], "l2", M=16, ef_construction=200)
    start = time.perf_counter()
    index.add(base, threads=1)
    print(f"build: {time.perf_counter() - start:.2f} s, {index.memory_usage() / len(base):.0f} bytes/vector")
    print(f"{'ef':>5s} {'recall@10':>10s} {'QPS':>10s}")
    for ef in EF_VALUES:
        start = time.perf_counter()
        found = np.stack([index.search(q, K, ef=ef, threads=1).ids for q in queries])
        qps = len(queries) / (time.perf_counter() - start)
        print(f"{ef:5d} {recall(found, base, queries, kth):10.4f} {qps:10,.0f}")


if __name__ == "__main__":
    main()

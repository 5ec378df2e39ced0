"""Search speed of each metric on the same data: is SNR served at L2 speed?

    python -m bench.metric_speed             # 100,000 x 128 clustered
    python -m bench.metric_speed --n 20000

Every metric gets its own index (M=16, ef_construction=200) over the same
vectors; single-thread, one query per call, metrics interleaved, best of
several repetitions, at a fixed ef. SNR is served as squared L2 over centred
vectors, so its QPS should be within 10% of l2's (issue 4's target).
"""

from __future__ import annotations

import argparse
import time


import vsearch

from .speed_vs_hnswlib import EF_CONSTRUCTION, M, clustered

K = 10
EFS = (32, 64, 128)
REPEATS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--metrics", nargs="+", default=["l2", "snr", "ip", "cosine"])
    args = parser.parse_args()
    base, queries = clustered(args.n, 128, 1000)
    indexes = {}
    for metric in args.metrics:
        start = time.perf_counter()
        indexes[metric] = vsearch.Index(128, metric, M=M, ef_construction=EF_CONSTRUCTION)
        indexes[metric].add(base, progress=False)
        print(f"built {metric:7s} in {time.perf_counter() - start:6.1f} s", flush=True)
    print(f"\n{'ef':>4s} " + " ".join(f"{m + ' QPS':>12s}" for m in args.metrics) + "   snr/l2")
    for ef in EFS:
        best = {m: float("inf") for m in args.metrics}
        for _ in range(REPEATS):
            for metric, index in indexes.items():  # interleaved
                start = time.perf_counter()
                for q in queries:
                    index.search(q, K, ef=ef, threads=1)
                best[metric] = min(best[metric], time.perf_counter() - start)
        qps = {m: len(queries) / t for m, t in best.items()}
        ratio = f"   {qps['snr'] / qps['l2']:.3f}" if "snr" in qps and "l2" in qps else ""
        print(f"{ef:4d} " + " ".join(f"{qps[m]:12,.0f}" for m in args.metrics) + ratio, flush=True)


if __name__ == "__main__":
    main()

"""vsearch vs hnswlib, side by side in one process: search speed at equal
recall, build time and memory per vector.

    python -m bench.speed_vs_hnswlib            # 100,000 x 128 clustered + siftsmall
    python -m bench.speed_vs_hnswlib --n 20000  # quicker

Both engines use M=16, ef_construction=200 and one thread. Queries are sent
one per call (the latency a single user sees), repeated and interleaved
between engines, best repetition kept. QPS at a target recall is interpolated
on the measured (recall, log QPS) curve of an ef sweep. Memory is the growth
of resident memory while building, measured in a fresh child process per
engine so the two cannot disturb each other.

Targets (issue 2): QPS at recall@10 = 0.95 >= hnswlib's; build time <= 1.2x
hnswlib's; memory per vector <= hnswlib's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

M = 16
EF_CONSTRUCTION = 200
K = 10
EF_SWEEP = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256)
TARGET_RECALL = 0.95
MIN_QUERIES_TIMED = 2000  # small query sets are repeated up to this many calls per measurement
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def clustered(n: int, dim: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters: a common shape for embeddings, harder than uniform noise."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(max(n // 1000, 10), dim)).astype(np.float32) * 4
    def draw(count: int) -> np.ndarray:
        labels = rng.integers(0, len(centers), count)
        return (centers[labels] + rng.normal(size=(count, dim)).astype(np.float32)).astype(np.float32)
    return draw(n), draw(queries)


def exact_l2(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact squared-L2 distances of the k nearest (ascending), in chunks."""
    norms = (base.astype(np.float64) ** 2).sum(1)
    out = []
    for start in range(0, len(queries), 256):
        q = queries[start:start + 256].astype(np.float64)
        d = norms[None, :] - 2 * q @ base.T.astype(np.float64) + (q**2).sum(1)[:, None]
        part = np.partition(d, k - 1, axis=1)[:, :k]
        out.append(np.sort(part, axis=1))
    return np.maximum(np.vstack(out), 0)


def recall(found: np.ndarray, base: np.ndarray, queries: np.ndarray, kth: np.ndarray) -> float:
    """Distance-tolerant recall@k: a hit is any id no farther than the true k-th."""
    hits = 0
    for i, ids in enumerate(found):
        ids = ids[ids >= 0]
        d = ((base[ids].astype(np.float64) - queries[i]) ** 2).sum(1)
        hits += int((d <= kth[i] * (1 + 1e-5) + 1e-6).sum())
    return hits / found.size


class VsearchEngine:
    name = "vsearch"

    def build(self, data: np.ndarray) -> None:
        import vsearch
        self.index = vsearch.Index(data.shape[1], "l2", M=M, ef_construction=EF_CONSTRUCTION)
        self.index.add(data, threads=1, progress=False)

    def query_one(self, q: np.ndarray, ef: int) -> np.ndarray:
        return self.index.search(q, K, ef=ef, threads=1).ids

    def memory(self) -> int:
        return self.index.memory_usage()


class HnswlibEngine:
    name = "hnswlib"

    def build(self, data: np.ndarray) -> None:
        import hnswlib
        self.index = hnswlib.Index(space="l2", dim=data.shape[1])
        self.index.init_index(max_elements=len(data), ef_construction=EF_CONSTRUCTION, M=M, random_seed=0)
        self.index.set_num_threads(1)
        self.index.add_items(data, np.arange(len(data)), num_threads=1)
        self.ef = None

    def query_one(self, q: np.ndarray, ef: int) -> np.ndarray:
        if ef != self.ef:
            self.index.set_ef(ef)
            self.ef = ef
        return self.index.knn_query(q, k=K, num_threads=1)[0][0]

    def memory(self) -> int:
        return -1  # hnswlib reports no size; resident memory is measured instead


ENGINES = {"vsearch": VsearchEngine, "hnswlib": HnswlibEngine}


def resident_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return -1


def memory_child(engine: str, dataset: str, n: int) -> None:
    """Runs in a fresh process: prints the resident growth of one build."""
    base, _ = load(dataset, n)
    import hnswlib  # noqa: F401  (imported first: module memory is not the index's)
    import vsearch  # noqa: F401
    before = resident_bytes()
    e = ENGINES[engine]()
    e.build(base)
    print(json.dumps({"rss_growth": resident_bytes() - before, "reported": e.memory()}))


def load(dataset: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if dataset == "siftsmall":
        folder = SHARED_DATA / "siftsmall"
        return np.load(folder / "base.npy"), np.load(folder / "queries.npy")
    return clustered(n, 128, 1000)


def qps_at(points: list[tuple[float, float]], target: float) -> float:
    """Interpolates log(QPS) at `target` recall on a curve of (recall, qps)."""
    points = sorted(points)
    for (r0, q0), (r1, q1) in zip(points, points[1:]):
        if r0 <= target <= r1:
            t = 0.0 if r1 == r0 else (target - r0) / (r1 - r0)
            return float(np.exp(np.log(q0) + t * (np.log(q1) - np.log(q0))))
    if points and points[0][0] >= target:
        return max(q for r, q in points if r >= target)
    return float("nan")


def run_dataset(dataset: str, n: int) -> dict:
    base, queries = load(dataset, n)
    print(f"\n== {dataset}: {len(base):,} x {base.shape[1]}, {len(queries)} queries", flush=True)
    kth = exact_l2(base, queries, K)[:, K - 1]
    engines = [ENGINES[name]() for name in ("hnswlib", "vsearch")]
    build = {}
    for e in engines:
        start = time.perf_counter()
        e.build(base)
        build[e.name] = time.perf_counter() - start
        print(f"  build {e.name:8s} {build[e.name]:7.2f} s", flush=True)

    curves: dict[str, list[tuple[float, float]]] = {e.name: [] for e in engines}
    print(f"  {'ef':>4s} " + " ".join(f"{e.name + ' recall':>15s} {e.name + ' QPS':>12s}" for e in engines))
    for ef in EF_SWEEP:
        best = {e.name: float("inf") for e in engines}
        found = {}
        for _ in range(max(3, MIN_QUERIES_TIMED // len(queries))):
            for e in engines:  # interleaved, so drift in machine load hits both
                start = time.perf_counter()
                found[e.name] = np.stack([e.query_one(q, ef) for q in queries])
                best[e.name] = min(best[e.name], time.perf_counter() - start)
        row = []
        for e in engines:
            r = recall(found[e.name], base, queries, kth)
            q = len(queries) / best[e.name]
            curves[e.name].append((r, q))
            row.append(f"{r:15.4f} {q:12,.0f}")
        print(f"  {ef:4d} " + " ".join(row), flush=True)

    memory = {}
    for e in engines:
        out = subprocess.run(
            [sys.executable, "-m", "bench.speed_vs_hnswlib", "--memory-child", e.name, "--dataset", dataset,
             "--n", str(n)], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        memory[e.name] = json.loads(out.stdout.strip().splitlines()[-1])
    result = {
        "dataset": dataset,
        "n": len(base),
        "build_s": build,
        "qps_at_target": {name: qps_at(c, TARGET_RECALL) for name, c in curves.items()},
        "bytes_per_vector": {name: m["rss_growth"] / len(base) for name, m in memory.items()},
        "reported_bytes_per_vector": memory["vsearch"]["reported"] / len(base),
        "curves": curves,
    }
    qps, bpv = result["qps_at_target"], result["bytes_per_vector"]
    print(f"  QPS at recall {TARGET_RECALL}: vsearch {qps['vsearch']:,.0f}, hnswlib {qps['hnswlib']:,.0f}"
          f" -> ratio {qps['vsearch'] / qps['hnswlib']:.2f} (target >= 1.00)")
    print(f"  build time ratio vsearch/hnswlib {build['vsearch'] / build['hnswlib']:.2f} (target <= 1.20)")
    print(f"  resident bytes per vector: vsearch {bpv['vsearch']:.0f}, hnswlib {bpv['hnswlib']:.0f}"
          f" -> ratio {bpv['vsearch'] / bpv['hnswlib']:.2f} (target <= 1.00);"
          f" vsearch memory_usage() {result['reported_bytes_per_vector']:.0f} B/vector")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="size of the clustered synthetic set")
    parser.add_argument("--dataset", action="append", choices=("clustered", "siftsmall"),
                        help="datasets to run (default: both; siftsmall is skipped when ../shared is absent)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--memory-child", choices=tuple(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.dataset[0], args.n)
        return
    import vsearch
    print(f"vsearch {vsearch.__version__} kernels: {vsearch.simd_level()}; M={M}, "
          f"ef_construction={EF_CONSTRUCTION}, k={K}, one thread, one query per call")
    datasets = args.dataset or ["clustered", "siftsmall"]
    if "siftsmall" in datasets and not (SHARED_DATA / "siftsmall").is_dir():
        print(f"note: {SHARED_DATA / 'siftsmall'} not found; skipping siftsmall")
        datasets.remove("siftsmall")
    results = [run_dataset(d, args.n) for d in datasets]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""vsearch's task-centric benchmark harness (after Iceberg, arXiv 2512.12980).

    python -m bench                       # default suite: the shared real datasets + a synthetic set, < 5 min on 2 cores
    python -m bench --suite full          # larger synthetic sets, finer ef sweep, every metric
    python -m bench --datasets digits my.npz glove-25-angular.hdf5 sift_base.fvecs
    python -m bench --engines vsearch,hnswlib --ef 16,64,256 --threads all

For every dataset, metric, engine and ef it measures recall@10 against exact
ground truth (computed once and cached), single-thread QPS (one query per
call, best of interleaved repetitions), batch QPS, p50/p99 latency, build time,
index bytes per vector and peak build memory; with labels or relevant ids it
scores the downstream task (kNN accuracy, label recall, hit@K) and the task
loss against exact search, and shows the information loss funnel: the task
score under each metric next to its recall, and the metric the data's
meta-features suggest. It prints markdown tables and writes
bench/results/<timestamp>/ with results.json, report.md and PNG plots.

Datasets are read from ../shared/data (or $VSEARCH_DATA); without it the
harness runs on data it can make itself or that scikit-learn ships.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from . import datasets as dsets
from .engines import DEFAULT_ENGINES, ENGINES, OPTIONAL_ENGINES, available
from .readers import DatasetError
from .model import RunConfig, to_json
from .pipeline import run_dataset
from .sweep import Runner
from .suites import SHARED_ORDER, SUITES

RESULTS_DIR = dsets.REPO_ROOT / "bench" / "results"
EXIT_DATASET_FAILED = 1
EXIT_USAGE = 2


def positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers; got {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers; got {text!r}")
    return values


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {n}")
    return n


def thread_count(text: str) -> int:
    if text == "all":
        return os.cpu_count() or 1
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 1, a number of threads, or 'all'; got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("threads must be >= 1")
    return n


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=tuple(SUITES), default="default",
                   help="default: the shared datasets + one synthetic set, ef 10..256, 3 repetitions (< 5 min on "
                        "2 cores); full: + larger synthetic sets (100k clustered, skewed, out-of-distribution), "
                        "13 ef values up to 512, 5 repetitions, every metric swept (default: %(default)s)")
    p.add_argument("--datasets", nargs="+", metavar="NAME_OR_PATH",
                   help="datasets to run instead of the suite's: a shared folder name (digits, siftsmall, ...), "
                        "synthetic-clustered / synthetic-skewed / synthetic-ood (optionally :N for N base vectors), "
                        "sklearn-digits, or a path to a shared-style folder, .npz (base, queries, optional gt_ids, "
                        "base_labels, query_labels, metric), ann-benchmarks .hdf5 (train, test, neighbors) or "
                        "TEXMEX <name>_base.fvecs/.bvecs (with <name>_query.* and optional <name>_groundtruth.ivecs)")
    p.add_argument("--engines", type=lambda s: [e.strip() for e in s.split(",") if e.strip()],
                   default=list(DEFAULT_ENGINES), metavar="LIST",
                   help=f"comma-separated engines from {', '.join(ENGINES)}; one that is not installed is skipped "
                        f"with a notice (default: {','.join(DEFAULT_ENGINES)})")
    p.add_argument("--threads", type=thread_count, default=1, metavar="N|all",
                   help="threads for builds and batch searches (one-query calls always use one): 1 (default) or "
                        "'all' cores or a number; pinned per engine (vsearch/hnswlib/usearch threads=, "
                        "faiss omp_set_num_threads, BLAS via threadpoolctl)")
    p.add_argument("--metrics", default=None, metavar="native|all|LIST",
                   help="metrics to sweep every engine on: native (each dataset's own; default suite), all "
                        "(l2, ip, cosine, snr; full suite), or a comma-separated list. The funnel covers every "
                        "metric regardless")
    p.add_argument("--metric", default=None,
                   help="native metric of files that do not say (.npz without 'metric', TEXMEX): l2 (default), "
                        "ip, cosine, snr; also overrides a folder's meta.json")
    p.add_argument("--ef", type=positive_ints, default=None, metavar="LIST",
                   help="comma-separated search ef values (default: the suite's sweep)")
    p.add_argument("--k", type=positive_int, default=10, help="neighbours per query for recall@k (default: %(default)s)")
    p.add_argument("--M", type=positive_int, default=16, help="graph degree M, the same for every graph engine "
                                                     "(default: %(default)s)")
    p.add_argument("--ef-construction", type=positive_int, default=200,
                   help="ef_construction, the same for every graph engine (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="build seed and sampling seed (default: %(default)s)")
    p.add_argument("--reps", type=positive_int, default=None,
                   help="timed repetitions per (engine, ef); the best is kept (default: the suite's)")
    p.add_argument("--min-calls", type=positive_int, default=None,
                   help="calls per timed repetition: small query sets are cycled up to this (default: the suite's)")
    p.add_argument("--max-queries", type=positive_int, default=None,
                   help="use only the first N queries of each query set (quicker, noisier)")
    p.add_argument("--max-base", type=positive_int, default=None,
                   help="read only the first N base vectors of a TEXMEX file (supplied ground truth is then "
                        "recomputed)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip peak build memory (measured by rebuilding in a fresh process per engine)")
    p.add_argument("--no-funnel", action="store_true", help="skip the information loss funnel")
    p.add_argument("--no-gssf", action="store_true", help="do not train a gssf metric for the funnel")
    p.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    p.add_argument("--no-cache", action="store_true", help="compute ground truth without reading or writing the cache")
    p.add_argument("--cache-dir", type=Path, default=dsets.CACHE_DIR,
                   help="ground-truth cache folder (default: bench/results/cache)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: bench/results/<timestamp>)")
    p.add_argument("--list", action="store_true", help="list the datasets and engines found here, then exit")
    return p


class Clock:
    """Progress lines prefixed with the elapsed time."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        s = int(self.elapsed())
        print(f"[{s // 60:02d}:{s % 60:02d}] {message}", flush=True)


def default_datasets(suite_name: str, log: Clock) -> list[str]:
    suite = SUITES[suite_name]
    folder = dsets.data_dir()
    names = dsets.shared_names(folder)
    if not names:
        log(f"note: no shared datasets in {folder} (that folder ships only with the vsearch developers' checkout; "
            f"set ${dsets.DATA_ENV} to point elsewhere); running on data the harness makes or scikit-learn ships: "
            f"{', '.join(suite.fallback)}")
        return list(suite.fallback)
    ordered = [n for n in SHARED_ORDER if n in names] + [n for n in names if n not in SHARED_ORDER]
    return ordered + list(suite.synthetic)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def pin_threads(threads: int, log: Clock) -> Any:
    """Limits BLAS and OpenMP pools to ``threads`` (threadpoolctl); a context manager."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        log("note: threadpoolctl is not installed; BLAS/OpenMP thread pools are not pinned (pip install threadpoolctl)")
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    log = Clock()
    suite = SUITES[args.suite]
    engines, skipped = available(args.engines)
    for name, reason in skipped.items():
        log(f"note: engine {name} skipped: {reason}" + (" (optional extra)" if name in OPTIONAL_ENGINES else ""))
    if args.list:
        print(f"shared data folder: {dsets.data_dir()}")
        print("datasets: " + ", ".join(dsets.shared_names(dsets.data_dir()) + list(dsets.SYNTHETIC) + ["sklearn-digits"]))
        print("engines available: " + ", ".join(engines))
        return 0
    if not engines:
        log("error: no engine is available")
        return EXIT_USAGE
    sweep_metrics: str | list[str] = args.metrics or suite.sweep_metrics
    if sweep_metrics not in ("native", "all"):
        sweep_metrics = [m.strip() for m in str(sweep_metrics).split(",") if m.strip()]
    cfg = RunConfig(suite=suite, engines=engines, threads=args.threads, k=args.k, M=args.M,
                    ef_construction=args.ef_construction, seed=args.seed, ef_sweep=args.ef or suite.ef_sweep,
                    repetitions=args.reps or suite.repetitions, min_calls=args.min_calls or suite.min_calls,
                    max_queries=args.max_queries, sweep_metrics=sweep_metrics, memory=not args.no_memory,
                    funnel=not args.no_funnel, gssf=not args.no_gssf,
                    cache_dir=None if args.no_cache else args.cache_dir)
    names = args.datasets or default_datasets(args.suite, log)
    started = datetime.now()
    out = args.out or RESULTS_DIR / started.strftime("%Y%m%d-%H%M%S")
    versions = {n: ENGINES[n].version() for n in engines}
    extra = ""
    if "vsearch" in engines:
        import vsearch

        extra = f" ({vsearch.simd_level()} kernels)"
    log(f"suite {suite.name}: {len(names)} datasets, engines {', '.join(f'{n} {v}' for n, v in versions.items())}{extra}; "
        f"M={cfg.M}, ef_construction={cfg.ef_construction}, threads={cfg.threads}, k={cfg.k}, ef {list(cfg.ef_sweep)}, "
        f"{cfg.repetitions} reps")
    runner = Runner(cfg, log)
    results: dict[str, Any] = {
        "meta": {"started": started.isoformat(timespec="seconds"), "command": "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
                 "suite": suite.name, "machine": machine(), "engines": versions, "threads": cfg.threads, "k": cfg.k,
                 "M": cfg.M, "ef_construction": cfg.ef_construction, "ef_sweep": list(cfg.ef_sweep),
                 "repetitions": cfg.repetitions, "min_calls": cfg.min_calls, "seed": cfg.seed,
                 "max_queries": cfg.max_queries, "data_dir": str(dsets.data_dir()), "wall_s": 0.0},
        "datasets": [], "notices": [f"engine {n} skipped: {r}" for n, r in skipped.items()], "failed": [],
    }
    with pin_threads(cfg.threads, log):
        for i, name in enumerate(names, 1):
            try:
                ds = dsets.resolve(name, suite.sizes, args.metric, args.max_base)
            except DatasetError as error:
                log(f"error: {error}")
                results["failed"].append(str(error))
                continue
            log(f"dataset {i}/{len(names)}: {ds.name} ({ds.describe()})")
            results["datasets"].append(to_json(run_dataset(ds, runner)))
    results["notices"] += runner.notices
    results["meta"]["wall_s"] = log.elapsed()
    from . import report

    plots = report.write(results, out, plots_enabled=not args.no_plots)
    print()
    print(report.overview(results))
    print()
    n_plots = sum(len(v) for v in plots.values())
    log(f"wrote {out}/results.json, report.md and {n_plots} plots in {log.elapsed():.0f} s")
    if results["failed"]:
        log(f"{len(results['failed'])} dataset(s) failed: " + "; ".join(results["failed"]))
        return EXIT_DATASET_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""vsearch's task-centric benchmark harness (after Iceberg, arXiv 2512.12980).

    python -m bench                       # default suite: the shared real datasets + a synthetic set, < 5 min on 2 cores
    python -m bench --suite full          # larger synthetic sets, finer ef sweep, every metric
    python -m bench --suite speed         # vsearch vs hnswlib and FAISS at equal recall, build time, memory
    python -m bench --suite metric-speed  # vsearch's QPS under each metric on the same data
    python -m bench --suite persistence   # save, load and memory-mapped load vs hnswlib
    python -m bench --suite gssf          # what a learned GSSF metric buys over cosine and l2
    python -m bench --suite churn         # recall, QPS and memory under removals and adds vs fresh builds
    python -m bench --suite filter        # filtered and range search vs hnswlib's and FAISS's filters
    python -m bench --datasets digits my.npz glove-25-angular.hdf5 sift_base.fvecs
    python -m bench --engines vsearch,hnswlib --ef 16,64,256 --threads all
    python -m bench --reference           # regenerate bench/results/reference/ and the README's tables

For every dataset, metric, engine and ef it measures recall@10 against exact
ground truth (computed once and cached), single-thread QPS (one query per
call, best of interleaved repetitions), batch QPS, p50/p99 latency, build time,
index bytes per vector and peak build memory; with labels or relevant ids it
scores the downstream task (kNN accuracy, label recall, hit@K) with a 95%
bootstrap confidence interval over queries, and the task loss against exact
search, and shows the information loss funnel: the task score under each
metric next to its recall, and the metric the data's meta-features suggest.
It prints markdown tables and writes bench/results/<timestamp>/ with
results.json, report.md and PNG plots.

Datasets are read from ../shared/data, or from the folder $VSEARCH_DATA names;
without it the harness runs on data it can make itself or that scikit-learn
ships, and says so.
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
from typing import Any, Callable, Sequence

from . import datasets as dsets
from . import goals, reference, report
from .engines import DEFAULT_ENGINES, ENGINES, OPTIONAL_ENGINES, available
from .churn import run_churn
from .filtered import run_filtered
from .metric_speed import run_metric_speed
from .model import RunConfig, to_json
from .persistence import run_persistence
from .pipeline import run_dataset
from .readers import DatasetError
from .reference import REFERENCE_SUITES
from .suites import (CHURN, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, FILTER, METRIC_SPEED, PERSISTENCE, SHARED_ORDER,
                     SUITES, SWEEP, Suite)
from .sweep import Runner

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
    p.add_argument("--suite", choices=tuple(SUITES), default=None,
                   help="; ".join(f"{s.name}: {s.about}" for s in SUITES.values()).replace("%", "%%")
                        + " (default: default)")
    p.add_argument("--reference", action="store_true",
                   help=f"write the run into bench/results/reference/<suite>/ (replacing what is there) and "
                        f"rewrite that suite's tables in README.md; without --suite, every suite the README "
                        f"shows ({', '.join(REFERENCE_SUITES)}), one after the other")
    p.add_argument("--datasets", nargs="+", metavar="NAME_OR_PATH",
                   help="datasets to run instead of the suite's: a shared folder name (digits, siftsmall, ...), "
                        "synthetic-clustered / synthetic-skewed / synthetic-ood (optionally :N for N base vectors), "
                        "sklearn-digits, or a path to a shared-style folder, .npz (base, queries, optional gt_ids, "
                        "base_labels, query_labels, metric), ann-benchmarks .hdf5 (train, test, neighbors) or "
                        "TEXMEX <name>_base.fvecs/.bvecs (with <name>_query.* and optional <name>_groundtruth.ivecs)")
    p.add_argument("--engines", type=lambda s: [e.strip() for e in s.split(",") if e.strip()],
                   default=None, metavar="LIST",
                   help=f"comma-separated engines from {', '.join(ENGINES)}; one that is not installed is skipped "
                        f"with a notice (default: the suite's; {','.join(DEFAULT_ENGINES)} for default and full)")
    p.add_argument("--threads", type=thread_count, default=None, metavar="N|all",
                   help="threads for builds and batch searches (one-query calls always use one): 1 (default; "
                        "every core in the churn and filter suites) or 'all' cores or a number; pinned per engine (vsearch/hnswlib/usearch threads=, "
                        "faiss omp_set_num_threads, BLAS via threadpoolctl)")
    p.add_argument("--metrics", default=None, metavar="native|all|LIST",
                   help="metrics to sweep every engine on: native (each dataset's own; default suite), all "
                        "(l2, ip, cosine, snr; full suite), or a comma-separated list (metric-speed suite: "
                        "l2,snr,ip,cosine; the first is the one the others are compared with). The funnel "
                        "covers every metric regardless")
    p.add_argument("--metric", default=None,
                   help="native metric of files that do not say (.npz without 'metric', TEXMEX): l2 (default), "
                        "ip, cosine, snr; also overrides a folder's meta.json")
    p.add_argument("--ef", type=positive_ints, default=None, metavar="LIST",
                   help="comma-separated search ef values (default: the suite's sweep)")
    p.add_argument("--k", type=positive_int, default=10, help="neighbours per query for recall@k (default: %(default)s)")
    p.add_argument("--M", type=positive_int, default=DEFAULT_M, help="graph degree M, the same for every graph engine "
                                                            "(default: %(default)s)")
    p.add_argument("--ef-construction", type=positive_int, default=DEFAULT_EF_CONSTRUCTION,
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
    p.add_argument("--no-funnel", action="store_true", help="skip the information loss funnel (the speed suite "
                                                                 "always does)")
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


def suite_datasets(suite: Suite, log: Clock) -> list[str]:
    """The datasets a suite runs: its own list (skipping shared folders absent here), or
    every shared folder plus its synthetic sets, or its fallback without shared data."""
    folder = dsets.data_dir()
    names = dsets.shared_names(folder)
    where = (f"{folder} (that folder ships only with the vsearch developers' checkout; set ${dsets.DATA_ENV} "
             f"to point elsewhere)")
    if suite.datasets:
        kept = [n for n in suite.datasets if not dsets.is_shared_name(n) or n in names]
        for n in suite.datasets:
            if n not in kept:
                log(f"note: shared dataset {n} not found in {where}; the {suite.name} suite runs without it")
        return kept
    if not names:
        log(f"note: no shared datasets in {where}; running on data the harness makes or scikit-learn ships: "
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


PIPELINES: dict[str, Callable[[dsets.Dataset, Runner], dict[str, Any]]] = {
    SWEEP: run_dataset, METRIC_SPEED: run_metric_speed, PERSISTENCE: run_persistence, CHURN: run_churn,
    FILTER: run_filtered}


def config(args: argparse.Namespace, suite: Suite, engines: list[str]) -> RunConfig:
    """The run's configuration: the command line over the suite's defaults."""
    sweep_metrics: str | list[str] = args.metrics or suite.sweep_metrics
    if isinstance(sweep_metrics, tuple):
        sweep_metrics = list(sweep_metrics)
    elif sweep_metrics not in ("native", "all"):
        sweep_metrics = [m.strip() for m in sweep_metrics.split(",") if m.strip()]
    threads = args.threads or suite.threads or os.cpu_count() or 1
    return RunConfig(suite=suite, engines=engines, threads=threads, k=args.k, M=args.M,
                     ef_construction=args.ef_construction, seed=args.seed, ef_sweep=args.ef or suite.ef_sweep,
                     repetitions=args.reps or suite.repetitions, min_calls=args.min_calls or suite.min_calls,
                     max_queries=args.max_queries, sweep_metrics=sweep_metrics, memory=not args.no_memory,
                     funnel=suite.funnel and not args.no_funnel,
                     gssf=not args.no_gssf, cache_dir=None if args.no_cache else args.cache_dir)


def run_suite(suite: Suite, args: argparse.Namespace, command: str, log: Clock, out: Path) -> int:
    """Runs one suite and writes its report into ``out``; returns the exit status."""
    engines, skipped = available(args.engines or list(suite.engines or DEFAULT_ENGINES))
    for name, reason in skipped.items():
        log(f"note: engine {name} skipped: {reason}" + (" (optional extra)" if name in OPTIONAL_ENGINES else ""))
    if not engines:
        log("error: no engine is available")
        return EXIT_USAGE
    cfg = config(args, suite, engines)
    names = args.datasets or suite_datasets(suite, log)
    started = datetime.now()
    versions = {n: ENGINES[n].version() for n in engines}
    kernels = None
    if "vsearch" in engines:
        import vsearch

        kernels = vsearch.simd_level()
    extra = f" ({kernels} kernels)" if kernels else ""
    log(f"suite {suite.name}: {len(names)} datasets, engines {', '.join(f'{n} {v}' for n, v in versions.items())}{extra}; "
        f"M={cfg.M}, ef_construction={cfg.ef_construction}, threads={cfg.threads}, k={cfg.k}, ef {list(cfg.ef_sweep)}, "
        f"{cfg.repetitions} reps")
    runner = Runner(cfg, log)
    results: dict[str, Any] = {
        "meta": {"started": started.isoformat(timespec="seconds"), "command": command, "suite": suite.name,
                 "machine": machine(), "engines": versions, "threads": cfg.threads, "k": cfg.k, "M": cfg.M,
                 "ef_construction": cfg.ef_construction, "ef_sweep": list(cfg.ef_sweep),
                 "repetitions": cfg.repetitions, "min_calls": cfg.min_calls, "seed": cfg.seed,
                 "max_queries": cfg.max_queries, "data_dir": str(dsets.data_dir()), "vsearch_kernels": kernels,
                 "wall_s": 0.0},
        "datasets": [], "notices": [f"engine {n} skipped: {r}" for n, r in skipped.items()], "failed": [],
    }
    pipeline = PIPELINES[suite.pipeline]
    t0 = time.perf_counter()
    with pin_threads(cfg.threads, log):
        for i, name in enumerate(names, 1):
            try:
                ds = dsets.resolve(name, suite.sizes, args.metric, args.max_base)
            except DatasetError as error:
                log(f"error: {error}")
                results["failed"].append(str(error))
                continue
            log(f"dataset {i}/{len(names)}: {ds.name} ({ds.describe()})")
            results["datasets"].append(to_json(pipeline(ds, runner)))
    results["notices"] += runner.notices
    results["goals"] = goals.check(suite.goals, results["datasets"])
    results["meta"]["wall_s"] = time.perf_counter() - t0
    plots = report.write(results, out, plots_enabled=not args.no_plots)
    print()
    print(report.overview(results))
    print()
    log(f"wrote {out}/results.json, report.md and {sum(len(v) for v in plots.values())} plots in "
        f"{results['meta']['wall_s']:.0f} s")
    if args.reference:
        block = report.readme_block(results, plots, out, reference.README.parent)
        readme = reference.update_readme(reference.README, suite.name, block)
        log(f"rewrote the {suite.name} tables in {readme}")
    if results["failed"]:
        log(f"{len(results['failed'])} dataset(s) failed: " + "; ".join(results["failed"]))
        return EXIT_DATASET_FAILED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    log = Clock()
    if args.list:
        engines, skipped = available(args.engines or list(DEFAULT_ENGINES))
        print(f"shared data folder: {dsets.data_dir()}")
        print("datasets: " + ", ".join(dsets.shared_names(dsets.data_dir()) + list(dsets.SYNTHETIC) + ["sklearn-digits"]))
        print("engines available: " + ", ".join(engines))
        for name, reason in skipped.items():
            print(f"engine {name} skipped: {reason}")
        return 0
    if args.reference and (args.out or args.datasets):
        log("error: --reference writes the suites' own datasets into bench/results/reference/; "
            "drop --out and --datasets")
        return EXIT_USAGE
    suites = [SUITES[args.suite]] if args.suite else \
        [SUITES[n] for n in REFERENCE_SUITES] if args.reference else [SUITES["default"]]
    status = 0
    for suite in suites:
        if args.reference:
            out = reference.prepare(suite.name)
            try:
                with reference.console_copy(out):
                    status = max(status, run_suite(suite, args, command, log, out))
            finally:
                reference.settle(out)
        else:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            out = args.out or RESULTS_DIR / (stamp if len(suites) == 1 else f"{stamp}-{suite.name}")
            status = max(status, run_suite(suite, args, command, log, out))
    return status


if __name__ == "__main__":
    sys.exit(main())

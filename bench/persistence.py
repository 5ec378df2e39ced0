"""The ``persistence`` pipeline: what saving and loading an index costs, engine
against engine on the same data.

Every engine that can save (bench.engines ``persists``) is built once on the
dataset's base vectors and saved ``repetitions`` times into one temporary folder
(engines interleaved; the median save is kept). Each load is then timed in a
fresh process (bench.probes), plainly and, for engines that can, memory-mapped;
the kinds are interleaved and the median of ``repetitions`` is kept. The files
were just written, so every engine reads from the page cache: this measures the
library, not the disk.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from . import probes
from .datasets import Dataset
from .distances import BUILTIN
from .sweep import Runner

# What a median is taken of, per (engine, mmap) kind.
LOAD_FIGURES = ("seconds", "resident_bytes", "first_query_seconds")


def _median(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def run_persistence(ds: Dataset, runner: Runner) -> dict[str, Any]:
    """Builds, saves and reloads every engine that can persist (see the module docstring)."""
    cfg = runner.cfg
    t0 = time.perf_counter()
    metric = BUILTIN[ds.metric]
    engines = []
    for engine in runner.make_engines(metric):
        if engine.persists:
            engines.append(engine)
        else:
            runner.notice(f"{engine.name} cannot save an index; not in the persistence suite")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-persist-") as folder:
        files, saves = {}, {}
        for engine in engines:
            start = time.perf_counter()
            engine.build(ds.base, metric, cfg.params)
            runner.log(f"  built {engine.name} in {time.perf_counter() - start:.1f} s")
            files[engine.name], saves[engine.name] = Path(folder) / f"index.{engine.name}", []
        for _ in range(cfg.repetitions):
            for engine in engines:
                start = time.perf_counter()
                engine.save(files[engine.name])
                saves[engine.name].append(time.perf_counter() - start)
        for engine in engines:
            engine.close()
        kinds = [(e.name, False) for e in engines] + [(e.name, True) for e in engines if e.can_mmap]
        loads: dict[tuple[str, bool], list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for _ in range(cfg.repetitions):
            for name, mmap in kinds:  # interleaved
                loads[(name, mmap)].append(probes.load_in_child(name, metric.name, files[name], ds.base.shape[1],
                                                                mmap, cfg.seed))
        for name, mmap in kinds:
            row = {"engine": name, "mmap": mmap, "file_bytes": files[name].stat().st_size,
                   "save_s": statistics.median(saves[name]),
                   **{figure: _median([r[figure] for r in loads[(name, mmap)]]) for figure in LOAD_FIGURES}}
            rows.append(row)
            runner.log(f"  {name}{' mmap' if mmap else ''}: file {row['file_bytes'] / 2**20:.1f} MiB, "
                       f"save {row['save_s']:.3f} s, load {row['seconds']:.4f} s")
    return {"kind": "persistence", "name": ds.name, "source": ds.source, "licence": ds.licence, "n": len(ds.base),
            "dim": ds.base.shape[1], "metric": ds.metric, "repetitions": cfg.repetitions, "rows": rows,
            "wall_s": time.perf_counter() - t0}

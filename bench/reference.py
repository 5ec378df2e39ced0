"""The reference runs: ``python -m bench --reference`` writes each suite's report into
``bench/results/reference/<suite>/`` (with a copy of the console) and rewrites that
suite's block of README.md, so the figures the README shows always come from one
command, with the machine they were measured on.

A README block lies between two marker lines, ``<!-- bench:<suite> -->`` and
``<!-- /bench:<suite> -->``; everything between them is replaced.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path
from typing import Iterator, TextIO

from .datasets import REPO_ROOT

README = REPO_ROOT / "README.md"
REFERENCE_DIR = REPO_ROOT / "bench" / "results" / "reference"
# The suites whose tables the README shows, in the order ``--reference`` runs them.
REFERENCE_SUITES = ("default", "speed", "metric-speed", "persistence", "gssf", "churn", "filter")
CONSOLE = "console.txt"
# What a reference folder holds (and what preparing it sets aside): only what the harness writes.
OUTPUT_PATTERNS = ("*.png", "report.md", "results.json", CONSOLE)
# The file a run writes once it has results: until then the earlier run's outputs are kept.
RESULTS = "results.json"
# Where the earlier run's outputs wait while a run is under way.
PREVIOUS = ".previous"


class ReadmeBlockError(RuntimeError):
    """README.md has no block (or a broken one) for a suite."""


def markers(suite: str) -> tuple[str, str]:
    return f"<!-- bench:{suite} -->", f"<!-- /bench:{suite} -->"


def _outputs(folder: Path) -> list[Path]:
    return [path for pattern in OUTPUT_PATTERNS for path in folder.glob(pattern)]


def prepare(suite: str, root: Path | None = None) -> Path:
    """The suite's reference folder (under ``root``, by default REFERENCE_DIR), with what an
    earlier run wrote set aside until this run has results (see settle)."""
    out = (root or REFERENCE_DIR) / suite
    out.mkdir(parents=True, exist_ok=True)
    previous = out / PREVIOUS
    if previous.is_dir():  # a run was killed before settling: its predecessor is the reference
        settle(out)
    previous.mkdir()
    for path in _outputs(out):
        path.rename(previous / path.name)
    return out


def settle(out: Path) -> None:
    """After a run into ``out``: once it wrote its results, the earlier run's outputs go; a
    run that stopped before (no engine, an error, Ctrl-C) leaves the earlier reference in place."""
    previous = out / PREVIOUS
    if not (out / RESULTS).exists():
        for path in _outputs(out):
            path.unlink()
        for path in _outputs(previous):
            path.rename(out / path.name)
    shutil.rmtree(previous, ignore_errors=True)


class _Tee:
    """Writes to two streams (the console and its copy)."""

    def __init__(self, first: TextIO, second: TextIO) -> None:
        self.first, self.second = first, second

    def write(self, text: str) -> int:
        self.second.write(text)
        return self.first.write(text)

    def flush(self) -> None:
        self.first.flush()
        self.second.flush()


@contextlib.contextmanager
def console_copy(out: Path) -> Iterator[None]:
    """Copies everything printed meanwhile into ``out/console.txt``."""
    with open(out / CONSOLE, "w", encoding="utf-8") as copy, contextlib.redirect_stdout(_Tee(sys.stdout, copy)):
        yield


def replace_block(text: str, suite: str, block: str) -> str:
    """``text`` with the suite's README block replaced by ``block``."""
    start, end = markers(suite)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ReadmeBlockError(f"README.md needs exactly one block '{start}' ... '{end}' for the {suite} suite's "
                               "tables; add the two marker lines where the tables belong")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{block.strip()}\n{end}{tail}"


def update_readme(readme: Path, suite: str, block: str) -> Path:
    """Rewrites the suite's block of ``readme`` in place; returns its path."""
    readme.write_text(replace_block(readme.read_text(encoding="utf-8"), suite, block), encoding="utf-8")
    return readme

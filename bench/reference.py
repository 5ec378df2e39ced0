"""The reference runs: ``python -m bench --reference`` writes each suite's report into
``bench/results/reference/<suite>/`` (with a copy of the console) and rewrites that
suite's block of README.md, so the figures the README shows always come from one
command, with the machine they were measured on.

A README block lies between two marker lines, ``<!-- bench:<suite> -->`` and
``<!-- /bench:<suite> -->``; everything between them is replaced.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator, TextIO

from .datasets import REPO_ROOT

README = REPO_ROOT / "README.md"
REFERENCE_DIR = REPO_ROOT / "bench" / "results" / "reference"
# The suites whose tables the README shows, in the order ``--reference`` runs them.
REFERENCE_SUITES = ("default", "speed", "metric-speed", "persistence", "gssf", "churn")
CONSOLE = "console.txt"
# What a reference folder holds (and what preparing it removes): only what the harness writes.
OUTPUT_PATTERNS = ("*.png", "report.md", "results.json", CONSOLE)


class ReadmeBlockError(RuntimeError):
    """README.md has no block (or a broken one) for a suite."""


def markers(suite: str) -> tuple[str, str]:
    return f"<!-- bench:{suite} -->", f"<!-- /bench:{suite} -->"


def prepare(suite: str, root: Path | None = None) -> Path:
    """The suite's reference folder (under ``root``, by default REFERENCE_DIR), emptied of
    what an earlier run wrote."""
    out = (root or REFERENCE_DIR) / suite
    out.mkdir(parents=True, exist_ok=True)
    for pattern in OUTPUT_PATTERNS:
        for path in out.glob(pattern):
            path.unlink()
    return out


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

"""A minimal progress bar on stderr for long builds (no dependency)."""

from __future__ import annotations

import sys
import time

_BAR_WIDTH = 30


class ProgressBar:
    """Draws `label [#####.....] done/total rate` on one terminal line."""

    def __init__(self, total: int, label: str = "adding") -> None:
        self.total = total
        self.label = label
        self.start = time.perf_counter()

    def __call__(self, done: int) -> None:
        fraction = done / self.total if self.total else 1.0
        filled = int(fraction * _BAR_WIDTH)
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        end = "\n" if done >= self.total else ""
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{self.total} {rate:,.0f}/s{end}")
        sys.stderr.flush()

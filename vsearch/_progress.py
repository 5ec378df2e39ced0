"""Progress of long calls (add, GSSF.fit): a bar on stderr, or the caller's callback. No dependency."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Union

from .errors import InvalidParameterError

# add() batches at least this large show a bar by default (progress=None) when
# stderr is a terminal: smaller ones take about a second or less.
LARGE_BATCH = 100_000

Progress = Union[bool, None, Callable[[int, int], Any]]

_BAR_WIDTH = 30
_LOG_LINES = 10  # off a terminal: at most one line per tenth of the work, plus the last
_SECONDS_PER_MINUTE = 60
_SECONDS_PER_HOUR = 3600


def _clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    total = int(round(seconds))
    hours, rest = divmod(total, _SECONDS_PER_HOUR)
    minutes, secs = divmod(rest, _SECONDS_PER_MINUTE)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """``label [#####.....] done/total rate ETA m:ss`` on stderr.

    On a terminal it is one line, redrawn in place; elsewhere (a log file, CI)
    it writes whole lines, at most one per tenth of the work, so logs stay short.
    """

    def __init__(self, total: int, label: str = "adding") -> None:
        self.total = total
        self.label = label
        self.stream = sys.stderr  # looked up now, so a redirected stderr is honoured
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.step = max(1, math.ceil(total / _LOG_LINES))
        self.logged = -1  # the last `done` written off a terminal
        self.start = time.perf_counter()

    def __call__(self, done: int) -> None:
        finished = done >= self.total
        if not self.live:
            if done == self.logged or (not finished and done // self.step == max(self.logged, 0) // self.step):
                return
            self.logged = done
        fraction = min(1.0, done / self.total) if self.total else 1.0
        filled = int(fraction * _BAR_WIDTH)
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        if finished:
            timing = f"in {_clock(elapsed)}"
        elif done > 0:
            timing = f"ETA {_clock(elapsed * (self.total - done) / done)}"
        else:
            timing = "ETA --:--"
        line = f"{self.label} [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{self.total} {rate:,.0f}/s {timing}"
        if self.live:
            self.stream.write(f"\r{line}" + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def reporter(progress: Progress, total: int, label: str, batch: int | None = None) -> Callable[[int], None] | None:
    """What `progress=` asks for, as a function of the work done so far (or None for nothing).

    ``progress=None`` means a bar on a terminal, for a `batch` of LARGE_BATCH
    vectors or more (any work where `batch` is None).
    """
    if progress is None:
        large = batch is None or batch >= LARGE_BATCH
        progress = large and bool(getattr(sys.stderr, "isatty", lambda: False)())
    if type(progress) is bool:
        return ProgressBar(total, label) if progress else None
    if callable(progress):
        return lambda done: progress(done, total)
    raise InvalidParameterError(
        f"progress must be True, False, None (a bar for long calls on a terminal) or a function "
        f"progress(done, total); got {progress!r}"
    )

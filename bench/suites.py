"""The named suites: which datasets, how big, how fine an ef sweep, how many repetitions.

``default`` is sized to finish within 5 minutes on a 2-core machine, builds
included; ``full`` runs larger synthetic sets, a finer and longer ef sweep,
more repetitions and every metric for every engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Suite:
    """Attributes:
    name: the ``--suite`` value.
    ef_sweep: search ef values, ascending.
    repetitions: timed passes over the queries per (engine, ef); the best is kept.
    min_calls: a timed pass cycles through the queries until at least this many calls
        (small query sets would otherwise time only a few milliseconds).
    synthetic: synthetic sets run next to the real data.
    fallback: what runs when the shared data folder is absent.
    sizes: (n, dim, queries) per synthetic kind.
    sweep_metrics: ``"native"`` (each dataset's own metric) or ``"all"`` (every metric).
    """

    name: str
    ef_sweep: tuple[int, ...]
    repetitions: int
    min_calls: int
    synthetic: tuple[str, ...]
    fallback: tuple[str, ...]
    sizes: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    sweep_metrics: str = "native"


DEFAULT = Suite(
    name="default",
    ef_sweep=(10, 16, 32, 64, 128, 256),
    repetitions=3,
    min_calls=300,
    synthetic=("synthetic-clustered",),
    fallback=("sklearn-digits", "synthetic-clustered", "synthetic-skewed", "synthetic-ood"),
    sizes={"synthetic-clustered": (20_000, 64, 500), "synthetic-skewed": (20_000, 64, 500),
           "synthetic-ood": (20_000, 64, 500)},
)

FULL = Suite(
    name="full",
    ef_sweep=(10, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512),
    repetitions=5,
    min_calls=1000,
    synthetic=("synthetic-clustered", "synthetic-skewed", "synthetic-ood"),
    fallback=("sklearn-digits", "synthetic-clustered", "synthetic-skewed", "synthetic-ood"),
    sizes={"synthetic-clustered": (100_000, 128, 1000), "synthetic-skewed": (50_000, 64, 1000),
           "synthetic-ood": (50_000, 64, 1000)},
    sweep_metrics="all",
)

SUITES = {s.name: s for s in (DEFAULT, FULL)}
# Preferred order of the shared folders in a report (others follow alphabetically).
SHARED_ORDER = ("digits", "siftsmall", "fortunes_minilm", "debian_pkgdesc_minilm", "movielens_small_a",
                "olivetti_faces_a")

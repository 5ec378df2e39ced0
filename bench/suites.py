"""The named suites of ``python -m bench``: what runs, on which data, how finely.

Sweep suites run the per-dataset pipeline (bench.pipeline: an ef sweep of every
engine, task scores, the funnel); the others run a pipeline of their own on the
same engines, datasets, measures and reports:

* ``default``: the shared datasets + one synthetic set, < 5 minutes on 2 cores;
* ``full``: + larger synthetic sets, a finer and longer ef sweep, every metric;
* ``speed``: vsearch vs hnswlib and FAISS at equal recall on 100,000 x 128 clustered
  vectors and siftsmall, with build time and peak build memory;
* ``metric-speed``: vsearch under each metric on the same data, metrics interleaved;
* ``persistence``: save, load and memory-mapped load against hnswlib, each load in a
  fresh process;
* ``gssf``: what a learned GSSF metric buys over cosine and l2 on a metric-misuse set
  and on fortunes_minilm;
* ``churn``: recall, QPS and memory of vsearch and hnswlib indexes that vectors are removed
  from and added to, next to fresh builds on the same live vectors (bench.churn);
* ``filter``: filtered search (vsearch's plans, hnswlib's Python filter, FAISS's ID selector)
  at selectivities from 50% to 0.01%, with random and cluster-correlated filters, and
  vsearch's range search (bench.filtered).

Each suite may carry goals (bench.goals): figures it checks against a threshold and
reports as met or missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The pipelines a suite can run.
SWEEP, METRIC_SPEED, PERSISTENCE, CHURN, FILTER = "sweep", "metric-speed", "persistence", "churn", "filter"
# The default M and ef_construction of every graph engine (the same for all engines).
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 200
# vsearch's search ef for the funnel's ANN columns, unless a suite says otherwise.
FUNNEL_EF = 64
# GSSF training for the funnel: at most this many labelled base vectors (None: all).
GSSF_MAX_TRAIN = 3000


# The phases of a churn run (bench.churn), as its steps name them.
REMOVAL_PHASE, ROUNDS_PHASE = "removal", "churn"


@dataclass(frozen=True)
class ChurnPlan:
    """What the churn pipeline (bench.churn) does to an index.

    Attributes:
        removals: the removal steps, as the share of the initial live set removed in all
            after each (cumulative, ascending); each step ends with a consolidation.
        rounds: churn rounds, each removing ``fraction`` of the live set at random and adding
            as many new vectors.
        fraction: the share of the live set each churn round replaces.
        checkpoints: the rounds after which recall and QPS are measured next to fresh builds
            (index memory is recorded after every round).
    """

    removals: tuple[float, ...]
    rounds: int
    fraction: float
    checkpoints: tuple[int, ...]


# The kinds of filter of the filter suite (bench.filtered): ids drawn at random, and the ids of one
# cluster (a label class, nearest its centre first) and its surroundings.
RANDOM_FILTER, CLUSTER_FILTER = "random", "cluster"
# Series of the filter suite, labelled "engine[ plan]": the one its comparisons are about, and its rivals.
SUBJECT_SERIES, FAISS_SERIES, HNSWLIB_SERIES = "vsearch auto", "faiss", "hnswlib"


@dataclass(frozen=True)
class FilterPlan:
    """What the filter pipeline (bench.filtered) measures.

    Attributes:
        shares: the shares of the base ids a filter lets pass (each passes at least one id).
        kinds: RANDOM_FILTER and/or CLUSTER_FILTER.
        main_ef: the ef every series (an engine under one of its plans) is compared at;
            measured also when ``--ef`` leaves it out.
        swept: the series that also run the rest of the suite's ef sweep; the others run the
            main ef only (hnswlib's Python filter: its sweep would take minutes; vsearch's
            exact plan: it has no ef).
        queries: the distinct queries searched (the first ones of the dataset's set).
        slow_pass_s: a series whose first pass over the queries took longer than this is
            not timed again (its first pass is its figure); the others get the suite's
            interleaved repetitions.
        range_hits: range search radii: the mean over queries of the exact distance to the
            n-th nearest base vector, for each n here.
        range_filter_share: range search is also run once with a random filter of this share,
        range_filter_hits: at the radius of this entry of ``range_hits``.
        range_efs: the beam widths every range search runs at (the index's default first).
    """

    shares: tuple[float, ...]
    kinds: tuple[str, ...]
    main_ef: int
    swept: tuple[str, ...]
    queries: int
    slow_pass_s: float
    range_hits: tuple[int, ...]
    range_filter_share: float
    range_filter_hits: int
    range_efs: tuple[int, ...]


@dataclass(frozen=True)
class Suite:
    """Attributes:
    name: the ``--suite`` value.
    about: one line for ``--help``.
    ef_sweep: search ef values, ascending.
    repetitions: timed passes over the queries per (engine, ef); the best is kept.
    min_calls: a timed pass cycles through the queries until at least this many calls
        (small query sets would otherwise time only a few milliseconds).
    datasets: the suite's own datasets; empty: every shared folder, then ``synthetic``.
        A shared folder that is absent here is skipped with a notice.
    synthetic: synthetic sets run next to the real data.
    fallback: what runs when the shared data folder is absent (suites without
        ``datasets`` only).
    sizes: (n, dim, queries) per synthetic kind.
    sweep_metrics: ``"native"`` (each dataset's own metric), ``"all"`` (every metric),
        or a tuple of names.
    engines: the engines run by default (None: bench.engines.DEFAULT_ENGINES).
    pipeline: SWEEP, METRIC_SPEED, PERSISTENCE, CHURN or FILTER.
    funnel: whether sweep suites run the information loss funnel by default.
    funnel_ef: vsearch's ef in the funnel.
    gssf_max_train: labelled base vectors the funnel trains GSSF on (None: all).
    goals: names of the goals (bench.goals.GOALS) this suite checks.
    readme: the sections of its README block (bench.report.readme_block): "summary",
        "engines", "funnel", METRIC_SPEED, PERSISTENCE, CHURN, FILTER, "goals", "plot".
    threads: threads for builds and batch searches unless ``--threads`` says (None: every core).
    churn: what the CHURN pipeline does (None for the other pipelines).
    filter: what the FILTER pipeline measures (None for the other pipelines).
    call_cost: whether sweep suites also time one call on a tiny index (bench.call_cost).
    """

    name: str
    about: str
    ef_sweep: tuple[int, ...]
    repetitions: int
    min_calls: int
    datasets: tuple[str, ...] = ()
    synthetic: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    sizes: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    sweep_metrics: str | tuple[str, ...] = "native"
    engines: tuple[str, ...] | None = None
    pipeline: str = SWEEP
    funnel: bool = True
    funnel_ef: int = FUNNEL_EF
    gssf_max_train: int | None = GSSF_MAX_TRAIN
    goals: tuple[str, ...] = ()
    readme: tuple[str, ...] = ("summary", "goals")
    threads: int | None = 1
    churn: ChurnPlan | None = None
    filter: FilterPlan | None = None
    call_cost: bool = False


FALLBACK = ("sklearn-digits", "synthetic-clustered", "synthetic-skewed", "synthetic-ood")
SMALL_SYNTHETIC = {"synthetic-clustered": (20_000, 64, 500), "synthetic-skewed": (20_000, 64, 500),
                   "synthetic-ood": (20_000, 64, 500), "synthetic-misuse": (6_000, 64, 500)}
# The call-cost measure of the speed suite (bench.call_cost): vectors of the tiny index, the
# queries cycled over, and every engine's beam (hnswlib's default ef).
CALL_COST_VECTORS = 100
CALL_COST_QUERIES = 100
CALL_COST_EF = 10

# The speed suites' synthetic set: 100,000 x 128 clustered vectors, 1,000 queries.
SPEED_SET = {"synthetic-clustered": (100_000, 128, 1000)}

DEFAULT = Suite(
    name="default",
    about="the shared datasets + one synthetic set, ef 10..256, 3 repetitions (< 5 min on 2 cores)",
    ef_sweep=(10, 16, 32, 64, 128, 256),
    repetitions=3,
    min_calls=300,
    synthetic=("synthetic-clustered",),
    fallback=FALLBACK,
    sizes=SMALL_SYNTHETIC,
    readme=("summary", "plot"),
)

FULL = Suite(
    name="full",
    about="+ larger synthetic sets (100k clustered, skewed, out-of-distribution), 13 ef values up to 512, "
          "5 repetitions, every metric swept (about an hour on 2 cores)",
    ef_sweep=(10, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512),
    repetitions=5,
    min_calls=1000,
    synthetic=("synthetic-clustered", "synthetic-skewed", "synthetic-ood"),
    fallback=FALLBACK,
    sizes={**SMALL_SYNTHETIC, **SPEED_SET, "synthetic-skewed": (50_000, 64, 1000),
           "synthetic-ood": (50_000, 64, 1000)},
    sweep_metrics="all",
)

SPEED = Suite(
    name="speed",
    about="vsearch (float32 and float16 storage) vs hnswlib and FAISS at equal recall on 100,000 x 128 clustered "
          "vectors and siftsmall, build time and peak build memory, the cost of one call; no funnel "
          "(about 7 min on 2 cores)",
    ef_sweep=(10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768),
    repetitions=3,
    min_calls=2000,
    datasets=("synthetic-clustered", "siftsmall"),
    sizes={**SMALL_SYNTHETIC, **SPEED_SET},
    engines=("vsearch", "vsearch-f16", "hnswlib", "faiss"),
    funnel=False,
    goals=("qps-vs-hnswlib", "f16-qps-vs-hnswlib", "build-vs-hnswlib", "memory-vs-hnswlib", "call-cost-vs-hnswlib"),
    readme=("summary", "engines", "goals"),
    call_cost=True,
)

METRIC_SPEED_SUITE = Suite(
    name="metric-speed",
    about="vsearch under l2, snr, ip and cosine on the same 100,000 x 128 vectors, metrics interleaved, "
          "at ef 32/64/128: is snr served at l2 speed? (about 3 min on 2 cores)",
    ef_sweep=(32, 64, 128),
    repetitions=5,
    min_calls=1000,
    datasets=("synthetic-clustered",),
    sizes={**SMALL_SYNTHETIC, **SPEED_SET},
    sweep_metrics=("l2", "snr", "ip", "cosine"),
    engines=("vsearch",),
    pipeline=METRIC_SPEED,
    goals=("snr-vs-l2",),
    readme=(METRIC_SPEED, "goals"),
)

PERSISTENCE_SUITE = Suite(
    name="persistence",
    about="save, load and memory-mapped load of vsearch vs hnswlib on 200,000 x 128 vectors; each load "
          "timed in a fresh process, engines interleaved, median of 5 (about 3 min on 2 cores)",
    ef_sweep=(),
    repetitions=5,
    min_calls=1,
    datasets=("synthetic-clustered",),
    sizes={**SMALL_SYNTHETIC, "synthetic-clustered": (200_000, 128, 1)},
    engines=("vsearch", "hnswlib"),
    pipeline=PERSISTENCE,
    goals=("mmap-load-time", "mmap-resident", "load-vs-hnswlib"),
    readme=(PERSISTENCE, "goals"),
)

GSSF = Suite(
    name="gssf",
    about="label recall of a learned GSSF metric against cosine and l2 (exact and vsearch at ef=200) on a "
          "synthetic metric-misuse set and fortunes_minilm (under a minute)",
    ef_sweep=(200,),
    repetitions=1,
    min_calls=1,
    datasets=("synthetic-misuse", "fortunes_minilm"),
    sizes=SMALL_SYNTHETIC,
    engines=("vsearch",),
    funnel_ef=200,
    gssf_max_train=None,
    goals=("gssf-gain-synthetic", "gssf-gain-real"),
    readme=("funnel", "goals"),
)

# The churn suite's plan (issue 10): remove 10%, 50%, 90%; 20 rounds of "remove 5%, add 5% new";
# recall and QPS next to fresh builds after the rounds listed (a fresh pair of 100,000 x 128 builds
# took 2-3 minutes on a shared 2-core machine, so not after every round).
CHURN_PLAN = ChurnPlan(removals=(0.1, 0.5, 0.9), rounds=20, fraction=0.05, checkpoints=(1, 5, 10, 15, 20))
# The churn suite's synthetic set: a live set of SPEED_SET's size plus the pool of new vectors the
# rounds add (bench.churn takes the first n / (1 + rounds x fraction) rows as the live set).
CHURN_LIVE = SPEED_SET["synthetic-clustered"][0]
CHURN_SET = {"synthetic-clustered": (round(CHURN_LIVE * (1 + CHURN_PLAN.rounds * CHURN_PLAN.fraction)),
                                     *SPEED_SET["synthetic-clustered"][1:])}

CHURN_SUITE = Suite(
    name="churn",
    about="recall@10 at ef 64/128, single-thread QPS and memory of vsearch and hnswlib under removals (10%, 50%, "
          "90%) and 20 rounds of 'remove 5%, add 5% new', next to fresh builds on the same live vectors, on "
          "100,000 x 128 clustered vectors and debian_pkgdesc_minilm; builds on every core (8 min on a 2-core "
          "Intel Xeon)",
    ef_sweep=(64, 128),
    repetitions=5,
    min_calls=2000,
    datasets=("synthetic-clustered", "debian_pkgdesc_minilm"),
    sizes={**SMALL_SYNTHETIC, **CHURN_SET},
    engines=("vsearch", "hnswlib"),
    pipeline=CHURN,
    goals=("removal-recall", "removal-qps", "removal-time", "churn-recall", "churn-qps", "churn-memory"),
    readme=(CHURN, "goals"),
    threads=None,
    churn=CHURN_PLAN,
)

# The filter suite's plan (issue 11): 200 queries, because hnswlib's Python filter at 0.01% walks the
# whole graph (~15 queries a second on 100,000 x 128 on a shared 2-core machine): a pass of its
# queries then takes seconds and is not repeated (slow_pass_s), while the fast series get repetitions.
# The filter suite's main ef: vsearch's default (vsearch.limits.DEFAULT_EF); range searches also run at
# four times it, since their recall follows the graph's (0.84 recall@10 at ef 64 on the synthetic set).
FILTER_EF = 64
FILTER_PLAN = FilterPlan(shares=(0.5, 0.1, 0.01, 0.001, 0.0001), kinds=(RANDOM_FILTER, CLUSTER_FILTER),
                         main_ef=FILTER_EF,
                         swept=(SUBJECT_SERIES, "vsearch graph", FAISS_SERIES), queries=200, slow_pass_s=1.0,
                         range_hits=(10, 100, 1000), range_filter_share=0.1, range_filter_hits=100,
                         range_efs=(FILTER_EF, 4 * FILTER_EF))

FILTER_SUITE = Suite(
    name="filter",
    about="filtered search of vsearch (plans auto, graph, exact) vs hnswlib (Python filter) and FAISS (ID "
          "selector) at 50% to 0.01% of the ids passing, random and cluster-correlated filters, ef 32 to 256, "
          "and vsearch's range search, on 100,000 x 128 clustered vectors and debian_pkgdesc_minilm; builds on "
          "every core (about 10 min on 2 cores)",
    ef_sweep=(32, 64, 128, 256),
    repetitions=3,
    min_calls=400,
    datasets=("synthetic-clustered", "debian_pkgdesc_minilm"),
    sizes={**SMALL_SYNTHETIC, **SPEED_SET},
    engines=("vsearch", "hnswlib", "faiss"),
    pipeline=FILTER,
    goals=("filter-recall", "filter-recall-main-ef", "filter-vs-faiss", "filter-vs-hnswlib", "filter-failing-ids",
           "range-recall", "range-recall-wide"),
    readme=(FILTER, "goals"),
    threads=None,
    filter=FILTER_PLAN,
)

SUITES = {s.name: s for s in (DEFAULT, FULL, SPEED, METRIC_SPEED_SUITE, PERSISTENCE_SUITE, GSSF, CHURN_SUITE,
                              FILTER_SUITE)}
# Preferred order of the shared folders in a report (others follow alphabetically).
SHARED_ORDER = ("digits", "siftsmall", "fortunes_minilm", "debian_pkgdesc_minilm", "movielens_small_a",
                "olivetti_faces_a")

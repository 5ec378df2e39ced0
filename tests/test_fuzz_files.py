"""Structure-aware fuzzing of index files, and the reproducers of crashes found that way.

Each fuzzed file is a saved index (every metric; several levels, one vector, empty) with one to
three mutations of its sections or descriptor fields, re-emitted with *correct* checksums so the
mutation reaches the deep validation. Each must be rejected with IndexFormatError at load, or load
and then serve every call (see file_probe), in a child process that must not die.

VSEARCH_FUZZ_FILES sets the number of files (default FUZZ_FILES; .ci/sanitize runs thousands).
"""
from __future__ import annotations

import collections
import copy
import os
from pathlib import Path
from typing import Callable

import numpy as np

import vsearch

import file_probe
import format_tools as ft

FUZZ_FILES = 400
FIXTURES = Path(__file__).parent / "fixtures" / "reliability"
DIM = 8
GSSF_BLOCK = 4
# name -> (metric, vectors, M, storage): several levels (M small), a deeper graph, one vector,
# none, and rows stored as halves.
BASES = {
    "l2": ("l2", 300, 4, "float32"),
    "ip": ("ip", 300, 4, "float32"),
    "cosine": ("cosine", 300, 4, "float32"),
    "snr": ("snr", 300, 4, "float32"),
    "gssf": ("gssf", 300, 4, "float32"),
    "l2_deep": ("l2", 1500, 2, "float32"),
    "cosine_one": ("cosine", 1, 4, "float32"),
    "l2_empty": ("l2", 0, 4, "float32"),
    "l2_half": ("l2", 300, 4, "float16"),
    "snr_half": ("snr", 300, 4, "float16"),
}
# Values of integer fields that a hostile file may hold.
HOSTILE_INTS = (-1, 0, 1, 2, 3, 255, 2**16, 2**20, 2**20 + 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1)
SPECIAL_FLOATS = (np.nan, np.inf, -np.inf, 1e30, -0.0, 0.0, 1e-30, 3.0)
# The same for rows of halves, as their bits: NaN, inf, -inf, the largest, -0, 0, the smallest subnormal, 3.
SPECIAL_HALVES = (0x7E00, 0x7C00, 0xFC00, 0x7BFF, 0x8000, 0x0000, 0x0001, 0x4200)


def _metric(name: str):
    if name != "gssf":
        return name
    rng = np.random.default_rng(5)
    return vsearch.GSSF(DIM, GSSF_BLOCK, diagonal=rng.uniform(0.5, 1.5, DIM),
                        blocks=0.1 * rng.standard_normal((DIM // GSSF_BLOCK, GSSF_BLOCK, GSSF_BLOCK)))


def _base(name: str) -> ft.VsxFile:
    metric, n, M, storage = BASES[name]
    index = vsearch.Index(DIM, _metric(metric), M=M, ef_construction=24, ef=16, seed=3, storage=storage)
    if n:
        index.add(np.random.default_rng(11).standard_normal((n, DIM)).astype(np.float32), threads=1)
    return ft.parse(bytes(index))


# -- mutations: each takes (file, rng) and returns the new file's bytes -------------------------


def _array_mutation(name: str, change: Callable[[np.ndarray, ft.VsxFile, np.random.Generator], None]):
    def mutate(f: ft.VsxFile, rng: np.random.Generator) -> bytes:
        if name not in f.sections:
            return ft.reemit(f)
        array = ft.section_array(f, name)
        if array.size:
            change(array, f, rng)
        return ft.with_sections(f, **{name: array})
    mutate.__name__ = f"{name}:{change.__name__}"
    return mutate


def _levels_random(a, f, rng):
    a[rng.integers(a.shape[0])] = rng.integers(0, max(f.descriptor["max_level"], 0) + 2)


def _offsets_random(a, f, rng):
    choices = [ft.NO_UPPER, 0, f.descriptor["upper_blocks"], int(rng.integers(0, f.descriptor["upper_blocks"] + 2))]
    a[rng.integers(a.shape[0])] = choices[rng.integers(len(choices))]


def _links_rewire(a, f, rng):
    """A link inside a list's count pointed at another node that exists (the crash class of issue 8)."""
    row = rng.integers(a.shape[0])
    count = int(a[row, 0])
    if 0 < count < a.shape[1]:
        a[row, 1 + rng.integers(count)] = rng.integers(0, f.descriptor["count"] + 1)


def _links_count(a, f, rng):
    a[rng.integers(a.shape[0]), 0] = rng.integers(0, a.shape[1] + 2)


def _links_random_words(a, f, rng):
    row = rng.integers(a.shape[0])
    a[row] = rng.integers(0, max(f.descriptor["count"], 1) * 2, size=a.shape[1])


def _ids_collide(a, f, rng):
    a[rng.integers(a.shape[0])] = a[rng.integers(a.shape[0])] if rng.random() < 0.5 else rng.integers(-(2**62), 2**62)


def _vectors_special(a, f, rng):
    special = SPECIAL_HALVES if a.dtype == np.uint16 else SPECIAL_FLOATS
    a[rng.integers(a.shape[0]), rng.integers(a.shape[1])] = special[rng.integers(len(special))]


def _scalars_scaled(a, f, rng):
    a[rng.integers(a.shape[0])] *= rng.choice([0.0, -1.0, 1.0001, 2.0, np.inf])


def _promote_consistently(f: ft.VsxFile, rng: np.random.Generator) -> bytes:
    """A level-0 node raised to a new level with its own new blocks, links to random nodes and the
    descriptor updated to match: every count and offset agrees, only the links may lie."""
    d = copy.deepcopy(f.descriptor)
    n, M = d["count"], d["M"]
    if n == 0 or not 2 <= M <= vsearch.limits.MAX_M:
        return ft.reemit(f)
    levels = ft.section_array(f, "levels")
    offsets = ft.section_array(f, "upper_offsets")
    upper = ft.section_array(f, "upper_links")
    node = int(rng.integers(n))
    old = int(levels[node])
    new_level = old + int(rng.integers(1, 3))
    blocks = np.zeros((new_level, 1 + M), dtype=np.uint32)
    if old:
        blocks[:old] = upper[offsets[node] : offsets[node] + old]
    for b in range(old, new_level):
        count = int(rng.integers(0, M + 1))
        blocks[b, 0] = count
        blocks[b, 1 : 1 + count] = rng.integers(0, n, size=count)
    offsets[node] = d["upper_blocks"]
    levels[node] = new_level
    upper = np.concatenate([upper, blocks])
    d["upper_blocks"] = int(upper.shape[0])
    if new_level > d["max_level"]:
        d["max_level"], d["entry_point"] = new_level, node
    return ft.reemit(f, descriptor=d, sections={
        "levels": ft.array_bytes(levels), "upper_offsets": ft.array_bytes(offsets),
        "upper_links": ft.array_bytes(upper)})


def _descriptor_field(key: str):
    def mutate(f: ft.VsxFile, rng: np.random.Generator) -> bytes:
        current = f.descriptor.get(key, 0)
        candidates = [current + 1, current - 1, *HOSTILE_INTS] if isinstance(current, int) else list(HOSTILE_INTS)
        return ft.with_descriptor(f, **{key: int(candidates[rng.integers(len(candidates))])})
    mutate.__name__ = f"descriptor:{key}"
    return mutate


def _descriptor_storage(f: ft.VsxFile, rng: np.random.Generator) -> bytes:
    return ft.with_descriptor(f, storage=("float32", "float16", "int8", 16)[rng.integers(4)])


def _descriptor_metric(f: ft.VsxFile, rng: np.random.Generator) -> bytes:
    # (not "custom": such a file is refused until the user passes the compiled metric)
    metric = ("l2", "ip", "cosine", "snr", "gssf")[rng.integers(5)]
    params = {"block_size": GSSF_BLOCK} if metric == "gssf" else {}
    return ft.with_descriptor(f, metric=metric, metric_params=params)


def _section_bytes(f: ft.VsxFile, rng: np.random.Generator) -> bytes:
    names = [name for name, blob in f.sections.items() if blob]
    if not names:
        return ft.reemit(f)
    name = names[rng.integers(len(names))]
    blob = bytearray(f.sections[name])
    for _ in range(int(rng.integers(1, 4))):
        blob[rng.integers(len(blob))] = rng.integers(256)
    return ft.reemit(f, sections={name: bytes(blob)})


MUTATIONS = [
    _array_mutation("levels", _levels_random),
    _array_mutation("upper_offsets", _offsets_random),
    _array_mutation("upper_links", _links_rewire),
    _array_mutation("upper_links", _links_rewire),  # the crash class: twice the weight
    _array_mutation("upper_links", _links_count),
    _array_mutation("upper_links", _links_random_words),
    _array_mutation("level0_links", _links_rewire),
    _array_mutation("level0_links", _links_count),
    _array_mutation("level0_links", _links_random_words),
    _array_mutation("ids", _ids_collide),
    _array_mutation("vectors", _vectors_special),
    _array_mutation("scales", _scalars_scaled),
    _promote_consistently,
    _promote_consistently,
    _section_bytes,
    _descriptor_metric,
    _descriptor_storage,
    *(_descriptor_field(key) for key in ("count", "max_level", "entry_point", "max_id", "upper_blocks", "M",
                                         "ef", "ef_construction", "dim", "row_stride", "seed")),
]


def fuzz_files(folder: Path, count: int, seed: int = 2024) -> list[tuple[Path, str]]:
    """Writes `count` mutated files; returns (path, what was done) for each."""
    rng = np.random.default_rng(seed)
    bases = {name: _base(name) for name in BASES}
    names = list(bases)
    made = []
    for i in range(count):
        base = names[i % len(names)]
        f = bases[base]
        applied = []
        for _ in range(int(rng.integers(1, 4))):
            mutation = MUTATIONS[rng.integers(len(MUTATIONS))]
            try:
                f = ft.parse(mutation(f, rng), check=False)
            except (ValueError, KeyError, IndexError, OverflowError, TypeError):
                continue  # an earlier mutation broke the shape this one reads: skip it
            applied.append(mutation.__name__)
        path = folder / f"fuzz_{i:05d}_{base}.vsx"
        path.write_bytes(ft.reemit(f))
        made.append((path, f"{base}: {', '.join(applied)}"))
    return made


def test_reliability_reproducers_are_rejected():
    """The files that crashed vsearch (issue 8): each is rejected at load, plain and mapped."""
    paths = sorted(FIXTURES.glob("*.vsx"))
    assert len(paths) >= 10
    for outcome in file_probe.probe(paths):
        assert outcome.plain == "rejected" and outcome.mmap == "rejected", outcome
        assert outcome.rejected_by == "upper_links", outcome


def test_structure_aware_fuzz(tmp_path):
    count = int(os.environ.get("VSEARCH_FUZZ_FILES", FUZZ_FILES))
    made = fuzz_files(tmp_path, count)
    outcomes = file_probe.probe([path for path, _ in made])
    assert len(outcomes) == count
    described = dict(made)
    problems = [f"{o.problem} [{described[o.path]}]" for o in outcomes if o.problem]
    assert not problems, "\n".join(problems[:20])
    tally = collections.Counter(o.plain for o in outcomes)
    by_section = collections.Counter(o.rejected_by for o in outcomes if o.rejected_by)
    print(f"{count} fuzzed files: {dict(tally)}; rejected by section: {dict(by_section)}")
    # The fuzz reaches the deep checks (not only the checksums), and some files survive to be used.
    for section in ("levels", "upper_offsets", "upper_links", "level0_links", "ids", "vectors"):
        assert by_section[section] > 0, f"no fuzzed file was rejected for {section}: {dict(by_section)}"
    assert tally["served"] > 0

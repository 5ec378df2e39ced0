"""Truncated, corrupted, hostile index files: every one raises IndexFormatError, nothing crashes.

Crafted files are put together with format_tools (an independent writer following FORMAT.md) with
*correct* CRCs, so they get past the checksums and reach the semantic checks.
"""
from __future__ import annotations

import copy
import gc
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import vsearch
from vsearch.errors import IndexFormatError

import format_tools as ft
from format_tools import DELETE, VsxFile

DIM = 8
N = 100
M = 4


def _build(metric: str, n: int = N, seed: int = 0) -> vsearch.Index:
    index = vsearch.Index(DIM, metric, M=M, ef_construction=32, ef=16, seed=seed)
    if n:
        data = np.random.default_rng(1000 + seed).standard_normal((n, DIM)).astype(np.float32)
        index.add(data, threads=1)
    return index


_CACHE: dict = {}


def good(metric: str = "l2") -> bytes:
    if metric not in _CACHE:
        _CACHE[metric] = bytes(_build(metric))
    return _CACHE[metric]


def good_file(metric: str = "l2") -> VsxFile:
    return ft.parse(good(metric))


def empty_file(metric: str = "l2") -> VsxFile:
    key = ("empty", metric)
    if key not in _CACHE:
        _CACHE[key] = bytes(_build(metric, 0))
    return ft.parse(_CACHE[key])


QUERIES = np.random.default_rng(7).standard_normal((20, DIM)).astype(np.float32)


def write(tmp_path: Path, data: bytes, name: str = "bad.vsx") -> Path:
    path = tmp_path / name
    path.unlink(missing_ok=True)  # a fresh inode: an older mapping of the name keeps its own pages
    path.write_bytes(data)
    return path


def check_error(err: IndexFormatError, path: Path | None, section: str | None = None) -> None:
    message = str(err)
    assert message
    if path is None:
        assert err.path is None
    else:
        assert err.path == str(path)
        assert str(path) in message
    if section is not None:
        assert err.section == section, (err.section, message)
        assert section in message


def assert_rejected(
    tmp_path: Path,
    data: bytes,
    *,
    section: str | None = None,
    mmap: str = "load",
    match: str | None = None,
) -> None:
    """``data`` must raise IndexFormatError from from_bytes and load(path).

    mmap="load": load(mmap=True) must raise too; mmap="verify": load(mmap=True) may succeed, then
    searching must not crash and verify() must raise; mmap="skip": not tried.
    """
    with pytest.raises(IndexFormatError, match=match) as err:
        vsearch.Index.from_bytes(data)
    check_error(err.value, None, section)
    path = write(tmp_path, data)
    with pytest.raises(IndexFormatError, match=match) as err:
        vsearch.load(path)
    check_error(err.value, path, section)
    with pytest.raises(IndexFormatError, match=match) as err:
        vsearch.load(path, mmap=True, verify=True)
    check_error(err.value, path, section)
    if mmap == "load":
        with pytest.raises(IndexFormatError, match=match) as err:
            vsearch.load(path, mmap=True)
        check_error(err.value, path, section)
    elif mmap == "verify":
        try:
            index = vsearch.load(path, mmap=True)
        except IndexFormatError as e:
            check_error(e, path, section)
        else:
            index.search(QUERIES, k=10, threads=1)
            index.search(QUERIES, k=10, ef=200, threads=2)
            with pytest.raises(IndexFormatError, match=match) as err:
                index.verify()
            check_error(err.value, path, section)
            del index
            gc.collect()


def test_good_files_load(tmp_path):
    """Sanity: the untouched and the re-emitted files load (so the crafted cases fail for their change)."""
    for metric in ("l2", "cosine"):
        f = good_file(metric)
        for data in (good(metric), ft.reemit(f)):
            a = vsearch.Index.from_bytes(data)
            b = vsearch.load(write(tmp_path, data), mmap=True, verify=True)
            assert len(a) == len(b) == N
            b.verify()
    for data in (bytes(_build("l2", 0)), ft.reemit(empty_file())):
        assert len(vsearch.load(write(tmp_path, data), mmap=True, verify=True)) == 0


# ----------------------------------------------------------------------------- truncation


def truncation_points() -> list[int]:
    f = good_file()
    points = set(f.boundaries())
    for p in list(points):
        points.update({p - 1, p + 1})
    rng = np.random.default_rng(12345)
    points.update(rng.integers(0, f.file_size, 100).tolist())
    return sorted(p for p in points if 0 <= p < f.file_size)


def test_truncation(tmp_path):
    data = good()
    points = truncation_points()
    assert len(points) > 100
    for p in points:
        cut = data[:p]
        with pytest.raises(IndexFormatError) as err:
            vsearch.Index.from_bytes(cut)
        check_error(err.value, None)
        path = write(tmp_path, cut)
        for kw in ({}, {"mmap": True}):
            with pytest.raises(IndexFormatError) as err:
                vsearch.load(path, **kw)
            check_error(err.value, path)


def test_truncation_of_empty_index(tmp_path):
    data = bytes(_build("cosine", 0))
    for p in range(len(data)):
        with pytest.raises(IndexFormatError):
            vsearch.Index.from_bytes(data[:p])


def test_appended_bytes(tmp_path):
    """The file ends where the last section ends: a longer file is damaged too."""
    data = good()
    for extra in (b"\0", b"\0" * 64, b"garbage!"):
        assert_rejected(tmp_path, data + extra)


# ----------------------------------------------------------------------------- bit flips


def test_random_bit_flips(tmp_path):
    data = good()
    f = ft.parse(data)
    reference = vsearch.Index.from_bytes(data).search(QUERIES, k=5, threads=1)
    rng = np.random.default_rng(2024)
    positions = rng.integers(0, len(data), 1000)
    bits = rng.integers(0, 8, 1000)
    covered = padding = mmap_accepted = 0
    mmap_caught_at_load = 0
    for i, (pos, bit) in enumerate(zip(positions.tolist(), bits.tolist())):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << bit
        flipped = bytes(flipped)
        region = ft.section_of(f, pos)
        path = write(tmp_path, flipped, f"flip{i % 2}.vsx")
        if region is None:
            # zero padding between the regions is covered by no checksum: a reader may reject it or
            # ignore it, but must then give the very same index
            padding += 1
            try:
                index = vsearch.load(path)
            except IndexFormatError:
                continue
            r = index.search(QUERIES, k=5, threads=1)
            assert np.array_equal(r.ids, reference.ids) and np.array_equal(r.distances, reference.distances)
            continue
        covered += 1
        with pytest.raises(IndexFormatError) as err:
            vsearch.load(path)
        check_error(err.value, path)
        with pytest.raises(IndexFormatError):
            vsearch.Index.from_bytes(flipped)
        try:
            mapped = vsearch.load(path, mmap=True)
        except IndexFormatError as e:
            check_error(e, path)
            mmap_caught_at_load += 1
            continue
        mmap_accepted += 1
        # an mmap load checks no checksum: only the structure of the small sections; the flip must
        # then be in a section (not the header or descriptor) and verify() must find it
        assert region not in ("header", "descriptor"), (pos, region)
        mapped.search(QUERIES, k=5, threads=1)  # wrong results are allowed, a crash is not
        mapped.search(QUERIES[0], k=20, ef=100)
        with pytest.raises(IndexFormatError) as err:
            mapped.verify()
        check_error(err.value, path, region)
        del mapped
    print(f"{covered} flips in checksummed bytes, {padding} in padding; mmap: {mmap_caught_at_load} caught at "
          f"load, {mmap_accepted} by verify()")
    assert covered > 900
    assert covered + padding == 1000
    assert mmap_accepted > 100  # the vectors and level-0 links are most of the file
    assert mmap_caught_at_load > 10


def test_bit_flip_in_vectors_names_the_section(tmp_path):
    data = bytearray(good())
    e = good_file().entry("vectors")
    data[e["offset"] + 5] ^= 0x10
    assert_rejected(tmp_path, bytes(data), section="vectors", mmap="verify")


def test_bit_flip_in_descriptor_names_the_section(tmp_path):
    data = bytearray(good())
    data[ft.HEADER_SIZE + 3] ^= 0x01
    assert_rejected(tmp_path, bytes(data), section="descriptor")


@pytest.mark.parametrize("pos", [0, 7, 8, 10, 12, 16, 24, 28, 31])
def test_bit_flip_in_header_names_the_section(tmp_path, pos):
    data = bytearray(good())
    data[pos] ^= 0x04
    assert_rejected(tmp_path, bytes(data), section="header")


# ----------------------------------------------------------------------------- garbage


@pytest.mark.parametrize("length", [0, 1, 7, 31, 32, 33, 64, 1000, 100000])
def test_random_garbage(tmp_path, length):
    rng = np.random.default_rng(length)
    data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    assert_rejected(tmp_path, data)
    assert_rejected(tmp_path, (ft.MAGIC + data)[: max(length, 8)])
    assert_rejected(tmp_path, b"\0" * length)


@pytest.mark.parametrize("length", [0, 1, 100, 5000])
def test_valid_header_then_garbage(tmp_path, length):
    data = good()
    rng = np.random.default_rng(length + 1)
    garbage = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    assert_rejected(tmp_path, data[: ft.HEADER_SIZE] + garbage)
    # a valid header and descriptor, then garbage where the sections should be
    f = ft.parse(data)
    start = f.table[0]["offset"]
    garbage = rng.integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    assert_rejected(tmp_path, data[:start] + garbage, mmap="skip")
    with pytest.raises(IndexFormatError):
        vsearch.load(write(tmp_path, data[:start] + garbage), mmap=True, verify=True)


def test_text_mode_copy(tmp_path):
    data = good().replace(b"\r\n", b"\n")
    assert_rejected(tmp_path, data, section="header")


# ----------------------------------------------------------------------------- crafted files (correct CRCs)


def _patch_entry(name_or_index, **changes) -> Callable[[dict], None]:
    def patch(d: dict) -> None:
        table = d["sections"]
        if isinstance(name_or_index, int):
            e = table[name_or_index]
        else:
            e = next(e for e in table if e["name"] == name_or_index)
        for k, v in changes.items():
            e[k] = v(e) if callable(v) else v

    return patch


def _sections_modified(**funcs) -> Callable[[VsxFile], bytes]:
    """A case that changes section arrays: funcs[name](array, file) mutates the array in place."""

    def make(f: VsxFile) -> bytes:
        arrays = {}
        for name, fn in funcs.items():
            a = ft.section_array(f, name)
            fn(a, f)
            arrays[name] = a
        return ft.with_sections(f, **arrays)

    return make


def _desc(**changes) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.with_descriptor(f, **changes)


def _node_on_level(f: VsxFile, level: int, exact: bool = True) -> int:
    levels = ft.section_array(f, "levels")
    nodes = np.flatnonzero(levels == level if exact else levels >= level)
    assert len(nodes), level
    return int(nodes[0])


def _offset_past_end(f: VsxFile) -> bytes:
    return ft.reemit(f, patch_descriptor=_patch_entry(-1, offset=ft.align_up(f.file_size) + 64))


def _first_offset_past_end(f: VsxFile) -> bytes:
    return ft.reemit(f, patch_descriptor=_patch_entry(0, offset=ft.align_up(f.file_size) + 64 * 10))


def _length_past_end(f: VsxFile) -> bytes:
    return ft.reemit(f, patch_descriptor=_patch_entry(-1, length=lambda e: e["length"] + 64))


def _overlapping(f: VsxFile) -> bytes:
    # ids declared inside the vectors section (aligned, inside the file, but overlapping), with the
    # checksum of the bytes actually found there
    laid_out = ft.reemit(f)

    def patch(d):
        vec = next(e for e in d["sections"] if e["name"] == "vectors")
        ids = next(e for e in d["sections"] if e["name"] == "ids")
        ids["offset"] = vec["offset"] + 64
        ids["checksum"] = ft.crc32c(laid_out[ids["offset"] : ids["offset"] + ids["length"]])

    return ft.reemit(f, patch_descriptor=patch)


def _overlapping_same_offset(f: VsxFile) -> bytes:
    def patch(d):
        t = d["sections"]
        t[3]["offset"] = t[2]["offset"]

    return ft.reemit(f, patch_descriptor=patch)


def _out_of_order(f: VsxFile) -> bytes:
    items = list(f.sections.items())
    items[2], items[3] = items[3], items[2]  # ids and levels swapped in the file and the table
    return ft.emit(f.descriptor, items)


def _misaligned(f: VsxFile) -> bytes:
    # ids moved 8 bytes on, with the checksum of the bytes actually there
    def patch(d):
        e = next(e for e in d["sections"] if e["name"] == "ids")
        e["offset"] += 8

    return ft.reemit(f, patch_descriptor=patch)


def _misaligned_but_consistent(f: VsxFile) -> bytes:
    """The levels section really stored 8 bytes past a 64-byte boundary, with its right checksum."""
    blob = f.sections["levels"]

    def patch(d):
        e = next(e for e in d["sections"] if e["name"] == "levels")
        e["offset"] += 8  # the checksum stays that of blob

    out = bytearray(ft.reemit(f, patch_descriptor=patch))
    h = ft.parse(out, check=False)
    e = h.entry("levels")
    nxt = h.table[[x["name"] for x in h.table].index("levels") + 1]["offset"]
    assert e["offset"] + len(blob) <= nxt
    out[e["offset"] - 8 : e["offset"] + len(blob)] = b"\0" * 8 + blob
    return bytes(out)


def _section_short(name: str, cut: int) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.reemit(f, sections={name: f.sections[name][:-cut]})


def _section_long(name: str, extra: int) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.reemit(f, sections={name: f.sections[name] + b"\0" * extra})


def _length_field_lies(f: VsxFile) -> bytes:
    return ft.reemit(f, patch_descriptor=_patch_entry("ids", length=lambda e: e["length"] - 8))


def _extra_section(f: VsxFile) -> bytes:
    return ft.reemit(f, sections={"extra": b"\0" * 64})


def _scales_on_l2(f: VsxFile) -> bytes:
    items = list(f.sections.items())
    items.insert(1, ("scales", np.ones(N, np.float32).tobytes()))
    return ft.emit(f.descriptor, items)


def _missing_section(name: str) -> Callable[[VsxFile], bytes]:
    def make(f: VsxFile) -> bytes:
        d = copy.deepcopy(f.descriptor)
        d["sections"] = [e for e in d["sections"] if e["name"] != name]
        return ft.emit(d, [(k, v) for k, v in f.sections.items() if k != name])

    return make


def _duplicate_section(f: VsxFile) -> bytes:
    items = list(f.sections.items())
    items.insert(3, ("ids", f.sections["ids"]))
    d = copy.deepcopy(f.descriptor)
    d["sections"] = [{"name": k} for k, _ in items]
    return ft.emit(d, items)


def _sections_not_a_list(f: VsxFile) -> bytes:
    def patch(d):
        d["sections"] = {e["name"]: e for e in d["sections"]}

    return ft.reemit(f, patch_descriptor=patch)


def _section_entry_missing(key: str) -> Callable[[VsxFile], bytes]:
    def patch(d):
        del d["sections"][1][key]

    return lambda f: ft.reemit(f, patch_descriptor=patch)


def _section_entry_wrong_type(key: str, value) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.reemit(f, patch_descriptor=_patch_entry(1, **{key: value}))


def _header(**kw) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.reemit(f, **kw)


def _descriptor_length(value: Callable[[VsxFile], int]) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.reemit(f, descriptor_length=value(f))


def _descriptor_bytes(raw: bytes) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.reemit(f, descriptor_bytes=raw)


def _with_raw_descriptor(f: VsxFile, transform: Callable[[bytes], bytes]) -> bytes:
    """Lays f out with 64 bytes of slack after the descriptor, then swaps in transform(descriptor bytes)."""
    data = bytearray(ft.reemit(f, extra_gap=64))
    g = ft.parse(data)
    raw = transform(g.descriptor_bytes)
    first = g.table[0]["offset"]
    assert ft.HEADER_SIZE + len(raw) <= first
    head = struct.pack("<8sHHIQI", ft.MAGIC, 1, 0, ft.ENDIAN_MARK, len(raw), ft.crc32c(raw))
    data[:28] = head
    data[28:32] = struct.pack("<I", ft.crc32c(head))
    data[ft.HEADER_SIZE : first] = raw + b"\0" * (first - ft.HEADER_SIZE - len(raw))
    return bytes(data)


def _descriptor_trailing_bytes(f: VsxFile) -> bytes:
    return _with_raw_descriptor(f, lambda raw: raw + b"\xc0\xc0\xc0")  # three msgpack nils after the map


def _desc_truncated_msgpack(f: VsxFile) -> bytes:
    return _with_raw_descriptor(f, lambda raw: raw[:-5])


def _upper_offsets(fn) -> Callable[[VsxFile], bytes]:
    return _sections_modified(upper_offsets=fn)


def _shared_blocks(a: np.ndarray, f: VsxFile) -> None:
    levels = ft.section_array(f, "levels")
    nodes = np.flatnonzero(levels >= 1)
    a[nodes[1]] = a[nodes[0]]


def _block_outside(a: np.ndarray, f: VsxFile) -> None:
    a[_node_on_level(f, 1)] = f.descriptor["upper_blocks"]


def _block_partly_outside(a: np.ndarray, f: VsxFile) -> None:
    node = _node_on_level(f, f.descriptor["max_level"])
    a[node] = f.descriptor["upper_blocks"] - 1  # its level-2+ blocks fall past the table


def _no_block_for_upper_node(a: np.ndarray, f: VsxFile) -> None:
    a[_node_on_level(f, 1)] = ft.NO_UPPER


def _set_all_level0(column: int, value: int) -> Callable[[np.ndarray, VsxFile], None]:
    def fn(a: np.ndarray, f: VsxFile) -> None:
        if column == 0:
            a[:, 0] = value
        else:
            rows = a[:, 0] >= column
            a[rows, column] = value
            assert rows.any()

    return fn


def _one_level0(value: int) -> Callable[[np.ndarray, VsxFile], None]:
    def fn(a: np.ndarray, f: VsxFile) -> None:
        row = int(np.flatnonzero(a[:, 0] >= 2)[-1])
        a[row, 2] = value

    return fn


def _upper_link(column: int, value: int) -> Callable[[np.ndarray, VsxFile], None]:
    def fn(a: np.ndarray, f: VsxFile) -> None:
        rows = np.flatnonzero(a[:, 0] >= max(column, 1))
        a[rows[0], column] = value

    return fn


def _dup_ids(a, f):
    a[1] = a[0]


def _level_above_max(a, f):
    a[_node_on_level(f, 0)] = f.descriptor["max_level"] + 1


def _entry_not_on_top(f: VsxFile) -> bytes:
    return ft.with_descriptor(f, entry_point=_node_on_level(f, 0))


def _max_level_wrong(delta: int) -> Callable[[VsxFile], bytes]:
    return lambda f: ft.with_descriptor(f, max_level=f.descriptor["max_level"] + delta)


def _max_id_below(f: VsxFile) -> bytes:
    return ft.with_descriptor(f, max_id=-1)


REQUIRED_KEYS = [
    "format_version",
    "storage",
    "dim",
    "metric",
    "metric_params",
    "M",
    "ef_construction",
    "ef",
    "seed",
    "count",
    "max_level",
    "entry_point",
    "max_id",
    "row_stride",
    "upper_blocks",
    "sections",
]
INT_KEYS = ["dim", "M", "ef_construction", "ef", "seed", "count", "max_level", "entry_point", "max_id", "row_stride", "upper_blocks"]

# (name, maker, section expected or None, mmap behaviour)
CASES: list[tuple[str, Callable[[VsxFile], bytes], str | None, str]] = [
    # counts and sizes
    ("count_huge", _desc(count=2**40), None, "load"),
    ("count_2_63", _desc(count=2**63), None, "load"),
    ("count_u64_max", _desc(count=2**64 - 1), None, "load"),
    ("count_plus_one", lambda f: ft.with_descriptor(f, count=N + 1), None, "load"),
    ("count_minus_one", lambda f: ft.with_descriptor(f, count=N - 1), None, "load"),
    ("count_zero", _desc(count=0), None, "load"),
    ("count_negative", _desc(count=-1), None, "load"),
    ("upper_blocks_huge", _desc(upper_blocks=2**40), None, "load"),
    ("row_stride_not_padded", _desc(row_stride=DIM), None, "load"),
    ("row_stride_doubled", _desc(row_stride=32), None, "load"),
    ("row_stride_huge", _desc(row_stride=2**40), None, "load"),
    # section table
    ("offset_past_end", _offset_past_end, None, "load"),
    ("first_offset_past_end", _first_offset_past_end, None, "load"),
    ("length_past_end", _length_past_end, None, "load"),
    ("offset_huge", lambda f: ft.reemit(f, patch_descriptor=_patch_entry(0, offset=2**63)), None, "load"),
    ("length_huge", lambda f: ft.reemit(f, patch_descriptor=_patch_entry(0, length=2**64 - 64)), None, "load"),
    ("offset_negative", lambda f: ft.reemit(f, patch_descriptor=_patch_entry(0, offset=-64)), None, "load"),
    ("offset_inside_descriptor", lambda f: ft.reemit(f, patch_descriptor=_patch_entry(0, offset=0)), None, "load"),
    ("overlapping", _overlapping, None, "load"),
    ("overlapping_same_offset", _overlapping_same_offset, None, "load"),
    ("out_of_order", _out_of_order, None, "load"),
    ("misaligned", _misaligned, None, "load"),
    ("misaligned_but_consistent", _misaligned_but_consistent, None, "load"),
    ("ids_short", _section_short("ids", 8), None, "load"),
    ("ids_long", _section_long("ids", 8), None, "load"),
    ("vectors_short_row", _section_short("vectors", 16 * 4), None, "load"),
    ("vectors_short_float", _section_short("vectors", 4), None, "load"),
    ("level0_links_short", _section_short("level0_links", 4), None, "load"),
    ("upper_links_short", _section_short("upper_links", 4), None, "load"),
    ("levels_long", _section_long("levels", 1), None, "load"),
    ("length_field_lies", _length_field_lies, None, "load"),
    ("extra_section", _extra_section, None, "load"),
    ("scales_on_l2", _scales_on_l2, None, "load"),
    ("duplicate_section_name", _duplicate_section, None, "load"),
    ("sections_not_a_list", _sections_not_a_list, None, "load"),
    ("section_entry_missing_offset", _section_entry_missing("offset"), None, "load"),
    ("section_entry_missing_checksum", _section_entry_missing("checksum"), None, "load"),
    ("section_entry_missing_name", _section_entry_missing("name"), None, "load"),
    ("section_entry_offset_str", _section_entry_wrong_type("offset", "128"), None, "load"),
    ("section_entry_checksum_float", _section_entry_wrong_type("checksum", 1.5), None, "load"),
    ("section_entry_name_int", _section_entry_wrong_type("name", 3), None, "load"),
    ("section_entry_unknown_name", _section_entry_wrong_type("name", "bogus"), None, "load"),
]
CASES += [(f"missing_section_{s}", _missing_section(s), None, "load") for s in
          ("vectors", "ids", "levels", "level0_links", "upper_offsets", "upper_links")]
CASES += [
    # graph: level-0 links (checked by verify() for a mapped file)
    ("level0_link_eq_count_all", _sections_modified(level0_links=_set_all_level0(1, N)), "level0_links", "verify"),
    ("level0_link_u32max_all", _sections_modified(level0_links=_set_all_level0(1, 2**32 - 1)), "level0_links", "verify"),
    ("level0_link_eq_count_one", _sections_modified(level0_links=_one_level0(N)), "level0_links", "verify"),
    ("level0_link_2_31_one", _sections_modified(level0_links=_one_level0(2**31)), "level0_links", "verify"),
    ("level0_count_above_bound_all", _sections_modified(level0_links=_set_all_level0(0, 2 * M + 1)), "level0_links", "verify"),
    ("level0_count_u32max_all", _sections_modified(level0_links=_set_all_level0(0, 2**32 - 1)), "level0_links", "verify"),
    # upper links, levels, ids, entry point (checked at load even for a mapped file)
    ("upper_link_eq_count", _sections_modified(upper_links=_upper_link(1, N)), "upper_links", "load"),
    ("upper_link_u32max", _sections_modified(upper_links=_upper_link(1, 2**32 - 1)), "upper_links", "load"),
    ("upper_count_above_bound", _sections_modified(upper_links=_upper_link(0, M + 1)), "upper_links", "load"),
    ("upper_count_u32max", _sections_modified(upper_links=_upper_link(0, 2**32 - 1)), "upper_links", "load"),
    ("level_above_max", _sections_modified(levels=_level_above_max), None, "load"),
    ("level_255", _sections_modified(levels=lambda a, f: a.__setitem__(_node_on_level(f, 0), 255)), None, "load"),
    ("shared_upper_blocks", _upper_offsets(_shared_blocks), "upper_offsets", "load"),
    ("upper_block_outside", _upper_offsets(_block_outside), "upper_offsets", "load"),
    ("upper_block_partly_outside", _upper_offsets(_block_partly_outside), "upper_offsets", "load"),
    ("upper_node_without_block", _upper_offsets(_no_block_for_upper_node), "upper_offsets", "load"),
    ("entry_point_eq_count", _desc(entry_point=N), None, "load"),
    ("entry_point_huge", _desc(entry_point=2**40), None, "load"),
    ("entry_point_minus_one", _desc(entry_point=-1), None, "load"),
    ("entry_point_minus_two", _desc(entry_point=-2), None, "load"),
    ("entry_point_not_on_top", _entry_not_on_top, None, "load"),
    ("max_level_plus_one", _max_level_wrong(+1), None, "load"),
    ("max_level_minus_one", _max_level_wrong(-1), None, "load"),
    ("max_level_300", _desc(max_level=300), None, "load"),
    ("max_level_minus_one_nonempty", _desc(max_level=-1), None, "load"),
    ("duplicate_ids", _sections_modified(ids=_dup_ids), "ids", "load"),
    # vectors (checked by verify() for a mapped file)
    ("vector_nan", _sections_modified(vectors=lambda a, f: a.__setitem__((3, 2), np.nan)), "vectors", "verify"),
    ("vector_inf", _sections_modified(vectors=lambda a, f: a.__setitem__((N - 1, 0), -np.inf)), "vectors", "verify"),
    # parameters
    ("dim_negative", _desc(dim=-8), "descriptor", "load"),
    ("dim_zero", _desc(dim=0), "descriptor", "load"),
    ("dim_huge", _desc(dim=2**40), None, "load"),
    ("dim_other_stride", _desc(dim=20), None, "load"),
    ("metric_unknown", _desc(metric="hamming"), "descriptor", "load"),
    ("storage_unknown", _desc(storage="int8"), "descriptor", "load"),
    ("storage_not_a_string", _desc(storage=16), "descriptor", "load"),
    ("storage_float16_over_float32_rows", _desc(storage="float16"), None, "load"),
    ("metric_cosine_without_scales", _desc(metric="cosine"), None, "load"),
    ("metric_empty", _desc(metric=""), "descriptor", "load"),
    ("metric_bytes", _desc(metric=b"l2"), "descriptor", "load"),
    ("metric_params_not_map", _desc(metric_params=[1]), "descriptor", "load"),
    ("M_one", _desc(M=1), None, "load"),
    ("M_zero", _desc(M=0), None, "load"),
    ("M_negative", _desc(M=-4), None, "load"),
    ("M_huge", _desc(M=2**40), None, "load"),
    ("M_other", _desc(M=M + 1), None, "load"),
    ("ef_zero", _desc(ef=0), "descriptor", "load"),
    ("ef_negative", _desc(ef=-1), "descriptor", "load"),
    ("ef_construction_zero", _desc(ef_construction=0), "descriptor", "load"),
    ("seed_negative", _desc(seed=-1), "descriptor", "load"),
    ("max_id_too_small", _max_id_below, None, "load"),
    ("library_not_str", _desc(library=5), "descriptor", "load"),
    # versions
    ("header_major_4", _header(major=4), None, "load"),
    ("header_major_0", _header(major=0), None, "load"),
    ("header_major_65535", _header(major=65535), None, "load"),
    ("descriptor_version_4", _desc(format_version=[4, 0]), None, "load"),
    ("descriptor_version_2", _desc(format_version=[2, 0]), None, "load"),
    ("descriptor_version_1", _desc(format_version=[1, 0]), None, "load"),
    ("descriptor_version_mismatch_minor", _desc(format_version=[3, 3]), None, "load"),
    ("descriptor_version_not_list", _desc(format_version="2.0"), "descriptor", "load"),
    ("descriptor_version_short", _desc(format_version=[2]), "descriptor", "load"),
    ("bad_magic", _header(magic=b"\x89VSY\r\n\x1a\n"), "header", "load"),
    ("big_endian_mark", _header(endian=0x04030201), "header", "load"),
    # descriptor framing
    ("descriptor_length_past_end", _descriptor_length(lambda f: f.file_size + 100), None, "load"),
    ("descriptor_length_huge", _descriptor_length(lambda f: 2**63), None, "load"),
    ("descriptor_length_u64_max", _descriptor_length(lambda f: 2**64 - 1), None, "load"),
    ("descriptor_length_zero", _descriptor_length(lambda f: 0), None, "load"),
    ("descriptor_list", _descriptor_bytes(ft.encode_descriptor([1, 2, 3])), "descriptor", "load"),
    ("descriptor_int", _descriptor_bytes(ft.encode_descriptor(7)), "descriptor", "load"),
    ("descriptor_nil", _descriptor_bytes(b"\xc0"), "descriptor", "load"),
    ("descriptor_empty_map", _descriptor_bytes(ft.encode_descriptor({})), "descriptor", "load"),
    ("descriptor_invalid_msgpack", _descriptor_bytes(b"\xc1\xc1\xc1\xc1"), "descriptor", "load"),
    ("descriptor_int_keys", _descriptor_bytes(ft.encode_descriptor({1: 2, 3: 4})), "descriptor", "load"),
    ("descriptor_deep_nesting", _descriptor_bytes(b"\x91" * 100000 + b"\xc0"), "descriptor", "load"),
    ("descriptor_huge_array_header", _descriptor_bytes(b"\xdd\xff\xff\xff\xff"), "descriptor", "load"),
    ("descriptor_huge_str_header", _descriptor_bytes(b"\x81\xdb\xff\xff\xff\xff"), "descriptor", "load"),
    ("descriptor_truncated_msgpack", _desc_truncated_msgpack, "descriptor", "load"),
    ("descriptor_trailing_bytes", _descriptor_trailing_bytes, "descriptor", "load"),
]
CASES += [(f"missing_key_{k}", _desc(**{k: DELETE}), None, "load") for k in REQUIRED_KEYS]
CASES += [(f"str_for_{k}", (lambda k: lambda f: ft.with_descriptor(f, **{k: str(f.descriptor[k])}))(k), None, "load") for k in INT_KEYS]
CASES += [(f"float_for_{k}", (lambda k: lambda f: ft.with_descriptor(f, **{k: float(f.descriptor[k])}))(k), None, "load") for k in INT_KEYS]
CASES += [(f"nil_for_{k}", _desc(**{k: None}), None, "load") for k in INT_KEYS + ["metric", "sections", "metric_params"]]
CASES += [(f"list_for_{k}", (lambda k: lambda f: ft.with_descriptor(f, **{k: [f.descriptor[k]]}))(k), None, "load") for k in INT_KEYS]


@pytest.mark.parametrize("name,maker,section,mmap", CASES, ids=[c[0] for c in CASES])
def test_crafted(tmp_path, name, maker, section, mmap):
    f = good_file()
    data = maker(f)
    assert data != good()
    assert_rejected(tmp_path, data, section=section, mmap=mmap)


def test_case_names_are_unique():
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))


EMPTY_CASES = [
    ("entry_point_zero", _desc(entry_point=0)),
    ("max_level_zero", _desc(max_level=0)),
    ("count_one", _desc(count=1)),
    ("upper_blocks_one", _desc(upper_blocks=1)),
    ("one_node_sections_count_zero", None),
]


@pytest.mark.parametrize("name,maker", EMPTY_CASES, ids=[c[0] for c in EMPTY_CASES])
def test_crafted_empty_index(tmp_path, name, maker):
    f = empty_file()
    if maker is None:  # the sections of one node, but count 0
        one = ft.parse(bytes(_build("l2", 1)))
        data = ft.reemit(f, sections=one.sections)
    else:
        data = maker(f)
    assert_rejected(tmp_path, data)


def test_cosine_without_scales_section(tmp_path):
    f = good_file("cosine")
    d = copy.deepcopy(f.descriptor)
    d["sections"] = [e for e in d["sections"] if e["name"] != "scales"]
    data = ft.emit(d, [(k, v) for k, v in f.sections.items() if k != "scales"])
    assert_rejected(tmp_path, data)
    data = ft.with_descriptor(f, metric="l2")
    assert_rejected(tmp_path, data)


def test_newer_major_version_message(tmp_path):
    f = good_file()
    d = copy.deepcopy(f.descriptor)
    d["format_version"] = [4, 0]
    data = ft.reemit(f, descriptor=d, major=4)
    path = write(tmp_path, data)
    for kw in ({}, {"mmap": True}):
        with pytest.raises(IndexFormatError, match=r"(?i)newer") as err:
            vsearch.load(path, **kw)
        check_error(err.value, path)
        assert "vsearch" in str(err.value).lower() or "format" in str(err.value).lower()
    with pytest.raises(IndexFormatError, match=r"(?i)newer"):
        vsearch.Index.from_bytes(data)
    with pytest.raises(IndexFormatError, match=r"(?i)newer"):
        vsearch.info(path)


def test_newer_minor_version_loads(tmp_path):
    """Newer minors only add optional descriptor keys: a 3.1 file with an unknown key loads."""
    f = good_file()
    d = copy.deepcopy(f.descriptor)
    d["format_version"] = [3, 1]
    d["some_future_option"] = {"x": [1, 2, 3]}
    data = ft.reemit(f, descriptor=d, minor=1)
    path = write(tmp_path, data)
    reference = vsearch.Index.from_bytes(good())
    for index in (vsearch.Index.from_bytes(data), vsearch.load(path), vsearch.load(path, mmap=True, verify=True)):
        a = index.search(QUERIES, k=5, threads=1)
        b = reference.search(QUERIES, k=5, threads=1)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.distances, b.distances)
    assert tuple(vsearch.info(path)["format_version"]) == (3, 1)


def test_a_version_2_file_loads_as_float32(tmp_path):
    """Version 2 had no storage key: its rows are float32."""
    f = good_file()
    d = copy.deepcopy(f.descriptor)
    d["format_version"] = [2, 0]
    del d["storage"]
    data = ft.reemit(f, descriptor=d, major=2)
    path = write(tmp_path, data)
    reference = vsearch.Index.from_bytes(good())
    for index in (vsearch.Index.from_bytes(data), vsearch.load(path), vsearch.load(path, mmap=True, verify=True)):
        assert index.storage == "float32"
        a = index.search(QUERIES, k=5, threads=1)
        b = reference.search(QUERIES, k=5, threads=1)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.distances, b.distances)
    assert tuple(vsearch.info(path)["format_version"]) == (2, 0)


def test_padding_slack_loads(tmp_path):
    """Extra zero padding before the first section (offsets still aligned and consistent) is valid."""
    f = good_file()
    data = ft.reemit(f, extra_gap=128)
    assert data != good()
    index = vsearch.load(write(tmp_path, data), mmap=True, verify=True)
    assert len(index) == N


def test_max_id_below_the_ids_never_duplicates(tmp_path):
    """A max_id smaller than the largest id: rejected, or automatic ids still never collide."""
    data = _max_id_below(good_file())
    try:
        index = vsearch.Index.from_bytes(data)
    except IndexFormatError:
        return
    new = index.add(np.ones((3, DIM), np.float32))
    assert new.min() >= N
    assert len(index) == N + 3


# ----------------------------------------------------------------------------- error messages


def test_error_names_file_and_section_for_a_bad_level0_link(tmp_path):
    f = good_file()
    data = _sections_modified(level0_links=_one_level0(N + 5))(f)
    path = write(tmp_path, data, "named.vsx")
    with pytest.raises(IndexFormatError) as err:
        vsearch.load(path)
    e = err.value
    assert e.section == "level0_links" and e.path == str(path)
    assert str(path) in str(e) and "level0_links" in str(e)
    mapped = vsearch.load(path, mmap=True)
    mapped.search(QUERIES, k=10, ef=300, threads=1)
    with pytest.raises(IndexFormatError) as err:
        mapped.verify()
    e = err.value
    assert e.section == "level0_links" and e.path == str(path)
    assert str(path) in str(e) and "level0_links" in str(e)
    with pytest.raises(IndexFormatError) as err:
        vsearch.load(path, mmap=True, verify=True)
    assert err.value.section == "level0_links"
    with pytest.raises(IndexFormatError) as err:
        vsearch.Index.from_bytes(data)
    assert err.value.section == "level0_links" and err.value.path is None
    assert "level0_links" in str(err.value)


@pytest.mark.parametrize("section", ["vectors", "ids", "levels", "level0_links", "upper_offsets", "upper_links"])
def test_checksum_error_names_the_section(tmp_path, section):
    data = bytearray(good())
    e = good_file().entry(section)
    assert e["length"] > 0
    data[e["offset"] + e["length"] - 1] ^= 0x80
    # a flip may leave the section well-formed: a mapped load then only finds it in verify()
    assert_rejected(tmp_path, bytes(data), section=section, mmap="verify")


def test_cosine_scales_checksum(tmp_path):
    data = bytearray(good("cosine"))
    e = good_file("cosine").entry("scales")
    data[e["offset"]] ^= 0x01
    with pytest.raises(IndexFormatError) as err:
        vsearch.Index.from_bytes(bytes(data))
    assert err.value.section == "scales"


def test_mmap_search_with_bad_links_everywhere(tmp_path):
    """Every level-0 link out of range in a mapped file: searching gives wrong results, never a crash."""
    f = good_file()
    for value in (N, N + 1, 2**31 - 1, 2**31, 2**32 - 1):
        links = ft.section_array(f, "level0_links")
        links[:, 0] = 2 * M
        links[:, 1:] = value
        data = ft.with_sections(f, level0_links=links)
        path = write(tmp_path, data, f"links{value}.vsx")
        mapped = vsearch.load(path, mmap=True)
        r = mapped.search(QUERIES, k=10, ef=50, threads=2)
        assert r.ids.shape == (len(QUERIES), 10)
        with pytest.raises(IndexFormatError):
            mapped.verify()


# ----------------------------------------------------------------------------- removed and free slots


def churned_file() -> VsxFile:
    """An index with free slots (20 removed and consolidated) and tombstones (10 more removed)."""
    if "churned" not in _CACHE:
        index = _build("l2")
        index.remove(np.arange(20), threads=1)  # past consolidate_fraction: repaired and freed
        index.consolidate_fraction = 1.0
        index.remove(np.arange(20, 30), threads=1)
        stats = index.stats()
        assert (stats["free_slots"], stats["removed"]) == (20, 10)
        _CACHE["churned"] = bytes(index)
    return ft.parse(_CACHE["churned"])


def _slots(f: VsxFile, state: int) -> np.ndarray:
    return np.flatnonzero(ft.section_array(f, "slot_states") == state)


LIVE, REMOVED, FREE = 0, 1, 2


def _at_slot(state: int, fn: Callable[[np.ndarray, int], None]) -> Callable[[np.ndarray, VsxFile], None]:
    """fn(array, slot) on the first slot in `state`."""
    return lambda a, f: fn(a, int(_slots(f, state)[0]))


def _set(column: int | None, value) -> Callable[[np.ndarray, int], None]:
    def fn(a: np.ndarray, slot: int) -> None:
        if column is None:
            a[slot] = value
        else:
            a[slot, column] = value
    return fn


def _link_to_free(a: np.ndarray, f: VsxFile) -> None:
    live = int(_slots(f, LIVE)[0])
    a[live, 0] = max(a[live, 0], 1)
    a[live, 1] = int(_slots(f, FREE)[0])


def _upper_link_to_free(a: np.ndarray, f: VsxFile) -> None:
    rows = np.flatnonzero(a[:, 0] >= 1)
    a[rows[0], 1] = int(_slots(f, FREE)[0])


def _unowned_block_dirty(a: np.ndarray, f: VsxFile) -> None:
    levels, offsets = ft.section_array(f, "levels"), ft.section_array(f, "upper_offsets")
    owned = {int(offsets[i]) + l for i in range(len(levels)) for l in range(int(levels[i]))}
    free = sorted(set(range(a.shape[0])) - owned)
    assert free, "the churned file has no free upper block"
    a[free[0], 0] = 1


def _entry_on_free_slot(f: VsxFile) -> bytes:
    return ft.with_descriptor(f, entry_point=int(_slots(f, FREE)[0]))


def _version1_with_states(f: VsxFile) -> bytes:
    d = copy.deepcopy(f.descriptor)
    d["format_version"] = [1, 0]
    return ft.reemit(f, descriptor=d, major=1)


STATE_CASES = [
    ("state_unknown", _sections_modified(slot_states=lambda a, f: a.__setitem__(0, 3)), "slot_states", "load"),
    ("entry_point_free", _entry_on_free_slot, "slot_states", "load"),
    ("free_slot_with_id", _sections_modified(ids=_at_slot(FREE, _set(None, 12345))), "ids", "load"),
    ("removed_slot_with_id", _sections_modified(ids=_at_slot(REMOVED, _set(None, 12345))), "ids", "load"),
    ("live_slot_with_missing_id", _sections_modified(ids=_at_slot(LIVE, _set(None, -1))), "ids", "load"),
    ("free_slot_with_level", _sections_modified(levels=_at_slot(FREE, _set(None, 1))), "levels", "load"),
    ("upper_link_to_free_slot", _sections_modified(upper_links=_upper_link_to_free), "upper_links", "load"),
    ("unowned_block_not_zero", _sections_modified(upper_links=_unowned_block_dirty), "upper_links", "load"),
    ("level0_link_to_free_slot", _sections_modified(level0_links=_link_to_free), "level0_links", "verify"),
    ("free_slot_with_links", _sections_modified(level0_links=_at_slot(FREE, _set(0, 1))), "level0_links", "verify"),
    ("free_slot_with_vector", _sections_modified(vectors=_at_slot(FREE, _set(0, 1.0))), "vectors", "verify"),
    ("version1_with_states_section", _version1_with_states, "descriptor", "load"),
    ("consolidate_fraction_above_one", _desc(consolidate_fraction=1.5), "descriptor", "load"),
    ("consolidate_fraction_int", _desc(consolidate_fraction=0), "descriptor", "load"),
    ("consolidate_fraction_nan", _desc(consolidate_fraction=float("nan")), "descriptor", "load"),
    ("consolidate_fraction_missing", _desc(consolidate_fraction=DELETE), "descriptor", "load"),
]


@pytest.mark.parametrize("name,maker,section,mmap", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_crafted_slot_states(tmp_path, name, maker, section, mmap):
    """Files with removed and free slots whose checksums are right and whose structure lies."""
    data = maker(churned_file())
    assert data != _CACHE["churned"]
    assert_rejected(tmp_path, data, section=section, mmap=mmap)


def test_churned_file_loads_everywhere(tmp_path):
    """The file the crafted cases start from is valid: same answers from every loader."""
    data = ft.reemit(churned_file())
    assert data == _CACHE["churned"]  # the independent writer reproduces it byte for byte
    path = write(tmp_path, data, "churned.vsx")
    reference = vsearch.Index.from_bytes(data)
    assert len(reference) == N - 30 and 25 not in reference and reference.stats()["free_slots"] == 20
    for index in (vsearch.load(path), vsearch.load(path, mmap=True, verify=True)):
        assert index.stats()["removed"] == 10 and index.consolidate_fraction == 1.0
        a, b = index.search(QUERIES, k=10, threads=1), reference.search(QUERIES, k=10, threads=1)
        assert np.array_equal(a.ids, b.ids) and not np.isin(a.ids, np.arange(30)).any()

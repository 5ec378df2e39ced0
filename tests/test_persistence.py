"""Saving and loading indexes: files, bytes, pickle, memory maps (vsearch/FORMAT.md)."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import vsearch
from vsearch.errors import IndexFormatError, ReadOnlyIndexError, VSearchError

import format_tools as ft

FIXTURES = Path(__file__).resolve().parent / "fixtures"
METRICS = ("l2", "ip", "cosine")
CASES = ("empty", "one", "multilevel")
METHODS = ("file", "bytes", "pickle", "mmap", "mmap_verify")


# ----------------------------------------------------------------------------- helpers


def random_rows(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def build(metric: str, case: str) -> vsearch.Index:
    if case == "empty":
        index = vsearch.Index(8, metric, M=6, ef_construction=40, ef=20, seed=11)
    elif case == "one":
        index = vsearch.Index(8, metric, M=6, ef_construction=40, ef=20, seed=12)
        index.add(random_rows(1, 8, 1), ids=[42], threads=1)
    else:
        index = vsearch.Index(12, metric, M=4, ef_construction=48, ef=20, seed=13)
        data = random_rows(3000, 12, 2)
        index.add(data[:2000], threads=1)  # auto ids 0..1999
        index.add(data[2000:], ids=np.arange(2000, 3000) * 7 + 5, threads=1)  # sparse ids
        assert index.stats()["max_level"] >= 2
    index.ef = 23  # not the default, not the constructor's value
    return index


_BUILT: dict = {}


def built(metric: str, case: str) -> vsearch.Index:
    """Built once per session (read-only use by the tests)."""
    key = (metric, case)
    if key not in _BUILT:
        _BUILT[key] = build(metric, case)
    return _BUILT[key]


def all_ids(index: vsearch.Index) -> np.ndarray:
    """Ids of all vectors, recovered from the file format (the API has no id listing)."""
    if len(index) == 0:
        return np.zeros(0, dtype=np.int64)
    f = ft.parse(bytes(index))
    return ft.section_array(f, "ids")


def queries_for(index: vsearch.Index) -> np.ndarray:
    return random_rows(25, index.dim, 99)


def assert_same_index(a: vsearch.Index, b: vsearch.Index, ids: np.ndarray | None = None) -> None:
    assert len(a) == len(b)
    assert (a.dim, a.metric, a.M, a.ef_construction, a.ef, a.seed) == (
        b.dim,
        b.metric,
        b.M,
        b.ef_construction,
        b.ef,
        b.seed,
    )
    sa, sb = a.stats(), b.stats()
    for key in ("count", "max_level", "level_counts"):
        assert sa[key] == sb[key], key
    if ids is None:
        ids = all_ids(a)
    if len(ids):
        assert np.array_equal(a.get(ids), b.get(ids))
        assert all(int(i) in b for i in ids[:50])
    q = queries_for(a)
    for kw in ({}, {"ef": 5}, {"ef": 100}):
        ra = a.search(q, k=10, threads=1, **kw)
        rb = b.search(q, k=10, threads=1, **kw)
        assert np.array_equal(ra.ids, rb.ids), kw
        assert np.array_equal(ra.distances, rb.distances), kw
    ra, rb = a.search(q[0], k=3), b.search(q[0], k=3)
    assert np.array_equal(ra.ids, rb.ids) and np.array_equal(ra.distances, rb.distances)


def round_trip(index: vsearch.Index, method: str, tmp_path: Path) -> vsearch.Index:
    path = tmp_path / f"rt_{method}.vsx"
    if method == "bytes":
        data = bytes(index)
        assert isinstance(data, bytes)
        return vsearch.Index.from_bytes(data)
    if method == "pickle":
        return pickle.loads(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
    index.save(path)
    if method == "file":
        return vsearch.load(path)
    if method == "mmap":
        return vsearch.load(path, mmap=True)
    if method == "mmap_verify":
        return vsearch.load(str(path), mmap=True, verify=True)
    raise AssertionError(method)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("metric", METRICS)
def test_round_trip(metric, case, method, tmp_path):
    index = built(metric, case)
    loaded = round_trip(index, method, tmp_path)
    assert isinstance(loaded, vsearch.Index)
    assert loaded.ef == 23
    assert loaded.read_only is method.startswith("mmap")
    assert_same_index(index, loaded)
    if case == "one":
        assert 42 in loaded and np.array_equal(loaded.get(42), index.get(42))
    # the loaded index saves to the very same bytes
    assert bytes(loaded) == bytes(index)
    loaded.verify()


def test_bytes_and_file_are_the_same_format(tmp_path):
    index = built("cosine", "multilevel")
    index.save(tmp_path / "a.vsx")
    assert (tmp_path / "a.vsx").read_bytes() == bytes(index)
    assert bytes(index).startswith(ft.MAGIC)


def test_save_accepts_str_and_pathlike(tmp_path):
    index = built("l2", "one")
    index.save(str(tmp_path / "s.vsx"))
    index.save(tmp_path / "p.vsx")
    assert (tmp_path / "s.vsx").read_bytes() == (tmp_path / "p.vsx").read_bytes()
    assert len(vsearch.load(str(tmp_path / "s.vsx"))) == 1


@pytest.mark.parametrize("metric", METRICS)
def test_file_matches_the_spec(metric):
    """An independent reader (format_tools, written from FORMAT.md) understands the file."""
    index = built(metric, "multilevel")
    data = bytes(index)
    f = ft.parse(data)  # checks magic, endianness, both CRCs, alignment, zero padding, end of file
    assert (f.major, f.minor) == (3, 0)
    d = f.descriptor
    assert list(d["format_version"]) == [3, 0]
    assert isinstance(d["library"], str) and "vsearch" in d["library"]
    assert d["dim"] == index.dim and d["metric"] == metric and d["metric_params"] == {}
    assert (d["M"], d["ef_construction"], d["ef"], d["seed"]) == (4, 48, 23, 13)
    n = len(index)
    assert d["count"] == n
    assert d["max_level"] == index.stats()["max_level"]
    assert d["row_stride"] == 16
    names = [e["name"] for e in f.table]
    expected = ["vectors", "scales", "ids", "levels", "level0_links", "upper_offsets", "upper_links", "slot_states"]
    if metric != "cosine":
        expected.remove("scales")
    assert names == expected
    vectors = ft.section_array(f, "vectors")
    ids = ft.section_array(f, "ids")
    assert len(set(ids.tolist())) == n
    assert d["max_id"] == ids.max()
    assert np.array_equal(vectors[:, : index.dim], index.get(ids))
    assert not vectors[:, index.dim :].any()
    if metric == "cosine":
        scales = ft.section_array(f, "scales")
        expected_scales = 1.0 / np.linalg.norm(vectors.astype(np.float64), axis=1)
        np.testing.assert_allclose(scales, expected_scales, rtol=1e-5)
    levels = ft.section_array(f, "levels")
    assert levels.max() == d["max_level"] and levels[d["entry_point"]] == d["max_level"]
    level_counts = index.stats()["level_counts"]
    for level, count in enumerate(level_counts):
        assert int((levels == level).sum()) == count  # nodes whose top level is `level`
    links = ft.section_array(f, "level0_links")
    assert (links[:, 0] <= 2 * d["M"]).all()
    for row in links:
        assert (row[1 : 1 + row[0]] < n).all()
    offsets = ft.section_array(f, "upper_offsets")
    assert ((offsets == ft.NO_UPPER) == (levels == 0)).all()
    upper = ft.section_array(f, "upper_links")
    assert upper.shape[0] == d["upper_blocks"] == int(levels.astype(np.int64).sum())
    used = np.concatenate([offsets[i] + np.arange(levels[i]) for i in range(n) if levels[i] > 0])
    assert len(set(used.tolist())) == len(used) and used.max() < upper.shape[0]
    assert (upper[:, 0] <= d["M"]).all()
    assert not ft.section_array(f, "slot_states").any()  # nothing removed: every slot live
    assert d["consolidate_fraction"] == vsearch.limits.DEFAULT_CONSOLIDATE_FRACTION
    # and the same file re-emitted by the independent writer loads to the same index
    again = vsearch.Index.from_bytes(ft.reemit(f))
    assert_same_index(index, again, ids)


def test_empty_index_file_matches_the_spec():
    f = ft.parse(bytes(built("ip", "empty")))
    d = f.descriptor
    assert (d["count"], d["max_level"], d["entry_point"], d["max_id"], d["upper_blocks"]) == (0, -1, -1, -1, 0)
    assert all(e["length"] == 0 for e in f.table)


def test_crc32c_python_matches_core():
    core = vsearch._core.crc32c
    assert core(b"123456789") == 0xE3069283 == ft.crc32c_py(b"123456789")
    assert core(b"") == 0 == ft.crc32c_py(b"")
    rng = np.random.default_rng(5)
    for n in (1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4099):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert core(data) == ft.crc32c_py(data), n
        assert core(memoryview(data)) == core(bytearray(data)) == core(np.frombuffer(data, np.uint8))
        half = n // 2
        assert core(data[half:], core(data[:half])) == core(data), n
        assert ft.crc32c_py(data[half:], ft.crc32c_py(data[:half])) == ft.crc32c_py(data), n


# ----------------------------------------------------------------------------- continuing a loaded index


@pytest.mark.parametrize("method", ["file", "bytes", "pickle", "mmap_copy"])
def test_loaded_index_accepts_adds_and_ids_continue(method, tmp_path):
    index = vsearch.Index(8, "l2", M=8, ef_construction=40, seed=1)
    index.add(random_rows(50, 8, 3), ids=np.arange(50) * 3 + 10, threads=1)  # max id 157
    if method == "mmap_copy":
        index.save(tmp_path / "x.vsx")
        loaded = vsearch.load(tmp_path / "x.vsx", mmap=True).copy()
    else:
        loaded = round_trip(index, method, tmp_path)
    assert not loaded.read_only
    new = loaded.add(random_rows(5, 8, 4), threads=1)
    assert new.tolist() == [158, 159, 160, 161, 162]
    assert len(loaded) == 55 and len(index) == 50
    assert 160 in loaded and 160 not in index
    loaded.add(random_rows(1, 8, 5), ids=[3])
    with pytest.raises(vsearch.errors.DuplicateIdError):
        loaded.add(random_rows(1, 8, 6), ids=[10])
    r = loaded.search(random_rows(1, 8, 5)[0], k=1)
    assert r.ids[0] == 3 and r.distances[0] == 0


def test_empty_loaded_index_auto_ids_start_at_zero(tmp_path):
    loaded = round_trip(built("cosine", "empty"), "file", tmp_path)
    assert loaded.add(random_rows(3, 8, 1)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("method", ["file", "bytes", "pickle", "mmap_copy"])
@pytest.mark.parametrize("metric", METRICS)
def test_level_generator_continues_after_load(metric, method, tmp_path):
    data = random_rows(2500, 8, 21)
    first, second = data[:1200], data[1200:]
    direct = vsearch.Index(8, metric, M=4, ef_construction=32, seed=77)
    direct.add(first, threads=1)
    direct.add(second, threads=1)

    staged = vsearch.Index(8, metric, M=4, ef_construction=32, seed=77)
    staged.add(first, threads=1)
    if method == "mmap_copy":
        staged.save(tmp_path / "s.vsx")
        resumed = vsearch.load(tmp_path / "s.vsx", mmap=True).copy()
    else:
        resumed = round_trip(staged, method, tmp_path)
    resumed.add(second, threads=1)

    assert direct.stats()["level_counts"] == resumed.stats()["level_counts"]
    assert_same_index(direct, resumed, np.arange(2500))
    assert bytes(direct) == bytes(resumed)


# ----------------------------------------------------------------------------- memory-mapped indexes


def test_mmap_index_is_read_only(tmp_path):
    index = built("l2", "multilevel")
    path = tmp_path / "m.vsx"
    index.save(path)
    mapped = vsearch.load(path, mmap=True)
    assert mapped.read_only is True
    assert index.read_only is False
    assert vsearch.load(path).read_only is False
    with pytest.raises(ReadOnlyIndexError) as err:
        mapped.add(random_rows(1, 12, 1))
    assert isinstance(err.value, VSearchError)
    assert "copy()" in str(err.value)
    with pytest.raises(ReadOnlyIndexError):
        mapped.add(random_rows(3, 12, 1), ids=[1, 2, 3])
    assert len(mapped) == len(index)
    mapped.verify()
    assert_same_index(index, mapped)


def test_mmap_copy_is_writable_and_independent(tmp_path):
    index = built("cosine", "multilevel")
    path = tmp_path / "m.vsx"
    index.save(path)
    mapped = vsearch.load(path, mmap=True)
    copy = mapped.copy()
    assert copy.read_only is False
    assert_same_index(mapped, copy)
    before = path.read_bytes()
    copy.add(random_rows(10, 12, 8), threads=1)
    assert len(copy) == len(index) + 10 and len(mapped) == len(index)
    assert path.read_bytes() == before
    assert_same_index(index, mapped)
    # a copy of a writable index is independent too
    c2 = index.copy()
    assert_same_index(index, c2)
    c2.add(random_rows(1, 12, 9))
    assert len(c2) == len(index) + 1


def test_mmap_index_pickles_and_saves(tmp_path):
    index = built("ip", "multilevel")
    index.save(tmp_path / "m.vsx")
    mapped = vsearch.load(tmp_path / "m.vsx", mmap=True)
    unpickled = pickle.loads(pickle.dumps(mapped))
    assert unpickled.read_only is False
    assert_same_index(index, unpickled)
    mapped.save(tmp_path / "again.vsx")
    assert (tmp_path / "again.vsx").read_bytes() == (tmp_path / "m.vsx").read_bytes()


def test_mmap_survives_the_file_being_replaced(tmp_path):
    """Saving over a mapped file replaces it atomically: the mapping keeps the old contents."""
    index = built("l2", "multilevel")
    path = tmp_path / "m.vsx"
    index.save(path)
    mapped = vsearch.load(path, mmap=True)
    other = built("l2", "one")
    other.save(path)
    assert len(vsearch.load(path)) == 1
    assert_same_index(index, mapped)
    mapped.verify()


def test_mmap_search_many_threads(tmp_path):
    index = built("l2", "multilevel")
    index.save(tmp_path / "m.vsx")
    mapped = vsearch.load(tmp_path / "m.vsx", mmap=True)
    q = random_rows(200, 12, 31)
    a = index.search(q, k=5, threads=1)
    b = mapped.search(q, k=5, threads=4)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.distances, b.distances)


# ----------------------------------------------------------------------------- info


@pytest.mark.parametrize("metric", METRICS)
def test_info(metric, tmp_path):
    index = built(metric, "multilevel")
    path = tmp_path / "i.vsx"
    index.save(path)
    meta = vsearch.info(path)
    assert meta == vsearch.info(str(path))
    assert tuple(meta["format_version"]) == (3, 0) and isinstance(meta["format_version"], tuple)
    assert meta["dim"] == 12 and meta["metric"] == metric and meta["count"] == 3000
    assert (meta["M"], meta["ef_construction"], meta["ef"], meta["seed"]) == (4, 48, 23, 13)
    assert meta["file_size"] == os.path.getsize(path)
    f = ft.read(path)
    keys = ("name", "offset", "length", "checksum")
    assert [{k: s[k] for k in keys} for s in meta["sections"]] == [{k: e[k] for k in keys} for e in f.table]


def test_info_of_empty_index(tmp_path):
    built("l2", "empty").save(tmp_path / "e.vsx")
    meta = vsearch.info(tmp_path / "e.vsx")
    assert meta["count"] == 0 and meta["dim"] == 8 and meta["ef"] == 23


def test_info_does_not_read_the_data(tmp_path):
    index = built("l2", "multilevel")
    data = bytearray(bytes(index))
    f = ft.parse(data)
    for name in ("vectors", "level0_links", "ids"):
        e = f.entry(name)
        for pos in (e["offset"], e["offset"] + e["length"] // 2, e["offset"] + e["length"] - 1):
            data[pos] ^= 0xFF
    path = tmp_path / "corrupt.vsx"
    path.write_bytes(data)
    meta = vsearch.info(path)
    assert meta["count"] == 3000 and meta["dim"] == 12
    with pytest.raises(IndexFormatError):
        vsearch.load(path)


def test_info_rejects_a_bad_header(tmp_path):
    path = tmp_path / "bad.vsx"
    path.write_bytes(b"\x89VSX\r\n\x1a\nnot really an index file at all" * 3)
    with pytest.raises(IndexFormatError) as err:
        vsearch.info(path)
    assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError):
        vsearch.info(tmp_path / "missing.vsx")


# ----------------------------------------------------------------------------- saving


def test_save_overwrites(tmp_path):
    path = tmp_path / "o.vsx"
    built("l2", "multilevel").save(path)
    built("ip", "one").save(path)
    loaded = vsearch.load(path)
    assert len(loaded) == 1 and loaded.metric == "ip"
    assert sorted(os.listdir(tmp_path)) == ["o.vsx"]


def test_save_leaves_no_temp_files(tmp_path):
    for metric in METRICS:
        built(metric, "multilevel").save(tmp_path / f"{metric}.vsx")
        built(metric, "empty").save(tmp_path / f"{metric}.vsx")
    assert sorted(os.listdir(tmp_path)) == ["cosine.vsx", "ip.vsx", "l2.vsx"]


def test_saved_file_permissions_follow_the_umask(tmp_path):
    """Like any file written with open(path, "wb"): mode 0o666 minus the umask (not a temp file's 0o600)."""
    old = os.umask(0o022)
    try:
        built("l2", "one").save(tmp_path / "new.vsx")
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    assert (tmp_path / "new.vsx").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 == 0o644


def test_save_to_missing_directory(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.vsx"
    with pytest.raises(FileNotFoundError):
        built("l2", "one").save(target)
    assert os.listdir(tmp_path) == []
    with pytest.raises(OSError):
        built("l2", "one").save(tmp_path / "no" / "x.vsx")
    assert os.listdir(tmp_path) == []


def test_save_onto_a_directory_fails_cleanly(tmp_path):
    (tmp_path / "d.vsx").mkdir()
    with pytest.raises(OSError):
        built("l2", "one").save(tmp_path / "d.vsx")
    assert os.listdir(tmp_path) == ["d.vsx"] and os.listdir(tmp_path / "d.vsx") == []


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        vsearch.load(tmp_path / "missing.vsx")
    with pytest.raises(FileNotFoundError):
        vsearch.load(tmp_path / "missing.vsx", mmap=True)


def test_index_format_error_is_a_value_error():
    assert issubclass(IndexFormatError, VSearchError) and issubclass(IndexFormatError, ValueError)
    assert issubclass(ReadOnlyIndexError, VSearchError)
    with pytest.raises(ValueError):
        vsearch.Index.from_bytes(b"nope")
    with pytest.raises(IndexFormatError) as err:
        vsearch.Index.from_bytes(b"nope")
    assert err.value.path is None


# ----------------------------------------------------------------------------- committed fixture


def test_committed_v1_fixture():
    path = FIXTURES / "index_v1.vsx"
    expected = np.load(FIXTURES / "index_v1_expected.npz")
    assert path.stat().st_size < 50_000
    for index in (vsearch.load(path), vsearch.load(path, mmap=True, verify=True)):
        assert (index.dim, index.metric, index.M, index.ef, index.seed) == (8, "l2", 8, 40, 0)
        assert len(index) == 200
        assert np.array_equal(index.get(np.arange(1000, 1200)), expected["vectors"])
        result = index.search(expected["queries"], k=10, threads=1)
        assert np.array_equal(result.ids, expected["ids"])
        assert np.array_equal(result.distances, expected["distances"])
        index.verify()
    meta = vsearch.info(path)
    assert tuple(meta["format_version"]) == (1, 0) and meta["count"] == 200
    ft.read(path)  # the independent reader agrees
    # a version-1 index is fully writable, and saves as version 2
    index = vsearch.load(path)
    assert index.remove(np.arange(1000, 1100)) == 100 and len(index) == 100
    again = vsearch.Index.from_bytes(bytes(index))
    again.verify()
    assert ft.parse(bytes(again)).major == ft.CURRENT_MAJOR and len(again) == 100 and 1000 not in again


# ----------------------------------------------------------------------------- buffers, concurrency


def test_from_bytes_accepts_buffers_and_copies_them():
    index = built("cosine", "multilevel")
    data = bytes(index)
    shifted = memoryview(b"x" + data)[1:]  # not 8-byte aligned
    assert_same_index(index, vsearch.Index.from_bytes(shifted))
    mutable = bytearray(data)
    loaded = vsearch.Index.from_bytes(mutable)
    mutable[:] = bytes(len(mutable))  # the index must not borrow the caller's buffer
    assert_same_index(index, loaded)
    assert_same_index(index, vsearch.Index.from_bytes(np.frombuffer(data, np.uint8)))


def test_mmap_index_saves_over_its_own_file(tmp_path):
    index = built("l2", "multilevel")
    path = tmp_path / "own.vsx"
    index.save(path)
    mapped = vsearch.load(path, mmap=True)
    mapped.ef = 31  # a search parameter: allowed on a read-only index, and saved
    mapped.save(path)
    assert sorted(os.listdir(tmp_path)) == ["own.vsx"]
    assert vsearch.load(path).ef == 31
    mapped.ef = 23
    assert_same_index(index, mapped)
    mapped.verify()


def test_save_while_another_thread_adds(tmp_path):
    """Adds wait while a save writes: every file saved meanwhile is consistent."""
    import threading

    index = vsearch.Index(8, "l2", M=4, ef_construction=16)
    index.add(random_rows(500, 8, 40))
    stop = threading.Event()
    errors = []

    def adder():
        try:
            seed = 41
            while not stop.is_set() and len(index) < 40_000:
                index.add(random_rows(200, 8, seed), threads=1)
                seed += 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=adder)
    thread.start()
    try:
        sizes = []
        for i in range(15):
            path = tmp_path / f"c{i}.vsx"
            index.save(path)
            loaded = vsearch.load(path)
            loaded.verify()
            sizes.append(len(loaded))
            assert vsearch.Index.from_bytes(bytes(index)).verify() is None
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert sizes == sorted(sizes) and sizes[0] >= 500

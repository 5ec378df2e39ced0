"""One set of limits (vsearch.limits), enforced by the constructor, the setters and the file reader:
every index vsearch accepts saves and loads back, and nothing past a limit is accepted anywhere."""
from __future__ import annotations

import numpy as np
import pytest

import vsearch
from vsearch import _core, limits
from vsearch.errors import IdOverflowError, IndexFormatError, InvalidParameterError

import format_tools as ft


def _round_trip(index: vsearch.Index, tmp_path, queries: np.ndarray) -> None:
    expected = index.search(queries, k=3)
    path = _saved(index, tmp_path)
    for loaded in (vsearch.load(path), vsearch.load(path, mmap=True), vsearch.Index.from_bytes(bytes(index))):
        assert (loaded.dim, loaded.M, loaded.ef, loaded.ef_construction) == (
            index.dim, index.M, index.ef, index.ef_construction)
        got = loaded.search(queries, k=3)
        np.testing.assert_array_equal(got.ids, expected.ids)
        np.testing.assert_array_equal(got.distances, expected.distances)
        loaded.verify()


def _saved(index: vsearch.Index, tmp_path) -> str:
    path = str(tmp_path / "limit.vsx")
    index.save(path)
    return path


def test_limits_come_from_the_core():
    assert (limits.MAX_DIM, limits.MAX_M, limits.MAX_EF, limits.MAX_LEVEL, limits.MAX_ELEMENTS) == (
        _core.MAX_DIM, _core.MAX_M, _core.MAX_EF, _core.MAX_LEVEL, _core.MAX_ELEMENTS)
    assert vsearch.limits is limits


def test_largest_dim_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    index = vsearch.Index(limits.MAX_DIM, "cosine", M=2, ef_construction=4)
    index.add(rng.standard_normal((3, limits.MAX_DIM)).astype(np.float32))
    _round_trip(index, tmp_path, rng.standard_normal((2, limits.MAX_DIM)).astype(np.float32))


@pytest.mark.parametrize("params", [{"M": limits.MAX_M}, {"ef": limits.MAX_EF}, {"ef_construction": limits.MAX_EF},
                                    {"M": 2, "ef": 1, "ef_construction": 1}])
def test_largest_and_smallest_parameters_round_trip(tmp_path, params):
    rng = np.random.default_rng(1)
    index = vsearch.Index(8, **params)
    index.add(rng.standard_normal((300, 8)).astype(np.float32))
    assert len(index) == 300
    _round_trip(index, tmp_path, rng.standard_normal((5, 8)).astype(np.float32))


@pytest.mark.parametrize("args, kwargs", [
    ((limits.MAX_DIM + 1,), {}), ((2**20 + 16,), {}), ((0,), {}),
    ((8,), {"M": limits.MAX_M + 1}), ((8,), {"M": 1}),
    ((8,), {"ef": limits.MAX_EF + 1}), ((8,), {"ef": 2**40}), ((8,), {"ef": 0}),
    ((8,), {"ef_construction": limits.MAX_EF + 1}), ((8,), {"ef_construction": 2**31}),
    ((8,), {"ef_construction": 2**31 + 1}),
])
def test_constructor_rejects_what_the_reader_would(args, kwargs):
    with pytest.raises(InvalidParameterError, match="must be"):
        vsearch.Index(*args, **kwargs)


@pytest.mark.parametrize("field, value", [("dim", 2**20 + 16), ("M", limits.MAX_M + 1), ("ef", limits.MAX_EF + 1),
                                          ("ef_construction", limits.MAX_EF + 1), ("ef", 2**31),
                                          ("ef_construction", 2**31)])
def test_native_core_enforces_the_same_limits(field, value):
    values = {"dim": 8, "M": 16, "ef": 64, "ef_construction": 200, field: value}
    with pytest.raises(ValueError, match="must be in"):
        _core.HnswIndex(_core.make_params(values["dim"], "l2", values["M"], values["ef_construction"], values["ef"], 0))


def test_ef_setter_and_search_ef_are_bounded():
    index = vsearch.Index(4)
    index.add(np.eye(4, dtype=np.float32))
    index.ef = limits.MAX_EF
    assert index.ef == limits.MAX_EF
    assert index.search(np.ones(4), k=2).ids.tolist()[0] in range(4)
    for bad in (0, limits.MAX_EF + 1, 2**31):
        with pytest.raises(InvalidParameterError):
            index.ef = bad
        with pytest.raises(InvalidParameterError):
            index.search(np.ones(4), k=2, ef=bad)
    with pytest.raises(ValueError):
        index._core.ef = limits.MAX_EF + 1  # the core itself refuses too
    assert index.ef == limits.MAX_EF


@pytest.mark.parametrize("field", ["ef", "ef_construction"])
def test_absurd_beam_widths_in_a_file_are_rejected(tmp_path, field):
    index = vsearch.Index(4)
    index.add(np.eye(4, dtype=np.float32))
    f = ft.parse(bytes(index))
    path = tmp_path / "absurd.vsx"
    for value in (limits.MAX_EF + 1, 2**31, 2**31 + 1):
        path.write_bytes(ft.with_descriptor(f, **{field: value}))
        for mmap in (False, True):
            with pytest.raises(IndexFormatError, match=field):
                vsearch.load(path, mmap=mmap)
    path.write_bytes(ft.with_descriptor(f, **{field: limits.MAX_EF}))
    loaded = vsearch.load(path)
    assert getattr(loaded, field) == limits.MAX_EF
    loaded.add(np.ones((2, 4), np.float32))  # no MemoryError: the beam is bounded by the index's size
    assert loaded.search(np.ones(4), k=10).ids.tolist()[:6] != [-1] * 6


def test_automatic_ids_past_int64_raise_a_vsearch_error():
    index = vsearch.Index(2)
    index.add([[1.0, 0.0]], ids=[2**63 - 1])
    with pytest.raises(IdOverflowError, match="pass ids explicitly"):
        index.add([[0.0, 1.0]])
    assert len(index) == 1
    assert index.add([[0.0, 1.0]], ids=[5]).tolist() == [5]

"""Bad inputs: the right exception class, a helpful message, and an index left unchanged."""
import re

import numpy as np
import pytest

from vsearch import Index, errors
from conftest import graph_stats, random_vectors

DIM = 8
N0 = 50
Q = random_vectors(4, DIM, seed=101)


# ----------------------------------------------------------------------------- hierarchy
def test_error_hierarchy():
    E = errors
    assert issubclass(E.VSearchError, Exception)
    for cls, bases in [
        (E.DimensionMismatchError, (E.VSearchError, ValueError)),
        (E.InvalidVectorError, (E.VSearchError, ValueError)),
        (E.InvalidDTypeError, (E.VSearchError, TypeError)),
        (E.DuplicateIdError, (E.VSearchError, ValueError)),
        (E.InvalidParameterError, (E.VSearchError, ValueError)),
        (E.UnknownMetricError, (E.InvalidParameterError, E.VSearchError, ValueError)),
        (E.UnknownIdError, (E.VSearchError, KeyError)),
    ]:
        for b in bases:
            assert issubclass(cls, b), (cls, b)


# ----------------------------------------------------------------------------- helpers
def _make(metric):
    idx = Index(DIM, metric=metric, seed=0)
    idx.add(random_vectors(N0, DIM, seed=100))
    return idx


def _snapshot(idx):
    res = idx.search(Q, k=5)
    return {
        "len": len(idx),
        "ids": res.ids.copy(),
        "dist": res.distances.copy(),
        "vecs": idx.get(list(range(N0))).copy(),
        "stats": graph_stats(idx),
        "ef": idx.ef,
    }


def _assert_unchanged(idx, snap):
    assert len(idx) == snap["len"]
    res = idx.search(Q, k=5)
    np.testing.assert_array_equal(res.ids, snap["ids"])
    np.testing.assert_array_equal(res.distances, snap["dist"])
    np.testing.assert_array_equal(idx.get(list(range(N0))), snap["vecs"])
    assert graph_stats(idx) == snap["stats"]
    assert idx.ef == snap["ef"]
    # a rejected call consumed no ids and left no partial node behind: the next auto id is N0
    nxt = idx.add(random_vectors(1, DIM, seed=102))
    np.testing.assert_array_equal(nxt, [N0])
    assert len(idx) == N0 + 1


def _nan_last(n=5):
    x = random_vectors(n, DIM, seed=103)
    x[-1, 3] = np.nan
    return x


def _inf_first(n=5, val=np.inf):
    x = random_vectors(n, DIM, seed=104)
    x[0, 0] = val
    return x


def _zero_last(n=4):
    x = random_vectors(n, DIM, seed=105)
    x[-1] = 0.0
    return x


def _set_ef(idx, v):
    idx.ef = v


E = errors
V3 = random_vectors(3, DIM, seed=106)

# (case id, metric, call, expected exception class)
BAD_CALLS = [
    # --- add: dimension / ndim
    ("add_wrong_dim_2d", "l2", lambda i: i.add(np.ones((3, DIM - 1), np.float32)), E.DimensionMismatchError),
    ("add_wrong_dim_1d", "l2", lambda i: i.add(np.ones(DIM + 1, np.float32)), E.DimensionMismatchError),
    ("add_3d", "l2", lambda i: i.add(np.ones((2, 2, DIM), np.float32)), E.DimensionMismatchError),
    ("add_0d", "l2", lambda i: i.add(np.float32(1.0)), E.DimensionMismatchError),
    # --- add: values
    ("add_nan_only_last_vector", "l2", lambda i: i.add(_nan_last()), E.InvalidVectorError),
    ("add_inf", "l2", lambda i: i.add(_inf_first()), E.InvalidVectorError),
    ("add_neg_inf", "l2", lambda i: i.add(_inf_first(val=-np.inf)), E.InvalidVectorError),
    ("add_nan_1d", "ip", lambda i: i.add(np.full(DIM, np.nan, np.float32)), E.InvalidVectorError),
    ("add_nan_float64", "cosine", lambda i: i.add(_nan_last().astype(np.float64)), E.InvalidVectorError),
    ("add_zero_vector_cosine", "cosine", lambda i: i.add(_zero_last()), E.InvalidVectorError),
    ("add_zero_vector_cosine_1d", "cosine", lambda i: i.add(np.zeros(DIM, np.float32)), E.InvalidVectorError),
    # --- add: dtypes
    ("add_string_array", "l2", lambda i: i.add(np.array([["a"] * DIM])), E.InvalidDTypeError),
    ("add_string_list", "l2", lambda i: i.add([["x"] * DIM, ["y"] * DIM]), E.InvalidDTypeError),
    ("add_object", "l2", lambda i: i.add(np.array([[None] * DIM], dtype=object)), E.InvalidDTypeError),
    ("add_complex", "l2", lambda i: i.add(np.ones((2, DIM), np.complex64)), E.InvalidDTypeError),
    # --- add: ids
    ("add_duplicate_within_batch", "l2", lambda i: i.add(V3, ids=[100, 101, 100]), E.DuplicateIdError),
    ("add_id_already_present", "l2", lambda i: i.add(V3, ids=[100, 101, 7]), E.DuplicateIdError),
    ("add_ids_too_few", "l2", lambda i: i.add(V3, ids=[100, 101]), E.InvalidParameterError),
    ("add_ids_too_many", "l2", lambda i: i.add(V3, ids=[100, 101, 102, 103]), E.InvalidParameterError),
    ("add_ids_2d", "l2", lambda i: i.add(V3, ids=np.array([[100], [101], [102]])), E.InvalidParameterError),
    ("add_ids_float", "l2", lambda i: i.add(V3, ids=[1.5, 2.5, 3.5]), E.InvalidParameterError),
    ("add_ids_float_array", "l2", lambda i: i.add(V3, ids=np.array([100.5, 101.0, 102.0])), E.InvalidParameterError),
    ("add_ids_strings", "l2", lambda i: i.add(V3, ids=["a", "b", "c"]), E.InvalidParameterError),
    ("add_negative_threads", "l2", lambda i: i.add(V3, threads=-1), E.InvalidParameterError),
    # --- search
    ("search_wrong_dim_2d", "l2", lambda i: i.search(np.ones((2, DIM - 3), np.float32), 3), E.DimensionMismatchError),
    ("search_wrong_dim_1d", "l2", lambda i: i.search(np.ones(DIM + 2, np.float32), 3), E.DimensionMismatchError),
    ("search_3d", "l2", lambda i: i.search(np.ones((1, 2, DIM), np.float32), 3), E.DimensionMismatchError),
    ("search_nan", "l2", lambda i: i.search(_nan_last(2), 3), E.InvalidVectorError),
    ("search_inf", "ip", lambda i: i.search(_inf_first(2), 3), E.InvalidVectorError),
    ("search_zero_vector_cosine", "cosine", lambda i: i.search(np.zeros(DIM, np.float32), 3), E.InvalidVectorError),
    ("search_zero_row_cosine", "cosine", lambda i: i.search(_zero_last(3), 3), E.InvalidVectorError),
    ("search_string", "l2", lambda i: i.search(np.array(["1"] * DIM), 3), E.InvalidDTypeError),
    ("search_complex", "l2", lambda i: i.search(np.ones(DIM, np.complex128), 3), E.InvalidDTypeError),
    ("search_k_0", "l2", lambda i: i.search(Q, k=0), E.InvalidParameterError),
    ("search_k_neg", "l2", lambda i: i.search(Q, k=-1), E.InvalidParameterError),
    ("search_ef_0", "l2", lambda i: i.search(Q, k=3, ef=0), E.InvalidParameterError),
    ("search_ef_neg", "l2", lambda i: i.search(Q, k=3, ef=-4), E.InvalidParameterError),
    ("search_negative_threads", "l2", lambda i: i.search(Q, k=3, threads=-2), E.InvalidParameterError),
    # --- ef setter
    ("set_ef_0", "l2", lambda i: _set_ef(i, 0), E.InvalidParameterError),
    ("set_ef_neg", "l2", lambda i: _set_ef(i, -1), E.InvalidParameterError),
    # --- get
    ("get_unknown_int", "l2", lambda i: i.get(999), E.UnknownIdError),
    ("get_unknown_in_list", "l2", lambda i: i.get([0, 1, 999]), E.UnknownIdError),
    ("get_negative_unknown", "cosine", lambda i: i.get([-1]), E.UnknownIdError),
]


@pytest.mark.parametrize("case,metric,call,exc", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_rejected_call_raises_and_leaves_index_unchanged(case, metric, call, exc):
    idx = _make(metric)
    snap = _snapshot(idx)
    with pytest.raises(exc) as info:
        call(idx)
    assert isinstance(info.value, errors.VSearchError)
    # the standard-library base class promised by the spec
    std = {E.DimensionMismatchError: ValueError, E.InvalidVectorError: ValueError,
           E.InvalidDTypeError: TypeError, E.DuplicateIdError: ValueError,
           E.InvalidParameterError: ValueError, E.UnknownIdError: KeyError}[exc]
    assert isinstance(info.value, std)
    _assert_unchanged(idx, snap)


def test_ids_not_added_after_duplicate_rejection():
    idx = _make("l2")
    with pytest.raises(errors.DuplicateIdError):
        idx.add(V3, ids=[100, 101, 7])
    assert 100 not in idx and 101 not in idx
    # and the same new ids are accepted afterwards
    np.testing.assert_array_equal(idx.add(V3, ids=[100, 101, 102]), [100, 101, 102])
    np.testing.assert_array_equal(idx.get(7), random_vectors(N0, DIM, seed=100)[7])


def test_rejected_add_on_empty_index_keeps_it_empty():
    idx = Index(DIM)
    with pytest.raises(errors.InvalidVectorError):
        idx.add(_nan_last())
    assert len(idx) == 0
    ids, dist = idx.search(Q[0], k=2)
    assert np.all(ids == -1) and np.all(np.isposinf(dist))
    np.testing.assert_array_equal(idx.add(V3), [0, 1, 2])


# ----------------------------------------------------------------------------- constructor
@pytest.mark.parametrize("kwargs", [
    dict(dim=0), dict(dim=-3), dict(dim=8, M=1), dict(dim=8, M=0), dict(dim=8, M=-16),
    dict(dim=8, ef_construction=0), dict(dim=8, ef_construction=-1), dict(dim=8, ef=0),
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_constructor_rejects_bad_parameters(kwargs):
    with pytest.raises(errors.InvalidParameterError) as info:
        Index(**kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, errors.VSearchError)


def test_constructor_rejects_unknown_metric():
    with pytest.raises(errors.UnknownMetricError) as info:
        Index(8, metric="hamming")
    e = info.value
    assert isinstance(e, errors.InvalidParameterError) and isinstance(e, ValueError)
    msg = str(e)
    assert "hamming" in msg, msg                      # what was given
    assert "l2" in msg and "cosine" in msg, msg       # what is expected


def test_constructor_minimum_valid_values():
    """The boundary values themselves (dim=1, M=2, ef_construction=1, ef=1) are valid."""
    idx = Index(1, M=2, ef_construction=1, ef=1)
    assert (idx.dim, idx.M, idx.ef_construction, idx.ef) == (1, 2, 1, 1)
    idx.add(np.arange(20, dtype=np.float32)[:, None])
    assert len(idx) == 20
    ids, dist = idx.search(np.array([7.2], np.float32), k=3, ef=20)
    assert set(ids.tolist()) <= set(range(20)) and np.all(np.isfinite(dist))


# ----------------------------------------------------------------------------- messages
def _has_number(msg, n):
    return re.search(rf"(?<![\d.]){n}(?![\d.])", msg) is not None


def test_dim_error_message_names_expected_and_given_add():
    idx = Index(DIM)
    with pytest.raises(errors.DimensionMismatchError) as info:
        idx.add(np.ones((3, 5), np.float32))
    msg = str(info.value)
    assert _has_number(msg, DIM) and _has_number(msg, 5), msg


def test_dim_error_message_names_expected_and_given_search():
    idx = _make("l2")
    with pytest.raises(errors.DimensionMismatchError) as info:
        idx.search(np.ones(13, np.float32), 3)
    msg = str(info.value)
    assert _has_number(msg, DIM) and _has_number(msg, 13), msg


def test_k_error_message_names_given_value():
    idx = _make("l2")
    with pytest.raises(errors.InvalidParameterError) as info:
        idx.search(Q, k=-7)
    assert "-7" in str(info.value) and "k" in str(info.value), str(info.value)


def test_duplicate_error_message_names_the_id():
    idx = _make("l2")
    with pytest.raises(errors.DuplicateIdError) as info:
        idx.add(V3, ids=[1000, 1001, 37])
    assert _has_number(str(info.value), 37), str(info.value)
    with pytest.raises(errors.DuplicateIdError) as info:
        idx.add(V3, ids=[4242, 1001, 4242])
    assert _has_number(str(info.value), 4242), str(info.value)


def test_unknown_id_error_message_names_the_id():
    idx = _make("l2")
    with pytest.raises(errors.UnknownIdError) as info:
        idx.get([3, 98765])
    assert _has_number(str(info.value), 98765), str(info.value)


def test_ids_length_error_message_names_both_lengths():
    idx = _make("l2")
    with pytest.raises(errors.InvalidParameterError) as info:
        idx.add(random_vectors(6, DIM, seed=107), ids=np.arange(1000, 1004))
    msg = str(info.value)
    assert _has_number(msg, 6) and _has_number(msg, 4), msg


# ----------------------------------------------------------------------------- extreme inputs
def test_ragged_list_is_a_vsearch_error():
    """A ragged nested list cannot form an (n, dim) array: it must be reported as a vsearch error
    (a wrong shape), not leak numpy's internal ValueError; the index stays unchanged."""
    idx = _make("l2")
    snap = _snapshot(idx)
    with pytest.raises(errors.VSearchError) as info:
        idx.add([[1.0] * DIM, [1.0] * (DIM - 1)])
    assert isinstance(info.value, ValueError)
    with pytest.raises(errors.VSearchError):
        idx.search([[1.0] * DIM, [1.0] * (DIM + 1)], 3)
    _assert_unchanged(idx, snap)


@pytest.mark.parametrize("scale", [1e-25, 1e-15, 1e15, 1e25])
def test_cosine_extreme_magnitudes_are_rejected_or_exact(scale):
    """cosine is scale invariant: a finite, non-zero vector of any magnitude has a direction.
    Either the index rejects a vector whose norm it cannot represent (InvalidVectorError, index
    unchanged), or it serves it correctly: finite distances equal to those of the unscaled
    vectors.  It must never return NaN or -inf distances."""
    base = random_vectors(30, DIM, seed=110)
    q = random_vectors(3, DIM, seed=111)
    ref_idx = Index(DIM, metric="cosine")
    ref_idx.add(base)
    ref = ref_idx.search(q, k=30)

    idx = Index(DIM, metric="cosine")
    idx.add(base[:-1])
    try:
        idx.add(base[-1:] * scale)                        # one tiny/huge vector in the index
    except errors.InvalidVectorError:
        assert len(idx) == 29
    else:
        r = idx.search(q, k=30)
        assert np.all(np.isfinite(r.distances)), r.distances
        np.testing.assert_array_equal(np.sort(r.ids, axis=1), np.sort(ref.ids, axis=1))
        np.testing.assert_allclose(r.distances, ref.distances, rtol=1e-4, atol=1e-5)
    try:
        rq = ref_idx.search(q * scale, k=30)              # tiny/huge queries
    except errors.InvalidVectorError:
        pass
    else:
        assert np.all(np.isfinite(rq.distances)), rq.distances
        np.testing.assert_allclose(rq.distances, ref.distances, rtol=1e-4, atol=1e-5)


def test_l2_huge_finite_values_are_rejected_or_returned():
    """Finite float32 components whose squared distance overflows float32 (|x| ~ 1e20).
    Either add rejects them (InvalidVectorError), or a search with k == len(index) still returns
    every id (padding with -1 is only for k > len(index)); distances may be +inf."""
    x = np.array([[1e20, 0, 0, 0], [-1e20, 0, 0, 0], [0, 0, 0, 1]], np.float32)
    idx = Index(4)
    try:
        idx.add(x)
    except errors.InvalidVectorError:
        assert len(idx) == 0
        return
    ids, dist = idx.search(np.zeros(4, np.float32), k=3)
    assert sorted(ids.tolist()) == [0, 1, 2], (ids, dist)
    assert not np.any(np.isnan(dist)), dist

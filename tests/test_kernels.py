"""Distance kernels at every SIMD level against a float64 numpy reference.

``vsearch._core.distance(metric, a, b, simd)`` runs the raw kernel of one ISA level:
  'l2'     -> sum (a_i - b_i)^2
  'ip'     -> 1 - sum a_i b_i
  'cosine' -> 1 - sum a_i b_i / (|a| |b|)
"""
import numpy as np
import pytest

import vsearch
from vsearch import _core
from helpers import available_levels, require_level, place_vector

ALL_LEVELS = ("scalar", "avx2", "avx512")
METRICS = ("l2", "ip", "cosine")
DIMS = [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 127, 128, 384, 768, 1000]
RTOL = 1e-5
EPS32 = float(np.finfo(np.float32).eps)   # 2**-23


def _single(dim: int) -> np.ndarray:
    return np.random.default_rng(dim + 99).standard_normal(dim).astype(np.float32)


def _pair(dim: int, seed: int, positive: bool):
    rng = np.random.default_rng(seed)
    if positive:
        a = rng.uniform(0.5, 1.5, dim)
        b = rng.uniform(0.5, 1.5, dim)
    else:
        a = rng.standard_normal(dim)
        b = rng.standard_normal(dim)
    return a.astype(np.float32), b.astype(np.float32)


def _placed_pairs(dim: int, aligned: bool, positive: bool, seed: int):
    """Three (a, b) pairs placed aligned or not, with their float64 copies (A, B)."""
    for rep in range(3):
        a64, b64 = _pair(dim, seed + 1000 * dim + 10 * rep + (0 if aligned else 5), positive)
        a, b = place_vector(a64, aligned), place_vector(b64, aligned)
        yield a, b, a.astype(np.float64), b.astype(np.float64)


def test_simd_level_isavailable_levels():
    levels = available_levels()
    assert isinstance(levels, list) and levels, levels
    assert set(levels) <= set(ALL_LEVELS), levels
    assert "scalar" in levels
    assert vsearch.simd_level() in levels


def test_unknown_simd_level_raises_value_error():
    a = np.ones(8, np.float32)
    for bad in ("sse9", "", "AVX-1024", "neon_nonexistent"):
        with pytest.raises(ValueError):
            _core.distance("l2", a, a, bad)


def test_unsupported_simd_level_raises_value_error():
    missing = [lv for lv in ALL_LEVELS if lv not in available_levels()]
    if not missing:
        pytest.skip("this CPU supports every level; nothing unsupported to request")
    a = np.ones(8, np.float32)
    for lv in missing:
        with pytest.raises(ValueError):
            _core.distance("l2", a, a, lv)


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_matches_reference_signed_data(level, metric, dim, aligned):
    """Standard-normal data (mixed signs).

    l2: all terms are positive, so the plain relative error |got - ref| / ref is well conditioned.

    ip / cosine: the dot product of mixed-sign data can cancel to ~0, and then no float32
    summation (in any order) has a small *relative* error.  The backward-stable bound for a
    float32 dot product is |fl(a.b) - a.b| <= c * eps * sum_i |a_i b_i|, i.e. the error is
    measured relative to sum|a_i b_i| (the condition-number scaling).  We require
    |err(dot)| <= 1e-5 * sum|a_i b_i| (for cosine divided by |a||b|, plus the error of the norms,
    which is relative to |cos|), plus one float32 rounding of the returned 1 - x value.
    """
    require_level(level)
    for a, b, A, B in _placed_pairs(dim, aligned, positive=False, seed=0):
        got = _core.distance(metric, a, b, level)
        assert isinstance(got, float)
        if metric == "l2":
            ref = float(((A - B) ** 2).sum())
            assert abs(got - ref) <= RTOL * ref, (level, dim, got, ref)
            continue
        S = float(np.abs(A * B).sum())
        dot = float(A @ B)
        if metric == "ip":
            ref = 1.0 - dot
            tol = RTOL * S + 2 * EPS32 * abs(ref)
        else:
            na, nb = float(np.linalg.norm(A)), float(np.linalg.norm(B))
            cos = dot / (na * nb)
            ref = 1.0 - cos
            tol = RTOL * (S / (na * nb) + abs(cos)) + 2 * EPS32 * max(1.0, abs(ref))
        assert abs(got - ref) <= tol, (level, metric, dim, got, ref, tol)


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_matches_reference_positive_data(level, metric, dim, aligned):
    """Strictly positive data in [0.5, 1.5]: no cancellation in the dot product, so the plain
    relative error of the quantity the kernel sums is well defined and must be <= 1e-5:
    l2 -> the squared distance; ip -> the dot product (recovered as 1 - got);
    cosine -> the cosine similarity (recovered as 1 - got; cos >= ~0.8 here)."""
    require_level(level)
    for a, b, A, B in _placed_pairs(dim, aligned, positive=True, seed=7):
        got = _core.distance(metric, a, b, level)
        if metric == "l2":
            ref = float(((A - B) ** 2).sum())
            assert abs(got - ref) <= RTOL * ref, (level, dim, got, ref)
        elif metric == "ip":
            dot = float(A @ B)
            assert abs((1.0 - got) - dot) <= RTOL * dot, (level, dim, got, 1.0 - dot)
        else:
            cos = float(A @ B / (np.linalg.norm(A) * np.linalg.norm(B)))
            assert abs((1.0 - got) - cos) <= RTOL * cos, (level, dim, got, 1.0 - cos)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("level", ALL_LEVELS)
def test_kernel_identical_vectors(level, metric):
    """d(a, a): exactly 0 for l2; 1 - |a|^2 for ip; ~0 for cosine."""
    require_level(level)
    for dim in DIMS:
        a = place_vector(_single(dim), aligned=False)
        A = a.astype(np.float64)
        got = _core.distance(metric, a, a.copy(), level)
        if metric == "l2":
            assert got == 0.0, (level, dim, got)
        elif metric == "ip":
            ref = 1.0 - float(A @ A)
            assert abs(got - ref) <= RTOL * float(A @ A) + 2 * EPS32 * abs(ref), (level, dim, got, ref)
        else:
            assert abs(got) <= 1e-5, (level, dim, got)


@pytest.mark.parametrize("metric", METRICS)
def test_levels_agree_with_each_other(metric):
    """All available levels give (nearly) the same value on the same inputs; a sanity check that
    the dispatch really runs different code paths only differing by summation order."""
    levels = available_levels()
    rng = np.random.default_rng(42)
    for dim in DIMS:
        a = rng.standard_normal(dim).astype(np.float32)
        b = rng.standard_normal(dim).astype(np.float32)
        vals = [_core.distance(metric, a, b, lv) for lv in levels]
        scale = float(np.abs(a.astype(np.float64) * b).sum()) + float(((a - b).astype(np.float64) ** 2).sum())
        if metric == "cosine":
            scale /= float(np.linalg.norm(a) * np.linalg.norm(b))
        assert max(vals) - min(vals) <= 2e-5 * scale + 1e-6, (metric, dim, dict(zip(levels, vals)))

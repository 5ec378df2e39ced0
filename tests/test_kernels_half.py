"""Half-row kernels (storage float16) at every SIMD level against a float64 numpy
reference on the decoded halves, and the float <-> half conversions against numpy's.

``_core.half_kernel(kernel, a, b, shift, simd)``: a float32 ``a`` against a row ``b`` of
IEEE halves (uint16): "l2sq" sum (a_i - b_i)^2, "dot" sum a_i b_i, "l2sq_shifted"
sum (a_i - b_i - shift)^2, with b widened to float32 inside the kernel.
"""
import numpy as np
import pytest

from vsearch import _core
from helpers import place_vector, require_level

from test_kernels import ALL_LEVELS, DIMS

KERNELS = ("l2sq", "dot", "l2sq_shifted")
RTOL = 2e-5


def reference(kernel: str, a: np.ndarray, b: np.ndarray, shift: float) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float16).astype(np.float64)
    if kernel == "l2sq":
        return float(((a64 - b64) ** 2).sum())
    if kernel == "dot":
        return float((a64 * b64).sum())
    return float(((a64 - b64 - shift) ** 2).sum())


@pytest.mark.parametrize("level", ALL_LEVELS)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("aligned", [True, False])
def test_half_kernels_match_numpy_on_the_decoded_halves(level, kernel, aligned):
    require_level(level)
    rng = np.random.default_rng(len(kernel) + 7 * aligned)
    for dim in DIMS:
        a = rng.standard_normal(dim).astype(np.float32)
        b = rng.standard_normal(dim).astype(np.float16)
        shift = float(rng.standard_normal())
        got = _core.half_kernel(kernel, place_vector(a, aligned), place_vector(b.view(np.uint16), aligned), shift, level)
        want = reference(kernel, a, b, shift)
        scale = float((np.abs(a.astype(np.float64)) * np.abs(b.astype(np.float64))).sum()
                      + (a.astype(np.float64) ** 2).sum() + (b.astype(np.float64) ** 2).sum() + dim * shift * shift)
        assert abs(got - want) <= RTOL * scale, (dim, got, want)


@pytest.mark.parametrize("level", ALL_LEVELS)
def test_half_kernels_agree_across_levels_and_with_the_float32_kernel(level):
    require_level(level)
    rng = np.random.default_rng(3)
    for dim in DIMS:
        a = rng.standard_normal(dim).astype(np.float32)
        b = rng.standard_normal(dim).astype(np.float16)
        widened = b.astype(np.float32)
        # The l2 kernel on halves equals the float32 kernel on the same values, widened.
        assert _core.half_kernel("l2sq", a, b.view(np.uint16), 0.0, level) == pytest.approx(
            _core.distance("l2", a, widened, level), rel=RTOL, abs=1e-6)


def test_empty_rows_give_zero():
    for level in ALL_LEVELS:
        if level in _core.supported_simd_levels():
            for kernel in KERNELS:
                assert _core.half_kernel(kernel, np.zeros(0, np.float32), np.zeros(0, np.uint16), 1.0, level) == 0.0


def test_bad_kernel_name_and_shapes_raise():
    with pytest.raises(ValueError, match="unknown half kernel"):
        _core.half_kernel("cos", np.zeros(4, np.float32), np.zeros(4, np.uint16), 0.0, "scalar")
    with pytest.raises(ValueError, match="one length"):
        _core.half_kernel("dot", np.zeros(4, np.float32), np.zeros(5, np.uint16), 0.0, "scalar")


@pytest.mark.parametrize("level", (None, *ALL_LEVELS))
def test_every_half_widens_as_numpy_does(level):
    """The portable conversion (None) and each level's widen kernel (rows used as queries)."""
    if level is not None:
        require_level(level)
    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    numpy = every.view(np.float16).astype(np.float32)
    nan = np.isnan(numpy)
    for start in (0, 1):  # aligned and not; odd lengths exercise the tails
        ours = _core.from_halves(every[start:], level)
        assert np.array_equal(np.isnan(ours), nan[start:])
        assert np.array_equal(ours[~nan[start:]].view(np.uint32), numpy[start:][~nan[start:]].view(np.uint32))
    for n in (0, 1, 7, 8, 15, 16, 17, 33):
        assert np.array_equal(_core.from_halves(every[1000:1000 + n], level), numpy[1000:1000 + n])


def test_floats_round_to_the_nearest_half_as_numpy_does():
    rng = np.random.default_rng(0)
    # Every half's neighbourhood: exact halves, midpoints (ties to even) and a nudge either side.
    halves = np.arange(0x7C00, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
    mids = (halves[:-1] + halves[1:]) / 2
    values = np.concatenate([halves, mids, np.nextafter(mids, 0), np.nextafter(mids, 1), [65519.0, 65520.0, 1e6]])
    values = np.concatenate([values, -values, rng.standard_normal(10_000) * 10.0 ** rng.integers(-9, 5, 10_000),
                             [np.inf, -np.inf]]).astype(np.float32)
    ours = _core.to_halves(values)
    with np.errstate(over="ignore"):  # 65520 and up round to inf, as they should
        assert np.array_equal(ours, values.astype(np.float16).view(np.uint16))
    assert np.isnan(_core.from_halves(_core.to_halves(np.array([np.nan], np.float32))))[0]

from __future__ import annotations

import numpy as np
import pytest

import draqcore
import reference


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (17, 5), (150, 64)])
def test_matches_equations_2_and_3(rng, shape):
    f = rng.standard_normal(shape) * 4 + 1
    got = draqcore.contextualize(f)
    assert got.dtype == np.float32 and got.shape == (shape[0], 2 * shape[1])
    np.testing.assert_allclose(got, reference.contextualize(f), atol=1e-5, rtol=1e-5)


def test_hand_computed_example():
    f = np.array([[1.0], [3.0]])
    # g = [[1, 1/2], [3, 4/2]] -> column means [2, 1.25]
    want = np.array([[-1.0, -0.75], [1.0, 0.75]], dtype=np.float32)
    np.testing.assert_array_equal(draqcore.contextualize(f), want)


def test_is_zero_centred_and_input_untouched(rng):
    f = np.asfortranarray(rng.standard_normal((40, 8)).astype(np.float16))
    before = f.copy()
    out = draqcore.contextualize(f)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_array_equal(f, before)


def test_one_dimensional_input():
    out = draqcore.contextualize(np.arange(4))
    assert out.shape == (4, 2)


@pytest.mark.parametrize(
    ("f", "error", "match"),
    [
        (np.zeros((0, 3)), ValueError, "features: is empty"),
        (np.zeros((3, 0)), ValueError, "features: has no feature columns"),
        (np.zeros((2, 2, 2)), ValueError, "features: expected shape"),
        (np.array([[1.0, np.nan]]), ValueError, "features: row 0 contains NaN or Inf"),
        (np.array([["a"]]), TypeError, "features"),
    ],
)
def test_bad_input(f, error, match):
    with pytest.raises(error, match=match):
        draqcore.contextualize(f)


@pytest.mark.parametrize("scale", [3.3e38, 2.0e38])
def test_finite_input_near_the_float32_range_is_refused_not_made_infinite(scale):
    # f_0 - mean(f) = scale * 4/3 leaves the float32 range for scale = 3.3e38 (but not 2e38)
    f = np.array([[scale], [-scale], [-scale]], dtype=np.float32)
    if scale * 4 / 3 > float(np.finfo(np.float32).max):
        with pytest.raises(ValueError, match=r"features: contextualized value of row 0, column 0 is beyond the float32"):
            draqcore.contextualize(f)
    else:
        out = draqcore.contextualize(f)
        assert np.isfinite(out).all()
        want = f.astype(np.float64) - f.astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(out[:, :1], want, rtol=1e-6)


def test_contextualize_is_finite_for_every_finite_input_it_accepts(rng):
    big = float(np.finfo(np.float32).max)
    for _ in range(40):
        f = (rng.uniform(-1, 1, (int(rng.integers(1, 6)), 3)) * big * rng.uniform(0.1, 1)).astype(np.float32)
        try:
            out = draqcore.contextualize(f)
        except ValueError as exc:
            assert "beyond the float32 range" in str(exc)
        else:
            assert np.isfinite(out).all()


def test_batch_equals_one_call_per_clip(rng):
    clips = [rng.standard_normal((int(rng.integers(1, 300)), 24)) * 3 for _ in range(37)]
    clips[3] = clips[3].astype(np.float16)  # any dtype, any layout
    clips[5] = np.asfortranarray(clips[5])
    want = [draqcore.contextualize(c) for c in clips]
    for threads in (1, 2, None):
        got = draqcore.contextualize_batch(clips, threads=threads)
        assert len(got) == len(clips)
        for g, w in zip(got, want):
            assert g.dtype == np.float32 and g.flags.c_contiguous
            np.testing.assert_array_equal(g, w)
    assert draqcore.contextualize_batch([]) == []
    big = [rng.standard_normal((400, 512)).astype(np.float32) for _ in range(12)]  # parallel path
    for g, b in zip(draqcore.contextualize_batch(big, threads=2), big):
        np.testing.assert_array_equal(g, draqcore.contextualize(b))


def test_batch_errors_name_the_first_bad_clip(rng):
    clips = [rng.standard_normal((20, 4)) for _ in range(6)]
    clips[4][3, 1] = np.nan
    clips[2][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"^features\[2\]: row 0 contains NaN or Inf$"):
        draqcore.contextualize_batch(clips)
    clips = [rng.standard_normal((20, 4)), np.array([[3.3e38], [-3.3e38], [-3.3e38]], dtype=np.float32)]
    with pytest.raises(ValueError, match=r"features\[1\]: feature dimension 1 differs"):
        draqcore.contextualize_batch(clips)
    with pytest.raises(ValueError, match=r"^features\[0\]: contextualized value of row 0, column 0 is beyond"):
        draqcore.contextualize_batch(clips[1:])
    with pytest.raises(ValueError, match=r"features\[1\]: .*0-D"):
        draqcore.contextualize_batch([np.ones((3, 2)), np.float32(1.0)])
    with pytest.raises(TypeError, match="features: expected a list"):
        draqcore.contextualize_batch(np.ones((3, 2)))
    with pytest.raises(ValueError, match="threads: must be at most"):
        draqcore.contextualize_batch([np.ones((3, 2))], threads=10**6)

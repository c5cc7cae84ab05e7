import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jetbook as jb
from jetbook.flows import splits
from jetbook.teaching.brute_force import is_permutation_matrix


def test_patchify_roundtrip_and_layout():
    x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float32).reshape(2, 4, 6, 3)
    t = jb.patchify(x, 2)
    assert t.shape == (2, 6, 12)
    # token 1 is the patch at grid (0, 1): rows 0-1, columns 2-3
    np.testing.assert_array_equal(t[0, 1], x[0, 0:2, 2:4].reshape(-1))
    np.testing.assert_array_equal(jb.unpatchify(t, 2, (4, 6, 3)), x)


def test_patchify_rejects_non_dividing_patch():
    with pytest.raises(ValueError, match="patch_size=3 must divide"):
        jb.patchify(jnp.zeros((1, 8, 8, 1)), 3)


@pytest.mark.parametrize("kind", splits.SPATIAL_KINDS)
def test_spatial_split_is_permutation_and_inverts(kind):
    w = splits.spatial_split_matrix(kind, (4, 6))
    assert is_permutation_matrix(w)
    x = jax.random.normal(jax.random.key(0), (3, 24, 5))
    x1, x2 = splits.split(x, w, splits.TOKEN_AXIS)
    assert x1.shape == x2.shape == (3, 12, 5)
    np.testing.assert_array_equal(splits.merge(x1, x2, w, splits.TOKEN_AXIS), x)


def test_channel_split_is_random_permutation_and_inverts():
    w = splits.channel_split_matrix(0, 12)
    assert is_permutation_matrix(w) and not np.array_equal(w, np.eye(12))
    x = jax.random.normal(jax.random.key(1), (2, 7, 12))
    x1, x2 = splits.split(x, w, splits.FEATURE_AXIS)
    assert x1.shape == (2, 7, 6)
    np.testing.assert_array_equal(splits.merge(x1, x2, w, splits.FEATURE_AXIS), x)


def test_spatial_masks_have_the_promised_shapes():
    grid = (4, 4)
    r, c = np.indices(grid)
    np.testing.assert_array_equal(splits.spatial_mask("rows", grid), r % 2 == 0)
    np.testing.assert_array_equal(splits.spatial_mask("cols-inv", grid), c % 2 == 1)
    np.testing.assert_array_equal(splits.spatial_mask("checkerboard", grid), (r + c) % 2 == 0)


def test_pairing_rows_pairs_each_patch_with_the_one_below():
    grid = (4, 3)
    w = splits.spatial_split_matrix("rows", grid)
    ids = jnp.arange(12.0).reshape(1, 12, 1)                 # token id = row*3 + col
    x1, x2 = splits.split(ids, w, splits.TOKEN_AXIS)
    np.testing.assert_array_equal(x2 - x1, 3.0)              # one grid row further down


def test_split_errors():
    with pytest.raises(ValueError, match="unknown split kind 'diagonal'"):
        splits.spatial_split_matrix("diagonal", (4, 4))
    with pytest.raises(ValueError, match="even number of patch rows"):
        splits.spatial_split_matrix("rows", (3, 4))
    with pytest.raises(ValueError, match="even patch dimension"):
        splits.channel_split_matrix(0, 3)

import jax
import pytest
from flax import nnx

import jetbook as jb
from jetbook.teaching.checks import randomize_params


def make_jet(rand_scale=0.0, seed=0, **fields):
    """A tiny Jet; with rand_scale > 0 its parameters are moved away from the identity."""
    base = dict(image_shape=(8, 8, 1), patch_size=2, num_couplings=5, vit_depth=1,
                vit_width=16, vit_heads=2)
    base.update(fields)
    model = jb.Jet(jb.JetConfig(**base), rngs=nnx.Rngs(seed))
    if rand_scale:
        randomize_params(model, jax.random.key(seed + 1), rand_scale)
    return model


@pytest.fixture
def images_in_range():
    def make(shape, seed=0):
        return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)
    return make

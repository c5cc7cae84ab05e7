"""A class-conditional flow as a classifier: Bayes' rule over its exact likelihoods.

log p(c | x) = log p(x | c) + log p(c) - log sum_c' p(x | c') p(c'), with a uniform prior,
where log p(x | c) is the flow's log-density at x given label c.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jetbook.density.likelihood import bin_centres, gaussian_nll


def classify(model, images, levels: int | None = None, batch_size: int = 512):
    """(N, num_classes) log p(class | image) for a conditional flow, by Bayes' rule.

    `images`: integers in [0, levels) (each read at the centre of its dequantisation bin, so
    `levels` is required) or floats already in model space.
    """
    classes = model.config.num_classes
    if not classes:
        raise ValueError("classify needs a class-conditional model (num_classes > 0)")
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.integer):
        if levels is None:
            raise ValueError("images are integers: pass levels= (e.g. 17 for digits, 256 for "
                             "8-bit images) to place them in model space")
        x = np.asarray(bin_centres(images, levels))
    elif levels is not None:
        raise ValueError("levels is only for integer images; these are floats in model space")
    else:
        x = images.astype(np.float32)
    out = []
    for start in range(0, len(x), batch_size):
        chunk = jnp.asarray(x[start:start + batch_size])
        n = chunk.shape[0]
        every_class = jnp.repeat(jnp.arange(classes, dtype=jnp.int32), n)   # class-major
        z, logdet = model(jnp.tile(chunk, (classes, 1, 1, 1)), every_class)
        log_lik = (logdet - gaussian_nll(z)).reshape(classes, n).T         # (n, classes)
        out.append(jax.nn.log_softmax(log_lik, axis=-1))
    return np.asarray(jnp.concatenate(out))

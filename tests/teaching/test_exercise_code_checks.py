"""The code-writing exercises of the notebooks (01-06, 08): the notebook's solution passes, and a
plausible wrong function is rejected with a hint that says what to look at."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jetbook as jb
from jetbook.flows import splits
from jetbook.teaching import toys

ex = jb.exercises


def _sigmoid_scale(logit):
    return jax.nn.sigmoid(logit) * 2.0


def _per_example(a):
    return a.reshape(a.shape[0], -1).sum(-1)


def _split_matrix(kind, grid, transpose=False, x2_first=False):
    mask = splits.spatial_mask(kind, grid).reshape(-1)
    halves = [np.flatnonzero(mask), np.flatnonzero(~mask)]
    order = np.concatenate(halves[::-1] if x2_first else halves)
    w = np.zeros((mask.size, mask.size), np.float32)
    w[order, np.arange(mask.size)] = 1.0
    return w.T if transpose else w


def _bpd(z, logdet, levels, dequantization_term=True, in_bits=True):
    d = np.prod(z.shape[1:])
    nats = 0.5 * (z.reshape(len(z), -1) ** 2 + np.log(2 * np.pi)).sum(-1) - logdet
    nats = nats + (d * np.log(levels / 2) if dequantization_term else 0.0)
    return nats / d / (np.log(2) if in_bits else 1.0)


def _recipe(config, b2=None, clip=True, warmup=True):
    schedule = (optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, min(config.warmup_steps, config.steps - 1), config.steps, 0.0)
        if warmup else optax.cosine_decay_schedule(config.learning_rate, config.steps))
    adamw = optax.adamw(schedule, b2=config.b2 if b2 is None else b2,
                        weight_decay=config.weight_decay)
    return optax.chain(optax.clip_by_global_norm(config.grad_clip), adamw) if clip else adamw


# (check, the notebook's solution, [(plausible wrong answer, what the message must say)])
CASES = {
    "check_pushforward_log_prob": (
        lambda f, y: toys.normal_log_prob(f.inverse(y)) - f.log_abs_derivative(f.inverse(y)),
        [(lambda f, y: toys.normal_log_prob(f.inverse(y)), "SUBTRACT"),          # forgot |f'|
         (lambda f, y: toys.normal_log_prob(f.inverse(y)) + f.log_abs_derivative(f.inverse(y)),
          "not quite")]),                                                        # wrong sign
    "check_coupling_inverse": (
        lambda y2, b, s: (y2 / _sigmoid_scale(s) - b, -_per_example(jnp.log(_sigmoid_scale(s)))),
        [(lambda y2, b, s: ((y2 - b) / _sigmoid_scale(s), -_per_example(jnp.log(_sigmoid_scale(s)))),
          "x2, test case 0"),                                                    # undone in the wrong order
         (lambda y2, b, s: (y2 / _sigmoid_scale(s) - b, _per_example(jnp.log(_sigmoid_scale(s)))),
          "logdet_inv, test case 0"),                                            # forward's sign
         (lambda y2, b, s: (y2 / _sigmoid_scale(s) - b, -jnp.log(_sigmoid_scale(s)).sum(-1)),
          "logdet_inv, test case 2")]),                                          # summed the last axis only
    "check_flow_log_prob": (
        lambda flow, x: toys.normal_log_prob(flow(x)[0]).sum(-1) + flow(x)[1],
        [(lambda flow, x: toys.normal_log_prob(flow(x)[0]).sum(-1) - flow(x)[1], "PLUS"),
         (lambda flow, x: toys.normal_log_prob(flow(x)[0]).sum(-1), "not quite"),
         (lambda flow, x: toys.normal_log_prob(flow(x)[0]) + flow(x)[1][:, None], "expected shape")]),
    "check_spatial_split_matrix": (
        _split_matrix,
        [(lambda kind, grid: _split_matrix(kind, grid, transpose=True), "not the transpose"),
         (lambda kind, grid: _split_matrix(kind, grid, x2_first=True), "x1 patches first")]),
    "check_bits_per_dim": (
        _bpd,
        [(lambda z, ld, L: _bpd(z, ld, L, dequantization_term=False), "levels / 2"),
         (lambda z, ld, L: _bpd(z, ld, L, in_bits=False), "D \\* ln 2"),
         (lambda z, ld, L: _bpd(z, -ld, L), "not quite")]),
    "check_recipe_optimizer": (
        _recipe,
        [(lambda c: _recipe(c, b2=0.999), "0.999"),                              # optax's default b2
         (lambda c: _recipe(c, clip=False), "clip"),
         (lambda c: _recipe(c, warmup=False), "warms up"),
         (lambda c: optax.adamw(c.learning_rate, b2=0.95), "not quite")]),
    "check_actnorm_logdet": (                                                    # notebook 08
        lambda tokens, log_scale: jnp.full(tokens.shape[:1], tokens.shape[1] * jnp.sum(log_scale)),
        [(lambda t, ls: jnp.full(t.shape[:1], jnp.sum(ls)), "misses the factor K"),
         (lambda t, ls: jnp.full(t.shape[:1], t.shape[1] * jnp.sum(jnp.exp(ls))),
          "sums the scales exp"),
         (lambda t, ls: jnp.full(t.shape[:1], t.shape[0] * jnp.sum(ls)),   # B for K: general hint
          r"not quite.*K tokens = tokens.shape\[1\]"),
         (lambda t, ls: t.shape[1] * jnp.sum(ls), "expected shape \\(3,\\)"),    # one number, not (B,)
         (lambda t, ls: jnp.sum(ls * jnp.ones_like(t), axis=(1, 2)) / 2, "not quite")]),
}


@pytest.mark.parametrize("name", CASES)
def test_solution_passes(name, capsys):
    getattr(ex, name)(CASES[name][0])
    assert "matches the library" in capsys.readouterr().out


@pytest.mark.parametrize("name", CASES)
def test_plausible_wrong_answers_are_rejected_with_a_hint(name):
    for wrong, says in CASES[name][1]:
        with pytest.raises(ex.ExerciseError, match=says):
            getattr(ex, name)(wrong)


@pytest.mark.parametrize("name", CASES)
def test_unwritten_stub_and_none(name):
    def stub(*args):
        raise NotImplementedError

    with pytest.raises(ex.ExerciseError, match="not written yet"):
        getattr(ex, name)(stub)
    with pytest.raises(ex.ExerciseError, match="expected a function"):
        getattr(ex, name)(None)

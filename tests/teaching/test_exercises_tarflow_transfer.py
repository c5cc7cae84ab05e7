"""The exercises of notebooks 09 (TarFlow: shift_params, block_inverse) and 10 (transfer:
overfitting_gap): the notebook's solution passes the public and the hidden tests, plausible
wrong answers are rejected with a message that says what to look at, an answer that is or
calls the library's version is rejected, and the stub counts as unanswered."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jetbook.flows import tarflow
from jetbook.teaching.exercises import EXERCISES
from jetbook.teaching.exercises.transfer import _expected, _records
from tests.teaching.exercise_support import passes, rejected, solution, unanswered


# ------------------------------------------------------------------ 09: shift_params

def _split(shifted):
    a, b = jnp.split(shifted, 2, axis=-1)
    return a, b


def unshifted(out):                        # patch i would see itself
    return _split(out)


def shifted_the_wrong_way(out):            # patch i would see patch i+1
    return _split(jnp.pad(out[:, 1:], ((0, 0), (0, 1), (0, 0))))


def rolled(out):                           # patch 0 gets the last output, which saw everything
    return _split(jnp.roll(out, 1, axis=1))


def shifted_by_two(out):                   # causal, but patch i-1 is wasted
    return _split(jnp.pad(out[:, :-2], ((0, 0), (2, 0), (0, 0))))


def a_and_b_swapped(out):
    a, b = _split(jnp.pad(out[:, :-1], ((0, 0), (1, 0), (0, 0))))
    return b, a


def split_on_the_patch_axis(out):
    shifted = jnp.pad(out[:, :-1], ((0, 0), (1, 0), (0, 0)))
    a, b = jnp.split(shifted, 2, axis=1)
    return a, b


def calls_the_library(out):
    return tarflow.shift_params(out)


def shift_stub(out):
    raise NotImplementedError  # your code


def test_shift_solution_passes():
    passes("shift_params", solution("shift_params"))


def test_shift_other_right_answers_pass():
    def concatenated(out):
        out = jnp.concatenate([jnp.zeros_like(out[:, :1]), out[:, :-1]], axis=1)
        p = out.shape[-1] // 2
        return out[..., :p], out[..., p:]

    def in_numpy(out):
        shifted = np.zeros_like(np.asarray(out))
        shifted[:, 1:] = np.asarray(out)[:, :-1]
        return np.split(shifted, 2, axis=-1)

    for right in (concatenated, in_numpy):
        passes("shift_params", right)


# each is rejected by the public tests and by the hidden ones, with the message given
@pytest.mark.parametrize("wrong, message", [
    (unshifted, "not causal: moving patch 0 changed the (a, b) of patch 0"),
    (shifted_the_wrong_way, "not causal: moving patch 0 changed the (a, b) of patch 0"),
    (rolled, "not causal: moving patch 0 changed the (a, b) of patch 0"),
    (shifted_by_two, "moving patch 0 left the (a, b) of patch 1 unchanged"),
    (a_and_b_swapped, "a and b are swapped"),
    (split_on_the_patch_axis, "a has shape"),
])
def test_shift_rejects_plausible_mistakes(wrong, message):
    for hidden in (False, True):
        assert message in rejected("shift_params", wrong, hidden=hidden)


def test_shift_rejects_the_library():
    assert "library's own" in rejected("shift_params", tarflow.shift_params, hidden=False)
    assert "out of reach" in rejected("shift_params", calls_the_library, hidden=False)
    assert "out of reach" in rejected("shift_params", calls_the_library, hidden=True)


def test_shift_stub_is_unanswered():
    unanswered("shift_params", shift_stub)


# ------------------------------------------------------------------ 09: block_inverse

def one_parallel_pass(params, z):          # right at init, wrong once the block has moved
    a, b = params(z)
    return z * jnp.exp(a) + b, a.sum(axis=(1, 2))


def loop_reading_z(params, z):             # sequential, but the parameters come from z
    x = jnp.zeros_like(z)
    for i in range(z.shape[1]):
        a, b = params(z)
        x = x.at[:, i].set(z[:, i] * jnp.exp(a[:, i]) + b[:, i])
    a, _ = params(x)
    return x, a.sum(axis=(1, 2))


def _sequential(z, params, update, order=None, logdet_sign=1.0, logdet_from=None):
    x = jnp.zeros_like(z)
    for i in order if order is not None else range(z.shape[1]):
        a, b = params(x)
        x = x.at[:, i].set(update(z[:, i], a[:, i], b[:, i]))
    a, _ = params(x if logdet_from is None else logdet_from)
    return x, logdet_sign * a.sum(axis=(1, 2))


def logdet_sign_flipped(params, z):        # the forward's log-det, not the inverse's
    return _sequential(z, params, lambda z_i, a, b: z_i * jnp.exp(a) + b, logdet_sign=-1.0)


def shift_then_scale(params, z):           # the update's two steps in the wrong order
    return _sequential(z, params, lambda z_i, a, b: (z_i + b) * jnp.exp(a))


def scale_by_exp_minus_a(params, z):       # the forward's scale, not its inverse
    return _sequential(z, params, lambda z_i, a, b: z_i * jnp.exp(-a) + b)


def patches_back_to_front(params, z):      # the loop runs in the wrong order
    return _sequential(z, params, lambda z_i, a, b: z_i * jnp.exp(a) + b,
                       order=range(z.shape[1] - 1, -1, -1))


def last_patch_forgotten(params, z):       # off by one: range(K - 1)
    return _sequential(z, params, lambda z_i, a, b: z_i * jnp.exp(a) + b,
                       order=range(z.shape[1] - 1))


def logdet_from_z(params, z):              # the right x, the log-det of the wrong parameters
    return _sequential(z, params, lambda z_i, a, b: z_i * jnp.exp(a) + b, logdet_from=z)


def no_logdet(params, z):
    x, _ = _sequential(z, params, lambda z_i, a, b: z_i * jnp.exp(a) + b)
    return x, jnp.zeros(z.shape[0])


def calls_autoregressive_inverse(params, z):
    x = jnp.zeros_like(z)
    for i in range(z.shape[1]):
        x = x.at[:, i].set(tarflow.autoregressive_inverse(z, *params(x))[0][:, i])
    return tarflow.autoregressive_inverse(z, *params(x))


def inverse_stub(params, z):
    raise NotImplementedError  # your code


def test_inverse_solution_passes():
    passes("block_inverse", solution("block_inverse"))


def test_inverse_other_right_answers_pass():
    """A fori_loop (params traced inside it), the same under jit, and numpy in place."""
    def with_fori_loop(params, z):
        def step(i, x):
            a, b = params(x)
            return x.at[:, i].set(z[:, i] * jnp.exp(a[:, i]) + b[:, i])
        x = jax.lax.fori_loop(0, z.shape[1], step, jnp.zeros_like(z))
        return x, params(x)[0].sum(axis=(1, 2))

    def jitted(params, z):
        return jax.jit(with_fori_loop, static_argnums=0)(params, z)

    def in_numpy(params, z):
        z = np.asarray(z)
        x, logdet = z.copy(), np.zeros(len(z))
        for i in range(z.shape[1]):
            a, b = (np.asarray(t) for t in params(jnp.asarray(x)))
            x[:, i] = z[:, i] * np.exp(a[:, i]) + b[:, i]
            logdet += a[:, i].sum(-1)
        return x, logdet

    for right in (with_fori_loop, jitted, in_numpy):
        passes("block_inverse", right)


# (wrong answer, what the public tests say, what the hidden tests say)
@pytest.mark.parametrize("wrong, public, hidden", [
    # patch 1's parameters read patch 0 only, which is z_0 either way: patch 2 is the first off
    (one_parallel_pass, "inverse(forward(x)) != x (a block with noisy parameters): patches 0..1 "
                        "are right, patch 2 is off", "patches 0..1 are right, patch 2 is off"),
    (loop_reading_z, "patches 0..1 are right, patch 2 is off",
     "patches 0..1 are right, patch 2 is off"),
    (logdet_sign_flipped, "this is the forward's log-det", "this is the forward's log-det"),
    (shift_then_scale, "patch 0 is right, patch 1 is off", "patch 0 is right, patch 1 is off"),
    (scale_by_exp_minus_a, "patch 0 is right, patch 1 is off", "patch 0 is right, patch 1 is off"),
    (patches_back_to_front, "patch 0 is right, patch 1 is off", "patch 0 is right, patch 1 is off"),
    (last_patch_forgotten, "patches 0..14 are right, patch 15 is off",
     "patches 0..2 are right, patch 3 is off"),
    (logdet_from_z, "block_inverse logdet (a block with noisy parameters): not quite",
     "block_inverse logdet (a colour block, noisier): not quite"),
    (no_logdet, "block_inverse logdet (a block with noisy parameters): not quite",
     "block_inverse logdet (a colour block, noisier): not quite"),
])
def test_inverse_rejects_plausible_mistakes(wrong, public, hidden):
    assert public in rejected("block_inverse", wrong, hidden=False)
    assert hidden in rejected("block_inverse", wrong, hidden=True)


def test_inverse_hidden_tests_add_the_order_of_dependence():
    """An answer right on TarFlow blocks that lets x_i read later z (here: a last pass that
    adds a tiny multiple of the mean of z over later patches) passes the public tests, and
    the hidden ones reject it for its causal structure."""
    def peeks_ahead(params, z):
        x, logdet = _sequential(z, params, lambda z_i, a, b: z_i * jnp.exp(a) + b)
        later = jnp.cumsum(z[:, ::-1], axis=1)[:, ::-1] - z
        return x + 3e-6 * later, logdet

    EXERCISES["block_inverse"].run(peeks_ahead, hidden=False, namespace={})
    assert "changed the recovered patches before" in rejected("block_inverse", peeks_ahead)


def test_inverse_rejects_the_library():
    assert "library's own" in rejected("block_inverse", tarflow.FlowBlock.inverse_naive,
                                       hidden=False)
    for hidden in (False, True):
        assert "out of reach" in rejected("block_inverse", calls_autoregressive_inverse,
                                          hidden=hidden)


def test_inverse_stub_is_unanswered():
    unanswered("block_inverse", inverse_stub)


# ------------------------------------------------------------------ 10: overfitting_gap

def gap_stub(records):
    raise NotImplementedError  # your code


# (wrong answer, what the public tests say, what the hidden tests say)
@pytest.mark.parametrize("wrong, public, hidden", [
    (lambda rs: [(r["step"], r["train_eval_bpd"] - r["test_bpd"]) for r in rs if "test_bpd" in r],
     "overfitting gap (records every 5 steps, evaluated every 20): not quite",
     "overfitting gap (evaluated at the first record and every 30 steps, with test_iw_bpd): "
     "not quite"),                                                              # the sign flipped
    (lambda rs: [(r["step"], r["test_bpd"] - r["train_bpd"]) for r in rs if "test_bpd" in r],
     "train_bpd is the loss of the last training batch",           # the last batch, not the images
     "train_bpd is the loss of the last training batch"),
    (lambda rs: [(r["step"], r["test_bpd"] - r["train_eval_bpd"]) for r in rs],
     "KeyError 'test_bpd'", "KeyError 'test_bpd'"),                # every record, evaluated or not
    (lambda rs: [(r["step"], r.get("test_bpd", 0) - r.get("train_eval_bpd", 0)) for r in rs],
     "12 entries for 3 evaluated records", "11 entries for 4 evaluated records"),
    (lambda rs: [(r["step"], r["test_bpd"] - r["train_eval_bpd"]) for r in rs
                 if "test_bpd" in r][-1:],                                  # the last evaluation
     "1 entries for 3 evaluated records", "1 entries for 4 evaluated records"),
    (lambda rs: [r["test_bpd"] - r["train_eval_bpd"] for r in rs if "test_bpd" in r],
     "expected a pair (step, gap)", "expected a pair (step, gap)"),               # no steps
    (lambda rs: [(r["step"], r["test_bpd"] - r["train_eval_bpd"]) for r in rs
                 if "test_bpd" in r][::-1],                                      # reversed order
     "overfitting gap steps", "overfitting gap steps"),
    (lambda rs: [(r.pop("step"), r["test_bpd"] - r["train_eval_bpd"]) for r in rs
                 if "test_bpd" in r],                                          # edits the log
     "changed the records", "changed the records"),
])
def test_gap_rejects_plausible_mistakes(wrong, public, hidden):
    assert public in rejected("overfitting_gap", wrong, hidden=False)
    assert hidden in rejected("overfitting_gap", wrong, hidden=True)


def test_gap_hidden_tests_reject_the_public_case_hard_coded():
    """The answer that returns the public case's gaps passes nothing hidden."""
    steps, gaps = _expected(_records(range(5, 65, 5), 20, seed=0))
    hard_coded = lambda records: list(zip(steps.tolist(), gaps.tolist()))     # noqa: E731
    EXERCISES["overfitting_gap"].run(hard_coded, hidden=False, namespace={})
    assert "overfitting gap" in rejected("overfitting_gap", hard_coded, hidden=True)


def test_gap_solution_passes():
    passes("overfitting_gap", solution("overfitting_gap"))


def test_gap_stub_is_unanswered():
    unanswered("overfitting_gap", gap_stub)

"""The exercises of notebooks 04 (patches and splits) and 05 (the Jet model): each notebook
solution passes the public and the hidden tests; plausible wrong answers are rejected with a
message that says what to look at (by the public tests where a learner should hear it at once,
by the hidden ones too); answers that are or call the library's own version score nothing; the
stubs count as unanswered. Also `Jet.coupling`, the per-coupling call the Jet exercise uses."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.flows import splits, vit
from jetbook.teaching import brute_force
from jetbook.teaching.exercises import EXERCISES
from tests.teaching.exercise_support import passes, rejected, solution, unanswered


def says_both(key, wrong, says) -> None:
    """Rejected by the public tests and by the hidden ones, both saying `says`."""
    for hidden in (False, True):
        message = rejected(key, wrong, hidden=hidden)
        assert says in message, f"{'hidden' if hidden else 'public'}: {message}"


def stub(*args, **kwargs):
    raise NotImplementedError  # your code


# --------------------------------------------------------------------------------- 04: the mask
def mask_answer(*, complement=False, flip_inv=True, swap_rows_cols=False, product=False):
    """my_spatial_mask as a learner might write it; every keyword is one way to get it wrong."""
    def my_spatial_mask(kind, grid):
        rows, cols = np.indices(grid)
        if swap_rows_cols:
            rows, cols = cols, rows
        checker = (rows * cols) % 2 == 0 if product else (rows + cols) % 2 == 0
        mask = {"checkerboard": checker, "rows": rows % 2 == 0, "cols": cols % 2 == 0}[
            kind.removesuffix("-inv")]
        if kind.endswith("-inv") and flip_inv:
            mask = ~mask
        return ~mask if complement else mask
    return my_spatial_mask


def test_spatial_mask_solution_passes_and_stub_is_unanswered():
    answer = solution("spatial_mask")
    passes("spatial_mask", answer)
    passes("spatial_mask", mask_answer())
    unanswered("spatial_mask", stub)
    unanswered("spatial_mask", None)


@pytest.mark.parametrize("wrong, says", [
    (mask_answer(complement=True), "mark the patches of x1, not of x2"),
    (mask_answer(flip_inv=False), "its mask is the complement"),
    (mask_answer(swap_rows_cols=True), "same half as the patch to its right"),
    (mask_answer(product=True), "other half from the patch to its right"),
    (lambda kind, grid: mask_answer()(kind, grid).astype(int), "expected booleans"),
    (splits.spatial_mask, "the library's own jetbook.flows.splits.spatial_mask"),
    (lambda kind, grid: splits.spatial_mask(kind, grid), "out of reach"),
], ids=["x2 instead of x1", "-inv not flipped", "rows and columns swapped",
        "checkerboard as row * column", "0/1 integers", "the library",
        "calls the library"])
def test_spatial_mask_rejects(wrong, says):
    says_both("spatial_mask", wrong, says)


def test_spatial_mask_rejects_a_transposed_grid():
    transposed = lambda kind, grid: mask_answer()(kind, grid).T
    assert "expected (4, 6)" in rejected("spatial_mask", transposed, hidden=False)
    assert "the same half as the patch to its right" in rejected("spatial_mask", transposed)


def test_spatial_mask_hidden_tests_reject_hard_coding_the_public_grid():
    public = {kind: mask_answer()(kind, (4, 6)) for kind in
              ("checkerboard", "rows", "cols", "checkerboard-inv", "rows-inv", "cols-inv")}
    hard_coded = lambda kind, grid: public[kind]
    EXERCISES["spatial_mask"].run(hard_coded, hidden=False, namespace={})
    assert "expected (8, 8)" in rejected("spatial_mask", hard_coded)


# ------------------------------------------------------------------------- 04: the split matrix
def split_answer(*, transpose=False, x2_first=False, column_major=False, mask_only=False):
    """my_split_matrix as a learner might write it; every keyword is one way to get it wrong."""
    def my_split_matrix(kind, grid):
        mask = splits.spatial_mask(kind, grid)
        if mask_only:                                  # a 0/1 matrix, but not a permutation
            return np.diag(mask.reshape(-1)).astype(np.float32)
        index = np.arange(mask.size).reshape(grid)
        flat_mask, flat_index = ((mask.T.reshape(-1), index.T.reshape(-1)) if column_major
                                 else (mask.reshape(-1), index.reshape(-1)))
        halves = [flat_index[flat_mask], flat_index[~flat_mask]]
        order = np.concatenate(halves[::-1] if x2_first else halves)
        w = np.zeros((mask.size, mask.size), np.float32)
        w[order, np.arange(mask.size)] = 1.0
        return w.T if transpose else w
    return my_split_matrix


def test_split_matrix_solution_passes_and_stub_is_unanswered():
    answer = solution("spatial_split_matrix", splits=splits)
    passes("spatial_split_matrix", answer)
    passes("spatial_split_matrix", split_answer())
    unanswered("spatial_split_matrix", stub)
    unanswered("spatial_split_matrix", None)


@pytest.mark.parametrize("wrong, says", [
    (split_answer(transpose=True), "is the transpose of the split matrix"),
    (split_answer(x2_first=True), "puts the x2 patches first"),
    (split_answer(column_major=True), "row-major order"),
    (split_answer(mask_only=True), "is not a permutation matrix"),
    (lambda kind, grid: split_answer()(kind, grid)[:-1], "one row per input token"),
    (splits.spatial_split_matrix, "the library's own jetbook.flows.splits.spatial_split_matrix"),
    (lambda kind, grid: splits.spatial_split_matrix(kind, grid), "out of reach"),
    (lambda kind, grid: splits.permutation_matrix(np.argsort(~splits.spatial_mask(kind, grid)
                                                             .reshape(-1), kind="stable")),
     "permutation_matrix out of reach"),
    (lambda kind, grid: jb.JetConfig(image_shape=(2 * grid[0], 2 * grid[1], 1),
                                     kinds=(kind,), num_couplings=1).split_matrix(0),
     "out of reach"),
], ids=["transpose", "x2 first", "column-major halves", "a mask, not a permutation",
        "wrong shape", "the library", "calls the library", "calls permutation_matrix",
        "through JetConfig"])
def test_split_matrix_rejects(wrong, says):
    says_both("spatial_split_matrix", wrong, says)


def test_the_transpose_passes_where_the_permutation_is_its_own_inverse_but_not_overall():
    """rows on 4x4 swaps two blocks of slots (W = W^T), so the public tests need cols-inv too."""
    w = split_answer()("rows", (4, 4))
    assert np.array_equal(w, w.T)
    assert "cols-inv" in rejected("spatial_split_matrix", split_answer(transpose=True),
                                  hidden=False)


# ----------------------------------------------------------------------- 05: one encoder block
def test_block_params_counts_the_library_block():
    block = vit.EncoderBlock(width=64, heads=4, mlp_dim=256, rngs=nnx.Rngs(0))
    n = sum(leaf.size for leaf in jax.tree.leaves(nnx.state(block, nnx.Param)))
    answer = solution("block_params")
    assert answer == n == 49_984
    passes("block_params", answer)
    unanswered("block_params", None)


@pytest.mark.parametrize("wrong, says", [
    (49_984 - (3 * 64 + 64 + 256 + 64), "leaves out the biases"),
    (49_984 - 4 * 64, "leaves out the two LayerNorms"),
    (49_984 - 2 * 64, "has one LayerNorm"),
    (49_984 - (2 * 64 * 64 + 2 * 64), "makes qkv a w -> w layer"),
    (49_984 + 1, "Count layer by layer"),
    ("many", "array-like of numbers"),
], ids=["no biases", "no LayerNorms", "one LayerNorm", "qkv w -> w", "off by one", "not a number"])
def test_block_params_rejects(wrong, says):
    says_both("block_params", wrong, says)


# ------------------------------------------------------------------------ 05: Jet.coupling(i)
@pytest.mark.parametrize("fields", [
    dict(),
    dict(coupling_mode="masking", scan=False),
    dict(spatial_tokens="half_patches", actnorm=True, invertible_dense=True),
], ids=["default", "masking loop", "half patches with actnorm and dense"])
def test_jet_coupling_steps_chain_to_the_whole_model(fields):
    cfg = jb.JetConfig(image_shape=(4, 4, 2), patch_size=2, num_couplings=4,
                       channel_per_spatial=1, vit_width=16, vit_heads=2, **fields)
    model = jb.Jet(cfg, rngs=nnx.Rngs(0))
    brute_force.randomize_params(model, jax.random.key(1), scale=0.2)
    x = jax.random.uniform(jax.random.key(2), (2, *cfg.image_shape), minval=-1, maxval=1)
    with pytest.warns(UserWarning, match="ActNorm") if cfg.actnorm else _no_warning():
        z, logdet = model(x)
        x_back, logdet_inv = model.inverse(z)
    tokens, total = jb.patchify(x, 2), jnp.zeros(2)
    for i in range(cfg.num_couplings):
        tokens, ld = model.coupling(i)(tokens)
        total = total + ld
    np.testing.assert_allclose(jb.unpatchify(tokens, 2, cfg.image_shape), z, atol=1e-5)
    np.testing.assert_allclose(total, logdet, atol=1e-4)
    tokens, total = jb.patchify(z, 2), jnp.zeros(2)
    for i in reversed(range(cfg.num_couplings)):
        tokens, ld = model.coupling(i, inverse=True)(tokens)
        total = total + ld
    np.testing.assert_allclose(jb.unpatchify(tokens, 2, cfg.image_shape), x_back, atol=1e-5)
    np.testing.assert_allclose(total, logdet_inv, atol=1e-4)


def _no_warning():
    import contextlib
    return contextlib.nullcontext()


def test_jet_coupling_refuses_a_missing_coupling_and_a_conditional_model():
    model = jb.Jet(jb.JetConfig(image_shape=(4, 4, 1), num_couplings=2, vit_width=16,
                                vit_heads=2), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="0 <= i < 2"):
        model.coupling(2)
    conditional = jb.Jet(model.config.replace(num_classes=3), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="unconditional"):
        conditional.coupling(0)


# ------------------------------------------------------------------------- 05: the Jet's loop
def jet_answer(*, forward_order=True, reverse_inverse=True, accumulate=True, inverse_sign=1.0,
               inverse_flag=True, unpatchify=True, patchify=True, reshape=False):
    """my_jet as a learner might write it; every keyword is one way to get it wrong."""
    def my_jet(model, x, inverse=False):
        cfg = model.config
        n = cfg.num_couplings
        if reshape:                                   # tokens by reshaping, not by patches
            tokens = x.reshape(x.shape[0], cfg.num_tokens, cfg.patch_dim)
        else:
            tokens = jb.patchify(x, cfg.patch_size) if patchify else x
        logdet = jnp.zeros(x.shape[0])
        if inverse:
            order = range(n - 1, -1, -1) if reverse_inverse else range(n)
        else:
            order = range(n) if forward_order else range(n - 1, -1, -1)
        for i in order:
            tokens, ld = model.coupling(i, inverse=inverse and inverse_flag)(tokens)
            ld = inverse_sign * ld if inverse else ld
            logdet = logdet + ld if accumulate else ld
        if reshape:
            return tokens.reshape(x.shape), logdet
        return (jb.unpatchify(tokens, cfg.patch_size, cfg.image_shape) if unpatchify
                else tokens), logdet
    return my_jet


def test_jet_loop_solution_passes_and_stub_is_unanswered():
    answer = solution("jet_loop")
    passes("jet_loop", answer)
    unanswered("jet_loop", stub)
    unanswered("jet_loop", None)


@pytest.mark.parametrize("wrong, says", [
    (jet_answer(reverse_inverse=False), "the inverse undoes the LAST coupling first"),
    (jet_answer(inverse_flag=False), "the inverse undoes the LAST coupling first"),
    (jet_answer(forward_order=False, reverse_inverse=False), "coupling 0 runs first"),
    (jet_answer(accumulate=False), "not only the last one's"),
    (jet_answer(inverse_sign=-1.0), "do not flip their sign"),
    (jet_answer(unpatchify=False), "Those are tokens: unpatchify them at the end"),
    (jet_answer(patchify=False), "raised"),
    (jet_answer(reshape=True), "that coupling applied to the patch tokens"),
    (lambda model, x, inverse=False: model.inverse(x) if inverse else model(x),
     "jetbook.flows.jet.Jet.__call__ out of reach"),
    (lambda model, x, inverse=False: model._run(x, "inverse" if inverse else "forward"),
     "jetbook.flows.jet.Jet._run out of reach"),
], ids=["forward order in the inverse", "forward couplings in the inverse",
        "reversed in both directions", "only the last log-det", "inverse log-det sign flipped",
        "forgot unpatchify", "forgot patchify", "reshape instead of patchify", "the library",
        "the library's internals"])
def test_jet_loop_rejects(wrong, says):
    says_both("jet_loop", wrong, says)


def test_jet_loop_hidden_tests_check_the_log_det_by_brute_force():
    """The public tests catch a loop that keeps only the last log-det by adding the log-dets of
    two halves of the flow; the hidden ones by the brute-force Jacobian as well."""
    assert "slogdet of the full Jacobian" in rejected("jet_loop", jet_answer(accumulate=False))


@pytest.mark.parametrize("hard_coded", [
    lambda model, x, inverse=False: _with_config(model, x, inverse, patch_size=2),
    lambda model, x, inverse=False: _with_config(model, x, inverse, image_shape=(4, 4, 1)),
], ids=["patch size 2", "image shape 4x4x1"])
def test_jet_loop_hidden_tests_reject_what_only_fits_the_public_jet(hard_coded):
    EXERCISES["jet_loop"].run(hard_coded, hidden=False, namespace={})
    rejected("jet_loop", hard_coded)


def test_jet_loop_public_tests_reject_a_fixed_number_of_couplings():
    """The stand-ins with fewer couplings catch `range(4)` at once."""
    fixed = lambda model, x, inverse=False: _with_config(model, x, inverse, num_couplings=4)
    assert "Loop over range(model.config.num_couplings)" in rejected("jet_loop", fixed,
                                                                     hidden=False)


class _Fixed:
    """A model whose config has some fields replaced by the public Jet's values."""

    def __init__(self, model, **fields):
        self.model, self.fields = model, fields

    def __getattr__(self, name):
        if name == "config":
            return _FieldsOver(self.model.config, self.fields)
        return getattr(self.model, name)


class _FieldsOver:
    def __init__(self, config, fields):
        self.config, self.fields = config, fields

    def __getattr__(self, name):
        return self.fields.get(name, getattr(self.config, name))


def _with_config(model, x, inverse, **fields):
    """The right loop, reading some config fields as constants (the public Jet's values)."""
    fixed = _Fixed(model, **fields)
    return jet_answer()(fixed, x, inverse)


# ------------------------------------------------------------------------ 05: bits per dimension
def bpd_answer(*, dequantization=True, bits=True, logdet_sign=-1.0, last_axis_dims=False):
    def my_bits_per_dim(z, logdet, levels):
        flat = z.reshape(len(z), -1)
        dims = z.shape[-1] if last_axis_dims else flat.shape[1]
        nats = 0.5 * (flat ** 2 + jnp.log(2 * jnp.pi)).sum(-1) + logdet_sign * logdet
        if dequantization:
            nats = nats + dims * jnp.log(levels / 2)
        return nats / dims / (jnp.log(2.0) if bits else 1.0)
    return my_bits_per_dim


def test_bits_per_dim_solution_passes_and_stub_is_unanswered():
    answer = solution("bits_per_dim")
    passes("bits_per_dim", answer)
    passes("bits_per_dim", bpd_answer())
    unanswered("bits_per_dim", stub)
    unanswered("bits_per_dim", None)


@pytest.mark.parametrize("wrong, says", [
    (bpd_answer(dequantization=False), "Forgetting D * log(levels / 2)"),
    (bpd_answer(bits=False), "divide by D * ln 2"),
    (bpd_answer(logdet_sign=1.0), "not quite"),
    (bpd_answer(last_axis_dims=True), "D = the number of values in one example"),
    (jb.bits_per_dim, "the library's own jetbook.density.likelihood.bits_per_dim"),
    (lambda z, logdet, levels: jb.bits_per_dim(z, logdet, levels), "out of reach"),
], ids=["forgot D log(levels/2)", "nats, not bits", "log-det sign", "D from the last axis only",
        "the library", "calls the library"])
def test_bits_per_dim_rejects(wrong, says):
    says_both("bits_per_dim", wrong, says)

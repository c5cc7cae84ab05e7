"""Exercises of notebook 04 (patches and splits): the x1 mask of a spatial split kind, and the
split matrix that pairs the x1 patches with the x2 patches.

Both are tested by what they must be, with the library's versions out of reach: the mask by
the rule of its kind (which neighbours share a half, which half the top-left patch is in, the
-inv kinds as complements); the matrix as a 0/1 permutation whose first half of output slots
takes the x1 patches and second half the x2 patches, each half in row-major order, and whose
transpose merges the halves back.
"""
import numpy as np

from jetbook.teaching.exercises._check import ExerciseError, call_answer
from jetbook.teaching.exercises._exercise import exercise

BASE_KINDS = ("checkerboard", "rows", "cols")
KINDS = BASE_KINDS + tuple(f"{kind}-inv" for kind in BASE_KINDS)


def _call(what: str, fn, *args):
    return call_answer(what, fn, *args)


# ----------------------------------------------------------------------- the x1 mask
MASK_SIGNATURE = ("my_spatial_mask(kind, grid) -> a boolean array of shape grid = (rows, columns) "
                  "of the patch grid, True where the patch belongs to x1.")
MASK_RULES = {
    "checkerboard": "a patch is in x1 when (row + column) is even, so it differs from the patch "
                    "to its right and from the one below",
    "rows": "a patch is in x1 when its row is even: a whole grid row goes to one half, and "
            "consecutive rows alternate",
    "cols": "a patch is in x1 when its column is even: a whole grid column goes to one half, "
            "and consecutive columns alternate",
}
INDICES_HINT = "np.indices(grid) gives the row and the column of every patch."


def _mask(fn, kind: str, grid) -> np.ndarray:
    what = f"my_spatial_mask({kind!r}, {grid})"
    mask = np.asarray(_call(what, fn, kind, grid))
    if mask.shape != tuple(grid):
        raise ExerciseError(f"{what} has shape {mask.shape}, expected {tuple(grid)}. "
                            f"{MASK_SIGNATURE}")
    if mask.dtype != bool:
        raise ExerciseError(f"{what} has dtype {mask.dtype}, expected booleans (a comparison such "
                            f"as rows % 2 == 0 gives them). {MASK_SIGNATURE}")
    return mask


def _base_rule(fn, kind: str, grid) -> None:
    """The rule of a base kind, said as properties of neighbours and of the top-left patch."""
    mask = _mask(fn, kind, grid)
    where = f"my_spatial_mask({kind!r}, {grid})"
    hint = f"For {kind!r}, {MASK_RULES[kind]}. {INDICES_HINT}"
    if not mask[0, 0]:
        raise ExerciseError(f"{where}: the top-left patch (row 0, column 0) must be in x1 "
                            f"(True); mark the patches of x1, not of x2. {hint}")
    same_right = {"checkerboard": False, "rows": True, "cols": False}[kind]
    same_below = {"checkerboard": False, "rows": False, "cols": True}[kind]
    for name, a, b, same in (("the patch to its right", mask[:, 1:], mask[:, :-1], same_right),
                             ("the patch below it", mask[1:], mask[:-1], same_below)):
        wrong = (a != b) if same else (a == b)
        if wrong.any():
            r, c = np.argwhere(wrong)[0]
            rel = "in the same half as" if same else "in the other half from"
            raise ExerciseError(f"{where}: every patch must be {rel} {name}, but patch "
                                f"(row {r}, column {c}) is not. {hint}")


def _inv_rule(fn, kind: str, grid) -> None:
    base = kind.removesuffix("-inv")
    mask, base_mask = _mask(fn, kind, grid), _mask(fn, base, grid)
    if np.array_equal(mask, base_mask):
        raise ExerciseError(f"my_spatial_mask({kind!r}, {grid}) is the mask of {base!r}: an -inv "
                            "kind swaps the roles of x1 and x2, so its mask is the complement "
                            "(~mask) of its base kind's.")
    if not np.array_equal(mask, ~base_mask):
        raise ExerciseError(f"my_spatial_mask({kind!r}, {grid}) must be the complement (~mask) of "
                            f"my_spatial_mask({base!r}, {grid}): every patch in the other half.")


def _masks(fn, grids) -> None:
    if not callable(fn):
        raise ExerciseError(f"expected a function, got {type(fn).__name__}. {MASK_SIGNATURE}")
    for grid in grids:
        for kind in BASE_KINDS:
            _base_rule(fn, kind, grid)
        for kind in BASE_KINDS:
            _inv_rule(fn, f"{kind}-inv", grid)


@exercise("spatial_mask", notebook="04_patches_and_splits", answer="my_spatial_mask", points=2,
          asks="the (rows, columns) boolean x1 mask of any spatial split kind on a patch grid",
          out_of_reach=("jetbook.flows.splits.spatial_mask",))
def check_spatial_mask(fn) -> None:
    """All six kinds on a 4x6 grid: the top-left patch in x1 for the base kinds, which
    neighbours share a half, and each -inv kind the complement of its base."""
    _masks(fn, [(4, 6)])


@check_spatial_mask.hidden_tests
def _(fn) -> None:
    """Other grids: square, one row or column, odd sizes (where the halves differ in size)."""
    _masks(fn, [(8, 8), (2, 6), (6, 2), (3, 5), (1, 4), (5, 1)])


# ----------------------------------------------------------------------- the split matrix
MATRIX_SIGNATURE = ("my_split_matrix(kind, grid) -> the (K, K) 0/1 matrix W of a spatial split "
                    "kind on a patch grid of K = rows * columns tokens, W[i, j] = 1 when output "
                    "slot j takes input token i.")
ORDER_HINT = ("The output slots list the x1 patches first, then the x2 patches, each half in "
              "row-major order (np.flatnonzero of the flattened mask gives them): slot j takes "
              "token order[j], so the 1 of column j sits in row order[j].")


def _x1(kind: str, grid) -> np.ndarray:
    """The check's own x1 mask (flattened, row-major), from the rule of each kind."""
    r, c = np.indices(tuple(grid))
    base = kind.removesuffix("-inv")
    mask = {"checkerboard": (r + c) % 2 == 0, "rows": r % 2 == 0, "cols": c % 2 == 0}[base]
    return (~mask if kind.endswith("-inv") else mask).reshape(-1)


def _slots(w, in_x1) -> np.ndarray | None:
    """order[j] = the input token output slot j takes, or None unless w is a 0/1 permutation."""
    n = in_x1.size
    if w.shape != (n, n) or not np.isin(w, (0, 1)).all():
        return None
    if not ((w.sum(0) == 1).all() and (w.sum(1) == 1).all()):
        return None
    return np.argmax(w, axis=0)


def _matrix(fn, kind: str, grid) -> None:
    what = f"my_split_matrix({kind!r}, {grid})"
    in_x1 = _x1(kind, grid)
    n = in_x1.size
    try:
        w = np.asarray(_call(what, fn, kind, grid), np.float64)
    except (TypeError, ValueError) as e:
        raise ExerciseError(f"{what} is not an array of numbers ({e}). {MATRIX_SIGNATURE}")
    if w.shape != (n, n):
        raise ExerciseError(f"{what} has shape {w.shape}, expected {(n, n)}: one row per input "
                            f"token and one column per output slot. {MATRIX_SIGNATURE}")
    order = _slots(w, in_x1)
    if order is None:
        raise ExerciseError(f"{what} is not a permutation matrix: it must hold only 0s and 1s, "
                            "with exactly one 1 in every row and every column (each token goes "
                            f"to exactly one slot). {ORDER_HINT}")
    x1_tokens, x2_tokens = np.flatnonzero(in_x1), np.flatnonzero(~in_x1)
    want = np.concatenate([x1_tokens, x2_tokens])
    if not np.array_equal(order, want):
        transposed = np.argmax(w, axis=1)       # the slots as they would read with W^T
        if np.array_equal(transposed, want):
            raise ExerciseError(f"{what} is the transpose of the split matrix: W[i, j] = 1 when "
                                f"slot j takes token i, so the 1 of column j goes in row "
                                f"order[j], not the 1 of row j in column order[j]. {ORDER_HINT}")
        if np.array_equal(np.sort(order[n // 2:]), x1_tokens):
            raise ExerciseError(f"{what} puts the x2 patches first: the first K/2 slots are x1 "
                                f"(the patches the mask marks True). {ORDER_HINT}")
        if not np.array_equal(np.sort(order[:n // 2]), x1_tokens):
            raise ExerciseError(f"{what}: the first K/2 output slots must take exactly the x1 "
                                f"patches of {kind!r}, tokens {x1_tokens.tolist()}, but take "
                                f"{sorted(order[:n // 2].tolist())}. {ORDER_HINT}")
        raise ExerciseError(f"{what}: each half must keep its patches in row-major order (token "
                            f"numbers increasing), got x1 in slot order {order[:n // 2].tolist()} "
                            f"and x2 in {order[n // 2:].tolist()}. The order pairs the i-th x1 "
                            f"patch with the i-th x2 patch. {ORDER_HINT}")
    # what the matrix is for: a product splits the tokens, one with W^T merges them back
    tokens = np.random.default_rng(n).standard_normal((n, 3))
    halves = np.einsum("np,nm->mp", tokens, w)
    if not np.array_equal(halves[:n // 2], tokens[x1_tokens]):
        raise ExerciseError(f"{what}: splitting tokens with it does not give the x1 patches in "
                            f"order. {ORDER_HINT}")
    if not np.allclose(np.einsum("mp,nm->np", halves, w), tokens, atol=0):
        raise ExerciseError(f"{what}: merging with the transpose does not give the tokens back.")


def _matrices(fn, cases) -> None:
    if not callable(fn):
        raise ExerciseError(f"expected a function, got {type(fn).__name__}. {MATRIX_SIGNATURE}")
    for kind, grid in cases:
        _matrix(fn, kind, grid)


@exercise("spatial_split_matrix", notebook="04_patches_and_splits", answer="my_split_matrix",
          points=3, asks="the (K, K) 0/1 split matrix of a spatial kind: x1 slots first, each "
                         "half in row-major order",
          out_of_reach=("jetbook.flows.splits.spatial_split_matrix",
                        "jetbook.flows.splits.permutation_matrix",
                        "jetbook.flows.splits.split_matrix"))
def check_spatial_split_matrix(fn) -> None:
    """rows on 4x4, cols-inv on 2x6, checkerboard on 4x4: a 0/1 permutation whose first K/2
    slots take the x1 patches and the rest the x2 patches, each half in row-major order."""
    _matrices(fn, (("rows", (4, 4)), ("cols-inv", (2, 6)), ("checkerboard", (4, 4))))


@check_spatial_split_matrix.hidden_tests
def _(fn) -> None:
    """Every kind, on non-square grids and on grids of 2 and 32 tokens."""
    _matrices(fn, (("checkerboard-inv", (6, 2)), ("rows-inv", (4, 6)), ("cols", (6, 4)),
                   ("checkerboard", (2, 8)), ("rows", (2, 1)), ("cols-inv", (4, 8)),
                   ("rows", (6, 6))))

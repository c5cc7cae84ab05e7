"""Checks for notebook 04 (patches and splits)."""
import numpy as np

from jetbook.flows import splits
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function

_X1_RULE = {"checkerboard": "(row + column) is even", "rows": "the row is even",
            "cols": "the column is even"}


def check_spatial_mask(answer, kind, grid) -> None:
    """The (gh, gw) boolean x1 mask of a spatial split kind on a patch grid."""
    if answer is None:
        raise ExerciseError(f"spatial mask: replace None with a boolean array of shape {tuple(grid)}.")
    expected = splits.spatial_mask(kind, grid)
    answer = np.asarray(answer)
    if answer.shape == expected.shape and np.array_equal(answer.astype(bool), ~expected):
        raise ExerciseError(f"spatial mask: that is x2, the complement. Mark the patches of x1 "
                            f"for '{kind}' True.")
    base = kind.removesuffix("-inv")
    rule = _X1_RULE[base] + (" (then flip it: this is the -inv kind)" if kind.endswith("-inv") else "")
    expect_close("spatial mask", answer.astype(float), expected.astype(float),
                 f"For '{base}' a patch is in x1 when {rule}; np.indices(grid) gives rows and columns.")


_SPLIT_CASES = (("rows", (4, 4)), ("cols-inv", (2, 6)), ("checkerboard", (4, 4)),
                ("checkerboard-inv", (6, 2)))


def check_spatial_split_matrix(fn) -> None:
    """fn(kind, grid) -> the (K, K) 0/1 split matrix of a spatial kind, as splits.spatial_split_matrix."""
    expect_same_function(
        "spatial split matrix", fn, splits.spatial_split_matrix, _SPLIT_CASES,
        "The pairing order is: the x1 patches first, then the x2 patches, each in row-major "
        "order (np.flatnonzero of the flattened mask gives them). W[i, j] = 1 when output slot "
        "j takes input token i, so put the 1 of column j in row order[j] (not the transpose).",
        atol=0, rtol=0)

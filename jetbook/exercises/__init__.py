"""Automatic checks for the notebooks' exercises: `jb.exercises.check_<name>(answer)`.

Each check raises `ExerciseError` with a hint when the answer is wrong and prints a short
confirmation when it is right. One module per notebook topic; all checks are re-exported here.
"""
from jetbook.exercises._check import ExerciseError, expect_close
from jetbook.exercises.welcome import check_latent_dims

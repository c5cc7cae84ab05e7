"""Automatic checks for the notebooks' exercises: `jb.exercises.check_<name>(answer)`.

Each check raises `ExerciseError` with a hint when the answer is wrong and prints a short
confirmation when it is right. A check of a number takes the number; a check of code takes the
student's function and runs it beside the library's on random cases (`expect_same_function`).
One module per notebook topic; all checks are re-exported here.
"""
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function
from jetbook.teaching.exercises.welcome import check_latent_dims
from jetbook.teaching.exercises.change_of_variables import check_lognormal_density, check_pushforward_log_prob
from jetbook.teaching.exercises.one_coupling import check_coupling_inverse, check_coupling_logdet
from jetbook.teaching.exercises.flows_2d import check_flow_log_prob, check_identity_flow_log_prob
from jetbook.teaching.exercises.patches_splits import check_spatial_mask, check_spatial_split_matrix
from jetbook.teaching.exercises.jet_model import check_bits_per_dim, check_block_params, check_uniform_bpd
from jetbook.teaching.exercises.training import (check_bits_per_image, check_recipe_optimizer,
                                                 check_steps_for_epochs)
from jetbook.teaching.exercises.what_jet_removed import check_actnorm_logdet
from jetbook.teaching.exercises.tarflow import check_shift_params
from jetbook.teaching.exercises.jet_at_scale import check_fsdp_spec
from jetbook.teaching.exercises.transfer import check_overfitting_gap

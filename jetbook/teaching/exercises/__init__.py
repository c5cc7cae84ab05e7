"""Automatic checks for the notebooks' exercises: `jb.exercises.check_<name>(answer)`.

Each check raises `ExerciseError` with a hint when the answer is wrong and prints a short
confirmation when it is right. One module per notebook topic; all checks are re-exported here.
"""
from jetbook.teaching.exercises._check import ExerciseError, expect_close, expect_same_function
from jetbook.teaching.exercises.welcome import check_latent_dims
from jetbook.teaching.exercises.change_of_variables import check_lognormal_density
from jetbook.teaching.exercises.one_coupling import check_coupling_logdet
from jetbook.teaching.exercises.flows_2d import check_identity_flow_log_prob
from jetbook.teaching.exercises.patches_splits import check_spatial_mask
from jetbook.teaching.exercises.jet_model import check_block_params, check_uniform_bpd
from jetbook.teaching.exercises.training import check_bits_per_image, check_steps_for_epochs
from jetbook.teaching.exercises.jet_at_scale import check_fsdp_spec

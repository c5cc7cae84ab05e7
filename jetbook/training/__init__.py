"""Training: how to train (TrainConfig) and the presets, the data, the one training step, held-out
evaluation, the loop that runs them with logs, samples and checkpoints, and sharding.

Its main names are reachable from the package itself (`jetbook.training.train_step`, and so
`jb.train.train_step` as in the first waves), each imported on first use.
"""
from jetbook import lazy_names

_NAMES = {
    "learning_rate_schedule": "optimizer", "make_optimizer": "optimizer",
    "loss_fn": "step", "loss_and_grads": "step", "train_step": "step",
    "build_model_and_optimizer": "step", "compiled_steps": "step",
    "evaluate": "evaluation", "sample_bounds": "evaluation",
    "train_and_evaluate": "loop", "TrainingDiverged": "loop", "load_run_data": "loop",
    "save_sample_grid": "images",
}
__getattr__, __dir__ = lazy_names(__name__, {name: (f"training.{module}", name)
                                             for name, module in _NAMES.items()})

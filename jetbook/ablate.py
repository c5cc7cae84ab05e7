"""`python -m jetbook.ablate` is `jetbook ablate` (the paper's ablations); imported, this name is
jetbook.experiments.ablate, where the code lives."""
from jetbook.cli import launch

launch(__name__, "ablate")

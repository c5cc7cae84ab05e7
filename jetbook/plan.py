"""`python -m jetbook.plan` is `jetbook plan` (the memory planner); imported, this name is
jetbook.experiments.plan, where the code lives."""
from jetbook.cli import launch

launch(__name__, "plan")

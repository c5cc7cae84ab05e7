"""`python -m jetbook.bench` is `jetbook bench` (the benchmarks); imported, this name is
jetbook.experiments.bench, where the code lives."""
from jetbook.cli import launch

launch(__name__, "bench")

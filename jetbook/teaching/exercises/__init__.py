"""The course's exercises: `jb.exercises.check_<name>(answer)` in a notebook runs an exercise's
public tests; `jetbook course` grades with its hidden tests too (see `_exercise`).

One module per notebook topic defines its exercises with `@exercise`; every module here is
imported, and each exercise is reachable as `check_<name>`. `EXERCISES` lists them in
notebook order.
"""
import importlib
import pkgutil

from jetbook.teaching.exercises._check import ExerciseError, expect_close
from jetbook.teaching.exercises._exercise import EXERCISES, Exercise, Unanswered, out_of_reach

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
_order = {key: i for i, key in enumerate(EXERCISES)}
_sorted = sorted(EXERCISES.values(), key=lambda ex: (ex.notebook, _order[ex.key]))
EXERCISES.clear()
EXERCISES.update((ex.key, ex) for ex in _sorted)
globals().update({f"check_{key}": ex for key, ex in EXERCISES.items()})
__all__ = ["EXERCISES", "Exercise", "ExerciseError", "Unanswered", "expect_close", "out_of_reach",
           *(f"check_{key}" for key in EXERCISES)]

"""One exercise of the course: where it is, what it is worth, and its two sets of tests.

A notebook's check cell calls the exercise (`jb.exercises.check_bits_per_dim(my_bits_per_dim)`),
which runs the *public* tests: the learner sees what they say. The autograder (`jetbook course`,
on otter-grader) runs the public tests and then the *hidden* ones, which try more cases and
properties. Both run with the library's own version of what the learner writes out of reach, so
an answer that merely hands back `jb.bits_per_dim` scores nothing.

An unanswered exercise (`None`, or code that still raises NotImplementedError) prints that it
is unanswered and lets the notebook go on; a wrong answer raises ExerciseError with a hint.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import sys
from typing import Callable, Sequence

from jetbook.teaching.exercises._check import ExerciseError

EXERCISES: dict[str, "Exercise"] = {}      # key -> exercise, in the order they were defined


class Unanswered(Exception):
    """The learner has not written this exercise yet."""


@dataclasses.dataclass
class Exercise:
    """An exercise of one notebook; calling it runs the public tests (the notebook's check)."""
    key: str                      # the name of the check, check_<key>
    notebook: str                 # the notebook's stem, e.g. "02_one_coupling"
    answer: str                   # the notebook variable that holds the learner's answer
    points: int                   # what grading awards: `public_points` + the hidden tests' rest
    asks: str                     # what the learner writes, one line (the course list, the guide)
    public: Callable              # public(answer, *context) raises ExerciseError when wrong
    context: tuple[str, ...] = ()                 # notebook variables the check also needs
    out_of_reach: tuple[str, ...] = ()            # dotted library names hidden while testing
    kind: str = "code"                            # "code" or "number"
    hidden: Callable | None = None                # hidden(answer, *context); set by .hidden_tests
    public_points: int = 1

    def hidden_tests(self, fn: Callable) -> Callable:
        """Decorator: `fn(answer, *context)` is this exercise's hidden test."""
        self.hidden = fn
        return fn

    @property
    def hidden_points(self) -> int:
        return self.points - self.public_points

    def run(self, answer, *context, hidden: bool, namespace: dict | None = None) -> None:
        """Run the public or the hidden tests with the library's version out of reach; raises
        Unanswered, or ExerciseError for a wrong answer."""
        if answer is None:
            raise Unanswered(self.key)
        tests = self.hidden if hidden else self.public
        if tests is None:
            raise AssertionError(f"exercise {self.key} has no hidden tests")
        with out_of_reach(self.out_of_reach, answer, namespace):
            try:
                tests(answer, *context)
            except NotImplementedError:
                raise Unanswered(self.key) from None

    def __call__(self, answer, *context) -> bool:
        """The notebook's check: True when the public tests pass, False when unanswered."""
        namespace = _callers_globals()
        try:
            self.run(answer, *context, hidden=False, namespace=namespace)
        except Unanswered:
            print(f"○ {self.key}: not answered yet, 0 of {_points(self.points)} so far; "
                  "the notebook goes on.")
            return False
        print(f"✓ {self.key}: the public tests pass (worth {_points(self.points)}; grading "
              "adds hidden tests)")
        return True

    def grade(self, env: dict, *, hidden: bool) -> None:
        """The autograder's test: the answer and context read from the notebook's globals."""
        values = [env.get(name) for name in (self.answer, *self.context)]
        try:
            self.run(*values, hidden=hidden, namespace=env)
        except Unanswered:
            raise ExerciseError(f"{self.key}: not answered") from None


def exercise(key: str, *, notebook: str, answer: str, points: int, asks: str,
             context: Sequence[str] = (), out_of_reach: Sequence[str] = (), kind: str = "code",
             public_points: int | None = None) -> Callable[[Callable], Exercise]:
    """Decorator: register the decorated public tests as exercise `key`."""
    if kind not in ("code", "number"):
        raise ValueError(f"kind must be 'code' or 'number', got {kind!r}")

    def register(public: Callable) -> Exercise:
        if key in EXERCISES:
            raise ValueError(f"exercise {key!r} is defined twice")
        pp = (1 if kind == "code" else 0) if public_points is None else public_points
        made = Exercise(key, notebook, answer, points, asks, public, tuple(context),
                        tuple(out_of_reach), kind, public_points=pp)
        made.__doc__ = public.__doc__
        EXERCISES[key] = made
        return made
    return register


def _points(n: int) -> str:
    return f"{n} point" if n == 1 else f"{n} points"


def _callers_globals() -> dict | None:
    """The globals of the notebook cell that called the check (two frames up)."""
    frame = inspect.currentframe()
    try:
        return frame.f_back.f_back.f_globals if frame and frame.f_back and frame.f_back.f_back else None
    finally:
        del frame


def _resolve(dotted: str):
    """(owner, attribute, value) for a dotted library name, e.g. 'jetbook.flows.jet.Jet.inverse'."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"out_of_reach: {dotted!r} names no library object")


def _is(value, target) -> bool:
    """Whether `value` is `target`, wraps it, or (for a class) inherits from it."""
    if isinstance(value, type) and isinstance(target, type) and issubclass(value, target):
        return True
    seen = set()
    while value is not None and id(value) not in seen:
        if value is target:
            return True
        seen.add(id(value))
        value = getattr(value, "__wrapped__", None) or getattr(value, "__func__", None)
    return False


@contextlib.contextmanager
def out_of_reach(names: Sequence[str], answer=None, namespace: dict | None = None):
    """While inside, every named library object raises ExerciseError when used: in its own
    module, in every jetbook module that imported it, on `jb`, and in `namespace` (the
    notebook's globals). An answer that *is* one of them is rejected at once."""
    patches = []        # (container, attribute, old value); a dict container is patched by key
    stubs = {}          # id(stub) -> the library object it stands for

    def put(container, attribute, value):
        if isinstance(container, dict):
            patches.append((container, attribute, container[attribute]))
            container[attribute] = value
        else:
            patches.append((container, attribute, container.__dict__[attribute]))
            setattr(container, attribute, value)

    try:
        for name in names:
            owner, attribute, target = _resolve(name)
            if _is(answer, target):
                raise ExerciseError(f"this answer is the library's own {name}: the exercise asks "
                                    "you to write it yourself.")
            stub = _stub(name)
            stubs[id(stub)] = target
            put(owner, attribute, stub)
            for module_name, module in list(sys.modules.items()):
                if module is None or not module_name.startswith("jetbook") or module is owner:
                    continue
                for key, value in list(vars(module).items()):
                    if value is target:
                        put(module, key, stub)
            if namespace is not None:
                for key, value in list(namespace.items()):
                    if value is target:
                        put(namespace, key, stub)
        yield
    finally:
        for container, attribute, old in reversed(patches):
            if isinstance(container, dict):
                container[attribute] = old
            else:
                setattr(container, attribute, old)
        # a lazy name first reached inside (jb.bits_per_dim) cached a stub: put the object back
        for module_name, module in list(sys.modules.items()):
            if module is not None and module_name.startswith("jetbook"):
                for key, value in list(vars(module).items()):
                    if id(value) in stubs and getattr(value, "__name__", "") == "out_of_reach_stub":
                        setattr(module, key, stubs[id(value)])


def _stub(name: str):
    def out_of_reach_stub(*args, **kwargs):
        raise ExerciseError(f"this exercise is graded with {name} out of reach: write it "
                            "yourself instead of calling the library's version.")
    return out_of_reach_stub

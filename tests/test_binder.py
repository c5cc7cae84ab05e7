"""Binder builds its environment once, from binder/ alone, and a module it lacks shows up only
as an ImportError in front of a reader: so every third-party module a notebook imports must be
installed by what binder/ asks for (jetbook's base dependencies, the extras binder/postBuild
names, binder/requirements.txt) or by their own dependencies (IPython comes with ipykernel)."""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import pathlib
import re
import sys

import jupytext
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:                                                    # the test extra installs it on 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
# imported only where the platform provides them, under an `if` that checks for it
PLATFORM_ONLY = {"google.colab": "Colab's own module, imported only when IN_COLAB"}


def notebook_imports(path: pathlib.Path) -> dict[str, str]:
    """Dotted module name -> notebook, for every absolute import in a notebook's code cells
    (shell `!` and magic `%` lines dropped, as IPython would run them)."""
    found = {}
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines()
                           if not line.lstrip().startswith(("!", "%")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found.update((alias.name, path.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found[node.module] = path.name
    return found


@functools.cache
def third_party_modules() -> dict[str, str]:
    """Top-level module -> a notebook importing it, without the standard library, jetbook
    itself and PLATFORM_ONLY modules."""
    modules = {}
    for path in NOTEBOOKS:
        for name, notebook in notebook_imports(path).items():
            if any(name == p or name.startswith(p + ".") for p in PLATFORM_ONLY):
                continue
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "jetbook":
                modules.setdefault(top, notebook)
    return modules


def binder_requirements() -> list[Requirement]:
    """What binder/ installs: jetbook with the extras of postBuild's `pip install .[...]`, and
    binder/requirements.txt."""
    post_build = (BINDER / "postBuild").read_text()
    match = re.search(r"""pip install[^\n]*?["']?\.\[([\w,-]+)\]""", post_build)
    assert match, "binder/postBuild does not `pip install .[EXTRAS]` the checkout"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in match.group(1).split(","):
        requirements += [Requirement(r) for r in project["optional-dependencies"][extra]]
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirements.append(Requirement(line))
    return requirements


@functools.cache
def installed_closure(requirements: tuple[Requirement, ...]) -> set[str]:
    """Canonical names of the distributions `requirements` bring in, following each one's
    declared dependencies as installed here (the test environment holds them all)."""
    seen, todo = set(), [(r, ()) for r in requirements]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or ("",))):
            continue
        key = (name, tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue                       # not installed here: its own deps cannot be followed
        todo += [(Requirement(r), tuple(req.extras)) for r in requires]
    return {name for name, _ in seen}


@functools.cache
def _packages_distributions():
    return importlib.metadata.packages_distributions()


def test_notebooks_import_something():
    modules = third_party_modules()
    assert {"jax", "flax", "matplotlib", "tensorflow_datasets", "IPython"} <= set(modules)


@pytest.mark.parametrize("module", sorted(third_party_modules()))
def test_binder_installs_every_module_the_notebooks_import(module):
    providers = _packages_distributions().get(module)
    notebook = third_party_modules()[module]
    assert providers, f"{notebook} imports {module}, which no installed distribution provides here"
    installed = installed_closure(tuple(binder_requirements()))
    assert {canonicalize_name(p) for p in providers} & installed, (
        f"{notebook} imports {module} ({', '.join(providers)}), which binder/ does not install: "
        "add the extra that declares it to binder/postBuild")


def test_the_check_sees_a_missing_extra():
    without_tfds = [r for r in binder_requirements() if canonicalize_name(r.name) != "tensorflow-datasets"]
    assert "tensorflow-datasets" not in installed_closure(tuple(without_tfds))
    assert "ipython" in installed_closure((Requirement("ipykernel"),))    # dependencies count


def test_binder_pins_python():
    """repo2docker reads `python-X.Y` from runtime.txt; without it Binder picks its default,
    which moves under the notebooks."""
    version = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-3\.(\d+)", version)
    assert match, f"binder/runtime.txt must be python-3.Y, got {version!r}"
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert floor.startswith(">=3.") and int(match.group(1)) >= int(floor[len(">=3."):])

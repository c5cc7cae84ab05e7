"""Every notebook starts with the one setup cell of jetbook.teaching.setup_cell, that cell leaves
Colab's preinstalled stack as it is, and the accelerator report it prints names the cause and
the fix when a GPU or TPU is there but JAX runs on the CPU."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import jax
import nbformat
import pytest

from jetbook.teaching import runtime, setup_cell
from jetbook.teaching.setup_cell import CELL

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
PAIRED = [p.with_suffix(".ipynb") for p in NOTEBOOKS]


def first_code_cell(path: pathlib.Path) -> str:
    """The first code cell's source of a percent .py or of an .ipynb: the .ipynb is what Colab,
    Kaggle and Binder run, so it is read as it is, with no jupytext in between."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
    else:
        import jupytext
        nb = jupytext.read(path)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def test_all_ten_notebooks_are_covered():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(11)]


@pytest.mark.parametrize("path", NOTEBOOKS + PAIRED, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_canonical_cell(path):
    assert first_code_cell(path) == CELL, (
        f"{path.name}: first code cell differs from jetbook.teaching.setup_cell.CELL; run "
        "`python -m jetbook.teaching.setup_cell` then `jupytext --sync notebooks/*.py`")


def test_a_changed_cell_is_caught_and_rewritten(tmp_path):
    copy = tmp_path / NOTEBOOKS[0].name
    copy.write_text(NOTEBOOKS[0].read_text().replace('"-q"', '"-q", "-U"'))
    assert first_code_cell(copy) != CELL                       # what the test above would flag
    assert setup_cell.apply(tmp_path) == [copy]
    assert first_code_cell(copy) == CELL
    assert copy.read_text() == NOTEBOOKS[0].read_text()        # nothing else in the file moved
    assert setup_cell.apply(tmp_path) == []                    # idempotent


def test_cell_installs_plain_jetbook_and_never_upgrades():
    assert "[lab]" not in CELL and "-U" not in CELL and "--upgrade" not in CELL
    assert "JETBOOK_SOURCE" in CELL and "jetbook @ git+https://github.com/" in CELL


# --- the accelerator report, on faked machines ----------------------------------------------

@pytest.fixture
def machine(monkeypatch):
    """A plain CPU machine outside Colab and Kaggle; tests then add the hardware they fake."""
    for name in [*runtime._TPU_ENV, "KAGGLE_DOCKER_IMAGE", "KAGGLE_KERNEL_RUN_TYPE",
                 "KAGGLE_URL_BASE", "COLAB_RELEASE_TAG"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    files = set()
    monkeypatch.setattr(runtime.shutil, "which", lambda cmd: "/usr/bin/nvidia-smi" if "nvidia-smi" in files else None)
    monkeypatch.setattr(runtime.os.path, "exists", lambda p: p in files)
    monkeypatch.setattr(runtime.pathlib.Path, "is_dir", lambda self: False)
    versions = {"jax": "0.7.2", "jaxlib": "0.7.2"}
    monkeypatch.setattr(runtime, "_version", versions.get)
    monkeypatch.setattr(runtime.jax, "default_backend", lambda: "cpu")
    return files, versions


def test_plain_cpu_machine_gets_no_warning(machine):
    assert runtime.accelerator_hardware() is None
    report = runtime.accelerator_report()
    assert "WARNING" not in report and report == runtime.describe_devices()


def test_real_machine_report_matches_jax():
    report = runtime.accelerator_report()
    assert f"JAX {jax.__version__}, backend '{jax.default_backend()}'" in report


def test_gpu_present_but_jax_upgraded_past_its_cuda_plugin(machine, monkeypatch):
    files, versions = machine
    files.add("nvidia-smi")
    versions.update({"jax": "0.8.0", "jaxlib": "0.8.0", "jax-cuda12-plugin": "0.7.2",
                     "jax-cuda12-pjrt": "0.7.2"})
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_2026")
    report = runtime.accelerator_report()
    assert "WARNING: this machine has a GPU, but JAX 0.8.0 sees only the CPU" in report
    assert "jax-cuda12-plugin 0.7.2" in report and "upgraded jax past its CUDA plugin" in report
    assert 'pip install "jax[cuda12]==0.8.0"' in report and "restart the runtime" in report
    assert "Disconnect and delete runtime" in report


def test_gpu_found_by_device_node_with_no_cuda_plugin(machine):
    files, _ = machine
    files.add("/dev/nvidia0")
    advice = runtime.accelerator_report()
    assert "has a GPU" in advice and "no CUDA plugin is installed" in advice
    assert 'jax[cuda12]==0.7.2' in advice and "Disconnect" not in advice     # not on Colab


def test_gpu_with_matching_plugin_points_at_restart(machine):
    files, versions = machine
    files.add("nvidia-smi")
    versions.update({"jax-cuda12-plugin": "0.7.2", "jax-cuda12-pjrt": "0.7.2"})
    assert "was not restarted" in runtime.accelerator_report()


def test_no_warning_when_jax_uses_the_gpu(machine, monkeypatch):
    files, _ = machine
    files.add("nvidia-smi")
    monkeypatch.setattr(runtime.jax, "default_backend", lambda: "gpu")
    assert "WARNING" not in runtime.accelerator_report()


@pytest.mark.parametrize("sign", ["/dev/accel0", "TPU_ACCELERATOR_TYPE", "COLAB_TPU_ADDR", "kaggle"])
def test_tpu_present_but_jax_on_cpu(machine, monkeypatch, sign):
    files, versions = machine
    if sign.startswith("/dev"):
        files.add(sign)
    elif sign == "kaggle":
        monkeypatch.setenv("KAGGLE_DOCKER_IMAGE", "gcr.io/kaggle-gpu-images/python-tpuvm@sha256:0")
        monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    else:
        monkeypatch.setenv(sign, "v5litepod-1")
    versions["libtpu"] = "0.0.21"
    report = runtime.accelerator_report()
    assert "has a TPU" in report and "libtpu 0.0.21" in report
    assert 'pip install "jax[tpu]==0.7.2"' in report
    assert ("Kaggle" in report) == (sign == "kaggle")


# --- the cell on Colab's stack --------------------------------------------------------------

PROTECTED = ["jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "flax", "ipywidgets"]
VERSIONS = ("import json, importlib.metadata as m, sys\n"
            "def v(d):\n"
            "    try: return m.version(d)\n"
            "    except m.PackageNotFoundError: return None\n"
            "print(json.dumps({d: v(d) for d in sys.argv[1:]}))")


def _run(cmd, **kw):
    """subprocess.run that fails the test with the command's output: a venv or pip that cannot
    be built is a failure to see, never a skip."""
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _pins() -> list[str]:
    lines = (ROOT / ".ci" / "colab-pins.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_setup_cell_keeps_colab_versions(tmp_path):
    """Runs notebook 00's own setup cell (from the .ipynb Colab opens) in a venv holding Colab's
    pins plus the CUDA plugin, installing this work tree through JETBOOK_SOURCE; no pinned
    version may move. Builds the venv (about 1-3 minutes from pip's cache) unless
    JETBOOK_SETUP_VENV names one to reuse, which then gets jetbook installed into it."""
    pins = _pins() + ["jax-cuda12-plugin==0.7.2", "jax-cuda12-pjrt==0.7.2"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JETBOOK_SOURCE")}
    venv = os.environ.get("JETBOOK_SETUP_VENV")
    start = time.perf_counter()
    if venv:
        python = pathlib.Path(venv) / "bin" / "python"
        assert python.exists(), f"JETBOOK_SETUP_VENV={venv} has no bin/python"
    else:
        venv = tmp_path / "venv"
        _run([sys.executable, "-m", "venv", str(venv)])
        python = venv / "bin" / "python"
        _run([str(python), "-m", "pip", "install", "-q", *pins], env=env)
    built = time.perf_counter() - start

    source = tmp_path / "jetbook-src"                  # the work tree as it is, without .git noise
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.egg-info", "build", "dist", "runs", ".pytest_cache",
        ".ipynb_checkpoints", ".whl", "results", "benchmarks"))
    names = [pin.split("==")[0] for pin in pins]
    before = json.loads(_run([str(python), "-c", VERSIONS, *names], env=env))
    missing = [d for d in PROTECTED if before[d] is None]
    assert not missing, f"the venv lacks {missing}: it does not hold Colab's stack"

    cell = first_code_cell(ROOT / "notebooks" / "00_welcome.ipynb")
    out = _run([str(python), "-c", cell], env={**env, "JETBOOK_SOURCE": str(source)}, cwd=tmp_path)
    after = json.loads(_run([str(python), "-c", VERSIONS, *names], env=env))
    moved = {d: (before[d], after[d]) for d in names if before[d] != after[d]}
    assert not moved, f"the setup cell changed Colab's versions (before, after): {moved}"
    assert f"JAX {before['jax']}" in out, out

    where = _run([str(python), "-c", "import jetbook; print(jetbook.__file__)"], env=env, cwd=tmp_path)
    assert str(ROOT) not in where, f"jetbook came from the checkout, not from JETBOOK_SOURCE: {where}"
    print(f"venv ready in {built:.0f} s; whole test {time.perf_counter() - start:.0f} s")

"""What the notebooks ask of the machine they run on: quick mode, the devices found, and why an
accelerator that is there may be missing from them."""
from __future__ import annotations

import os
import pathlib
import shutil
import sys
import tempfile

import jax


def quick_mode() -> bool:
    """True when JETBOOK_QUICK=1 (set by the tests): budgets shrink, the code path does not."""
    return os.environ.get("JETBOOK_QUICK", "0") not in ("", "0", "false", "False")


def budget(full, quick):
    """`quick` in quick mode, else `full`: the one way notebooks size their work."""
    return quick if quick_mode() else full


def fresh_run_folder(name: str) -> pathlib.Path:
    """An empty folder `jetbook_NAME` in the system temp directory for a notebook's runs.
    The same one each time, emptied first: a rerun trains afresh (rather than resuming) and
    old runs do not pile up; it stays after the notebook, to be looked into."""
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name must be letters, digits, '_' or '-', got {name!r}")
    folder = pathlib.Path(tempfile.gettempdir()) / f"jetbook_{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def describe_devices() -> str:
    """One line per device, e.g. 'cpu:0 TFRT_CPU_0 (cpu)'."""
    lines = [f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()]
    return f"JAX {jax.__version__}, backend '{jax.default_backend()}', {len(lines)} device(s):\n  " + \
        "\n  ".join(lines)


# What a runtime's hardware is, found without JAX: when JAX falls back to the CPU it cannot be
# asked what it failed to use. Colab and Kaggle TPU VMs set some of these variables; old Colab
# TPU nodes set COLAB_TPU_ADDR.
_TPU_ENV = ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID",
            "TPU_CHIPS_PER_HOST_BOUNDS")


def accelerator_hardware() -> str | None:
    """'gpu', 'tpu' or None: the accelerator this machine has, whatever JAX makes of it.
    Conservative on purpose, so a plain CPU machine is never told it lost an accelerator:
    /dev/vfio counts only with a numbered group in it (the bare control node is common)."""
    if shutil.which("nvidia-smi") or os.path.exists("/dev/nvidia0"):
        return "gpu"
    vfio = pathlib.Path("/dev/vfio")
    if (os.path.exists("/dev/accel0")
            or (vfio.is_dir() and any(p.name.isdigit() for p in vfio.iterdir()))
            or any(os.environ.get(name) for name in _TPU_ENV)
            or "tpuvm" in os.environ.get("KAGGLE_DOCKER_IMAGE", "")):
        return "tpu"
    return None


def _version(distribution: str) -> str | None:
    import importlib.metadata
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _where() -> str:
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or os.environ.get("KAGGLE_URL_BASE"):
        return "kaggle"
    return "local"


def cpu_fallback_advice(hardware: str) -> str:
    """Why JAX sees only the CPU on a machine with a `hardware` ('gpu'/'tpu') accelerator, and
    what to do: the usual cause is an install that moved jax past its accelerator plugin, which
    only a matching reinstall or a fresh runtime undoes (a restart alone does not)."""
    jax_v, jaxlib_v = _version("jax"), _version("jaxlib")
    where = _where()
    fresh = {"colab": "In Colab, Runtime → Disconnect and delete runtime gives back the preinstalled "
                      "stack (then run this notebook again).",
             "kaggle": "On Kaggle, restart the session (or Factory reset) to get back the image's stack.",
             "local": "Or start from a fresh environment."}[where]
    head = f"WARNING: this machine has a {hardware.upper()}, but JAX {jax_v} sees only the CPU."
    if hardware == "gpu":
        plugins = {d: _version(d) for d in ("jax-cuda12-plugin", "jax-cuda12-pjrt")}
        installed = ", ".join(f"{d} {v}" for d, v in plugins.items() if v)
        stale = [d for d, v in plugins.items() if v and v != jaxlib_v]
        fix = f'pip install "jax[cuda12]=={jax_v}"'
        if not installed:
            cause = "Likely cause: no CUDA plugin is installed (jax-cuda12-plugin), so jax runs on the CPU."
        elif stale:
            cause = (f"Likely cause: jax/jaxlib {jax_v}/{jaxlib_v} no longer match the installed {installed}: "
                     "an install upgraded jax past its CUDA plugin.")
        else:
            cause = (f"The CUDA plugin matches ({installed}), so the likely cause is a runtime that was not "
                     "restarted after an install, or a GPU busy with another process (run `nvidia-smi`).")
        return "\n".join([head, cause, f"Fix: {fix}, then restart the runtime. {fresh}"])
    libtpu = _version("libtpu") or _version("libtpu-nightly")
    if libtpu is None:
        cause = "Likely cause: libtpu is not installed, so jax runs on the CPU."
    else:
        cause = (f"Likely cause: jax/jaxlib {jax_v}/{jaxlib_v} do not match the installed libtpu {libtpu} "
                 "(an install upgraded jax past it), or another process holds the TPU (one notebook "
                 "at a time can use it).")
    return "\n".join([head, cause, f'Fix: pip install "jax[tpu]=={jax_v}", then restart the runtime. {fresh}'])


def accelerator_report() -> str:
    """What the setup cell prints: JAX's devices, plus why and what to do when a GPU or TPU is
    there but JAX runs on the CPU, which otherwise only shows as a notebook a hundred times slower."""
    report = describe_devices()
    hardware = accelerator_hardware()
    if hardware and jax.default_backend() == "cpu":
        report += "\n" + cpu_fallback_advice(hardware)
    return report

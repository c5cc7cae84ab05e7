"""jetbook: learn normalizing flows by building Jet, a ViT coupling flow, in JAX and Flax NNX.

Three kinds of code live here:

- the model: `config` (JetConfig, TarFlowConfig, TrainConfig, presets), `patches`, `splits`,
  `coupling`, `vit`, `jet`, `tarflow`, `models` (either kind from its config), `conditioning`
  (class labels, guidance), `bayes` (`classify`), `likelihood`, `sampling`, and the
  components Jet leaves out: `actnorm`, `dense` (invertible dense layer), `cnn` (a
  convolutional conditioner), `dequantization` (uniform or learned noise, the bound);
- training and tools: `data`, `train`, `sharding`, `checkpoints`, `images`, `baselines`,
  `cli` (`jetbook train | eval | sample`), `bench` (`python -m jetbook.bench`), and
  `shipped` (trained models shipped in the package: `jb.pretrained("digits")`), `progress`
  (bars in a terminal, plain lines in a log), `host_memory`, and `compat` (what differs
  between Colab's pinned versions and today's);
- teaching aids, in `jetbook.teaching`: `toys`, `plots`, `widgets`, `exercises`, `checks`,
  `runtime` (quick mode, the accelerator report), `student`, `setup_cell` (every notebook's
  first cell). They are reachable as `jb.toys`, `jb.plots`, ... too.

Everything is imported on first use, so `import jetbook` itself is cheap.
"""
import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "JetConfig": "config", "TrainConfig": "config", "Preset": "config", "presets": "config",
    "get_preset": "config", "TarFlowConfig": "config",
    "Jet": "jet", "TarFlow": "tarflow", "build_model": "models",
    "classify": "bayes", "NO_LABEL": "conditioning",
    "bits_per_dim": "likelihood", "dequantize": "likelihood", "quantize": "likelihood",
    "patchify": "patches", "unpatchify": "patches",
    "sample": "sampling",
    "load_dataset": "data",
    "train_and_evaluate": "train",
    "load_model": "checkpoints", "pretrained": "shipped",
    "budget": "teaching.runtime", "quick_mode": "teaching.runtime",
    "fresh_run_folder": "teaching.runtime",
}
_MODULES = ("config", "patches", "splits", "coupling", "vit", "jet", "tarflow", "models",
            "actnorm", "dense", "cnn", "dequantization",
            "conditioning", "bayes", "compare", "likelihood", "sampling", "data", "train", "sharding", "checkpoints", "images", "baselines", "cli", "bench", "shipped",
            "progress", "host_memory", "compat",
            "teaching")
_TEACHING = ("toys", "plots", "widgets", "exercises", "checks", "runtime", "student", "setup_cell")

__all__ = sorted(_EXPORTS) + list(_MODULES) + list(_TEACHING)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"jetbook.{_EXPORTS[name]}"), name)
    elif name in _MODULES:
        value = importlib.import_module(f"jetbook.{name}")
    elif name in _TEACHING:
        value = importlib.import_module(f"jetbook.teaching.{name}")
    else:
        raise AttributeError(f"module 'jetbook' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

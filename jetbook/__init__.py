"""jetbook: learn normalizing flows by building Jet, a ViT coupling flow, in JAX and Flax NNX.

The library is in layers; each imports only from the layers above it in this list:

- the foundations, here: `fields` (config checks, JSON and `--set` text), `records` (machine
  record, JSON lines, generated Markdown blocks), `progress`, `host_memory`,
  `compilation_cache` (compiled programs kept on disk), `compat`;
- `jetbook.flows`, the models: patches, dimension splits, couplings, the ViT and CNN
  conditioners, ActNorm and the dense layer, class conditioning, Jet, TarFlow, their configs;
- `jetbook.density`, what a flow computes: likelihood and bits/dim, dequantization, sampling,
  Bayes' rule;
- `jetbook.training`: TrainConfig and the presets, data, the step, evaluation, the loop,
  checkpoints, sharding;
- `jetbook.experiments`: benchmarks, the memory planner, the paper's ablations, Jet against
  TarFlow, the codec baselines, exporting the shipped models; and `jetbook.teaching`, the
  notebooks' toys, figures, widgets and exercises;
- on top: `shipped` (`jb.pretrained("digits")`) and `cli` (the `jetbook` command).

Everything is imported on first use, so `import jetbook` itself is cheap. The short names of
the first waves (`jb.train`, `jb.splits`, `jb.plan`, ...) still reach their modules.
"""
import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "JetConfig": "flows.config", "TarFlowConfig": "flows.config",
    "TrainConfig": "training.config",
    "Preset": "training.presets", "presets": "training.presets", "get_preset": "training.presets",
    "Jet": "flows.jet", "TarFlow": "flows.tarflow",
    "build_model": "flows.model_kinds", "parameter_count": "flows.model_kinds",
    "classify": "density.bayes", "NO_LABEL": "flows.conditioning",
    "bits_per_dim": "density.likelihood", "dequantize": "density.likelihood",
    "quantize": "density.likelihood",
    "patchify": "flows.patches", "unpatchify": "flows.patches",
    "sample": "density.sampling",
    "load_dataset": "training.data",
    "train_and_evaluate": "training.loop",
    "load_model": "training.checkpoints", "pretrained": "shipped",
    "budget": "teaching.runtime", "quick_mode": "teaching.runtime",
    "fresh_run_folder": "teaching.runtime",
    "use_compilation_cache": "compilation_cache",
}
# short module name (jb.NAME, `from jetbook import NAME`) -> where the module lives
_MODULES = {
    **{name: name for name in ("fields", "records", "progress", "host_memory",
                               "compilation_cache", "compat",
                               "shipped", "cli", "flows", "density", "training", "experiments",
                               "teaching")},
    **{name: f"flows.{name}" for name in ("patches", "splits", "coupling", "vit", "cnn",
                                          "actnorm", "dense", "conditioning", "jet", "tarflow",
                                          "flops", "compiled", "model_kinds", "multiscale")},
    "models": "flows.model_kinds",
    **{name: f"density.{name}" for name in ("likelihood", "dequantization", "sampling", "bayes")},
    **{name: f"training.{name}" for name in ("data", "sharding", "checkpoints", "images",
                                             "optimizer", "step", "evaluation",
                                             "loop")},
    "train": "training",            # the training API as one namespace (jb.train.train_step, ...)
    "config": "training.presets",   # the configs and presets, as in the first waves
    **{name: f"experiments.{name}" for name in ("bench", "plan", "compare", "ablate", "studies",
                                                "baselines", "export", "paper", "transfer")},
    **{name: f"teaching.{name}" for name in ("toys", "plots", "widgets", "exercises",
                                             "brute_force", "runtime", "student", "setup_cell",
                                             "course")},
    "checks": "teaching.brute_force",
}

__all__ = sorted(_EXPORTS) + sorted(_MODULES)


def lazy_names(package: str, table: dict):
    """(__getattr__, __dir__) for a package whose names are imported on first use; `table`
    maps each name to (module, attribute), attribute None for the module itself."""
    def __getattr__(name):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = table[name]
        value = importlib.import_module(f"jetbook.{module}")
        if attribute is not None:
            value = getattr(value, attribute)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value
        return value

    def __dir__():
        return sorted(set(importlib.import_module(package).__dict__) | set(table))
    return __getattr__, __dir__


__getattr__, __dir__ = lazy_names(__name__, {
    **{name: (module, name) for name, module in _EXPORTS.items()},
    **{name: (module, None) for name, module in _MODULES.items()}})

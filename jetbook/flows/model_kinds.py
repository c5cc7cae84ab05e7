"""The one place that knows every model kind: config class <-> model class <-> the name
("jet", "tarflow") a run folder records, so training, checkpoints and tools build either. A
multiscale Jet (JetConfig.multiscale_levels > 0) is of kind "jet" too."""
from __future__ import annotations

import math

import jax
from flax import nnx

from jetbook.flows.config import JetConfig, TarFlowConfig
from jetbook.flows.jet import Jet
from jetbook.flows.multiscale import MultiscaleJet
from jetbook.flows.tarflow import TarFlow

MODEL_KINDS = {"jet": (JetConfig, Jet), "tarflow": (TarFlowConfig, TarFlow)}


def kind_of(config) -> str:
    """'jet' or 'tarflow' for a model config; anything else is an error."""
    for kind, (config_class, _) in MODEL_KINDS.items():
        if isinstance(config, config_class):
            return kind
    raise ValueError(f"model config must be a JetConfig or TarFlowConfig, got {type(config).__name__}")


def config_class(kind: str):
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODEL_KINDS)}")
    return MODEL_KINDS[kind][0]


def build_model(config, rngs: nnx.Rngs):
    """A fresh Jet (plain or multiscale) or TarFlow, whichever `config` describes."""
    if isinstance(config, JetConfig) and config.multiscale_levels:
        return MultiscaleJet(config, rngs=rngs)
    return MODEL_KINDS[kind_of(config)][1](config, rngs=rngs)


def parameter_count(model) -> int:
    """Trainable parameters of a model, real or abstract (`nnx.eval_shape`); Jet's frozen split
    matrices are not counted."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))

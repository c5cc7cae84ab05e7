"""jetbook: learn normalizing flows by building Jet, a ViT coupling flow, in JAX and Flax NNX."""
from jetbook.jet import Jet, JetConfig
from jetbook.likelihood import bits_per_dim, dequantize, quantize
from jetbook.patches import patchify, unpatchify
from jetbook.presets import get_preset, presets
from jetbook.sampling import sample
from jetbook.data import load_dataset
from jetbook import baselines, coupling, data, exercises, plots, runtime, splits, toys, train, vit
from jetbook.runtime import budget, quick_mode

__version__ = "0.1.0"

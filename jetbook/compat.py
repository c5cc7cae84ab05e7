"""What differs between the oldest releases jetbook supports and today's, in one place.

The floors are Colab's preinstalled stack (jax 0.7.2, flax 0.11.2, optax 0.2.8,
orbax-checkpoint 0.12.4, ipywidgets 7.7.1: `.ci/colab-pins.txt`), so that installing jetbook
there upgrades nothing a GPU or TPU runtime depends on. CI runs everything on those pins and on
the newest releases; each shim below says which version made it necessary, so it can go when
the floor passes it.
"""
from __future__ import annotations

from flax import nnx

# flax 0.12 traverses a Python list of modules only when it is wrapped in `nnx.List`; flax 0.11
# has no `nnx.List` and traverses a plain list.
ModuleList = getattr(nnx, "List", list)

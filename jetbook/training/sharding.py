"""Where arrays live: a 2-D device mesh ("data", "fsdp"), the same code on one CPU, one
accelerator, many devices and many hosts.

Batches are split over every device. Parameters and optimizer state are either replicated
(the "fsdp" axis has size 1) or fully sharded: each array is cut along its largest dimension
that the "fsdp" axis divides, so a device holds 1/fsdp of it. Both are one code path: only
the mesh shape differs, and XLA inserts the gathers and reduce-scatters the step needs.
"""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from jetbook.training.config import SHARDINGS

BATCH_AXES = ("data", "fsdp")      # a batch is split over both mesh axes, i.e. every device


def fsdp_spec(shape: Sequence[int], fsdp_size: int) -> PartitionSpec:
    """Shard the largest dimension divisible by `fsdp_size` along "fsdp"; else replicate.

    Ties go to the first such dimension. With fsdp_size 1 every array is replicated.
    """
    divisible = [d for d in range(len(shape)) if fsdp_size > 1 and shape[d] % fsdp_size == 0]
    if not divisible:
        return PartitionSpec()
    dim = max(divisible, key=lambda d: (shape[d], -d))
    return PartitionSpec(*([None] * dim), "fsdp")


def fsdp_axis_size(sharding: str, fsdp_size: int, num_devices: int) -> int:
    """Size of the "fsdp" mesh axis; errors name the setting that is wrong."""
    if sharding not in SHARDINGS:
        raise ValueError(f"sharding must be one of {SHARDINGS}, got {sharding!r}")
    fsdp = 1 if sharding == "replicated" else (fsdp_size or num_devices)
    if num_devices % fsdp:
        raise ValueError(f"fsdp_size={fsdp_size} must divide the number of devices ({num_devices})")
    return fsdp


def check_batch_size(batch_size: int, num_devices: int, microbatches: int = 1) -> None:
    if batch_size % (num_devices * microbatches):
        raise ValueError(f"batch_size={batch_size} must be divisible by the number of "
                         f"devices ({num_devices}) times microbatches ({microbatches})")


def local_rows(batch_size: int) -> slice:
    """The rows of a global batch that this process feeds to its own devices."""
    count, index = jax.process_count(), jax.process_index()
    return slice(index * batch_size // count, (index + 1) * batch_size // count)


class DeviceMesh:
    """The training mesh: `sharding` is "replicated" or "fsdp"; `fsdp_size` devices share one
    copy of the parameters (0: all devices, so data parallelism happens only inside the batch)."""

    def __init__(self, sharding: str = "replicated", fsdp_size: int = 0, devices=None):
        devices = list(devices if devices is not None else jax.devices())
        n = len(devices)
        fsdp = fsdp_axis_size(sharding, fsdp_size, n)
        self.kind, self.fsdp_size = sharding, fsdp
        self.mesh = jax.make_mesh((n // fsdp, fsdp), ("data", "fsdp"), devices=devices,
                                  axis_types=(jax.sharding.AxisType.Auto,) * 2)
        self.batch = NamedSharding(self.mesh, PartitionSpec(BATCH_AXES))

    @property
    def size(self) -> int:
        return self.mesh.devices.size

    def check_batch_size(self, batch_size: int, microbatches: int = 1) -> None:
        check_batch_size(batch_size, self.size, microbatches)

    def put_batch(self, global_batch: np.ndarray):
        """Each process passes the whole global batch; it keeps only its own rows."""
        return self.put_local_batch(global_batch[local_rows(len(global_batch))])

    def put_local_batch(self, local_batch: np.ndarray):
        """Each process passes its own rows (a TFDS shard); together they form the batch."""
        shape = (len(local_batch) * jax.process_count(), *local_batch.shape[1:])
        return jax.make_array_from_process_local_data(self.batch, local_batch, shape)

    def shardings(self, state):
        """A NamedSharding for every array of `state` (real or abstract), from its shape."""
        return jax.tree.map(lambda a: NamedSharding(self.mesh, fsdp_spec(a.shape, self.fsdp_size)),
                            state)

    def place_abstract(self, module: nnx.Module) -> None:
        """Give a module from `nnx.eval_shape` (or an optimizer) its shardings on this mesh;
        nothing is allocated. Real models are built sharded by train.build_model_and_optimizer."""
        state = nnx.state(module)
        nnx.update(module, jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
            state, self.shardings(state)))

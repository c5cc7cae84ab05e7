"""Where arrays live: a 1-D data-parallel mesh over every device (batches split, parameters
replicated), the same code on one CPU, one accelerator, many devices and many hosts."""
from __future__ import annotations

import jax
import numpy as np
from flax import nnx


class DataParallel:
    """A mesh with one axis, "data", over all devices."""

    def __init__(self, devices=None):
        devices = devices or jax.devices()
        self.mesh = jax.make_mesh((len(devices),), ("data",), devices=devices,
                                  axis_types=(jax.sharding.AxisType.Auto,))
        self.batch = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("data"))
        self.replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())

    @property
    def size(self) -> int:
        return self.mesh.devices.size

    def check_batch_size(self, batch_size: int, microbatches: int = 1) -> None:
        if batch_size % (self.size * microbatches):
            raise ValueError(f"batch_size={batch_size} must be divisible by the number of "
                             f"devices ({self.size}) times microbatches ({microbatches})")

    def put_batch(self, global_batch: np.ndarray):
        """Each process passes the whole global batch; it keeps only its own rows."""
        n, count, index = len(global_batch), jax.process_count(), jax.process_index()
        return self.put_local_batch(global_batch[index * n // count:(index + 1) * n // count])

    def put_local_batch(self, local_batch: np.ndarray):
        """Each process passes its own rows (a TFDS shard); together they form the batch."""
        shape = (len(local_batch) * jax.process_count(), *local_batch.shape[1:])
        return jax.make_array_from_process_local_data(self.batch, local_batch, shape)

    def replicate(self, module: nnx.Module) -> None:
        nnx.update(module, jax.device_put(nnx.state(module), self.replicated))

"""Data-parallel training under `torchrun`: torch.distributed with DistributedDataParallel, NCCL on CUDA and gloo on
the CPU.

The flags fix the GLOBAL batch: every rank builds the same seeded batch order, collates the same padded global batch
(and, for MLM, draws the same masks), then keeps its own rows (`Shard`). Each rank's loss is its rows' summed loss
divided by the global count and multiplied by the world size, so DDP's gradient average equals the gradient of the
single-process mean over the global batch, whatever the split of rows. Dropout differs: each rank draws its own
masks (seeded by seed and rank). Metrics are summed across ranks; only rank 0 writes outputs.

torch.distributed directly rather than Hugging Face accelerate: the loops keep their own length-sorted seeded
batching, masking and early stopping, which accelerate's DataLoader sharding would replace; what DDP needs here is a
process group, the DDP wrapper and a few all-reduces, and a single process runs exactly the code it ran before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from molpeft_cli.errors import MolpeftError


@dataclass(frozen=True)
class Shard:
    """This rank's rows of a global batch: `rows` index the batch; `weights` are 1, or 0 for a stand-in row that
    only keeps a rank with no rows of its own in step with the others (DDP needs every rank to run backward)."""

    rows: torch.Tensor
    weights: torch.Tensor
    global_count: int


@dataclass
class DistContext:
    """Where this process stands: rank and world size (1 and 1 without torchrun), its device and backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict:
        return {"world_size": self.world_size, "backend": self.backend or "none", "device": self.device}

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as the training step should call it: DDP across ranks, the model itself on one."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [torch.device(self.device).index] if self.device.startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def shard(self, n_rows: int) -> Shard:
        """Contiguous, near-equal blocks of the global batch's rows (rank r gets block r)."""
        if not self.distributed:
            return Shard(torch.arange(n_rows), torch.ones(n_rows), n_rows)
        base, extra = divmod(n_rows, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        count = base + (1 if self.rank < extra else 0)
        if count == 0:
            return Shard(torch.zeros(1, dtype=torch.long), torch.zeros(1), n_rows)
        return Shard(torch.arange(start, start + count), torch.ones(count), n_rows)

    def rank_loss(self, per_row: torch.Tensor, shard: Shard) -> torch.Tensor:
        """This rank's share of the global mean loss, scaled so that DDP's average over ranks is that mean."""
        weights = shard.weights.to(per_row.device, per_row.dtype)
        return (per_row * weights).sum() * (self.world_size / shard.global_count)

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over ranks (float64 on the CPU in and out)."""
        if not self.distributed:
            return values
        import torch.distributed as dist

        moved = values.to(self.device)
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        return moved.cpu()

    def rank_seed(self, seed: int) -> int:
        """Seed of this rank's dropout stream: rank 0 keeps `seed`, so one process is the run it always was."""
        return seed if self.rank == 0 else seed * 1_000_003 + self.rank

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


_CONTEXT: DistContext | None = None


def launch_context(device: str) -> DistContext:
    """The context of this process, from torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK); the process
    group is created on first use. `device` is the resolved --device (`cuda` becomes this rank's GPU)."""
    global _CONTEXT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=device)
    if _CONTEXT is not None:
        return _CONTEXT
    import torch.distributed as dist

    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        if torch.cuda.device_count() <= local_rank:
            raise MolpeftError(f"rank {rank} wants GPU {local_rank}, but only {torch.cuda.device_count()} are "
                               "visible; start at most that many processes per node")
        device, backend = f"cuda:{local_rank}", "nccl"
        torch.cuda.set_device(local_rank)
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    _CONTEXT = DistContext(rank, world, local_rank, device, backend)
    return _CONTEXT


def shutdown() -> None:
    """Leave the process group (torchrun's processes end right after), once every rank has got here. Free any
    DistributedDataParallel wrapper first (see `MLMTrainer.train`)."""
    global _CONTEXT
    import gc

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        gc.collect()  # wrappers in reference cycles go now, while the group they point to is alive
        dist.barrier()
        dist.destroy_process_group()
    _CONTEXT = None


def shard_batch(batch, shard: Shard):
    """A `training.batching.Batch` cut to this rank's rows (padding stays that of the global batch)."""
    return batch.rows(shard.rows)


def predict_sharded(context: DistContext, predict, inputs: list) -> torch.Tensor:
    """`predict(inputs_subset) -> float64 values` run on this rank's block of `inputs`, gathered in input order
    on every rank (each position is filled by exactly one rank, so the sum over ranks is exact)."""
    shard = context.shard(len(inputs))
    own = shard.rows[shard.weights > 0].tolist()
    values = torch.zeros(len(inputs), dtype=torch.float64)
    if own:
        values[own] = torch.as_tensor(predict([inputs[i] for i in own]), dtype=torch.float64)
    return context.all_sum(values)

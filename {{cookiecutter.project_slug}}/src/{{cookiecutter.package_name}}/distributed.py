"""Where training runs: the device (`trainer.device`) and, under `torchrun`, the process group.

One process (`python -m ...train`) trains alone. `torchrun --nproc_per_node=N -m ...train` starts N
copies with RANK, LOCAL_RANK and WORLD_SIZE set; they train one model together (DDP) and only
rank 0 writes files, logs and checkpoints.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import PipelineError

DEVICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(PipelineError, ValueError):
    """A bad `trainer` or `model` setting; the message names the key and the valid values."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU; an explicit choice must exist here."""
    if name not in DEVICES:
        raise ConfigError(f"trainer.device={name!r} is not valid: use one of {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "trainer.device='cuda' but this PyTorch sees no CUDA GPU: use "
            "trainer.device=auto (or cpu), or install a CUDA build of PyTorch"
        )
    elif name == "mps" and not _mps_available():
        raise ConfigError(
            "trainer.device='mps' but MPS (Apple GPU) is not available here: "
            "use trainer.device=auto (or cpu)"
        )
    if name == "cuda":
        # Under torchrun each process on a node drives its own GPU.
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(name)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    created_group: bool = False  # we started the process group, so we also end it

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """True outside torchrun and on rank 0: the process that may write outputs."""
    return os.environ.get("RANK", "0") == "0"


def join(device: torch.device) -> World:
    """Join the torchrun process group if there is one (gloo on CPU, NCCL on CUDA)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    created = not dist.is_initialized()
    if created:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(rank=dist.get_rank(), size=dist.get_world_size(), created_group=created)


def leave(world: World) -> None:
    if world.created_group and dist.is_initialized():
        dist.destroy_process_group()


def sum_over_ranks(values: torch.Tensor, world: World) -> torch.Tensor:
    """Add up a tensor across processes (no-op alone), so every rank sees the same numbers."""
    if world.size > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values

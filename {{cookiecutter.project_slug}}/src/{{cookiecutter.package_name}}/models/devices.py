"""Where training runs: the device (`trainer.device`), its mixed precision and torchrun's processes.

One process trains alone. `torchrun --nproc-per-node=N --master-addr=127.0.0.1 -m ...train` starts
N copies with RANK, LOCAL_RANK and WORLD_SIZE set; they train one model together (DDP: each
takes its share of every batch, gradients are averaged) and only rank 0 writes files.
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..errors import PipelineError


class ConfigError(PipelineError, ValueError):
    """A bad `trainer` or `model` setting; the message names the key and the valid values."""


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU; an explicit choice must exist here."""
    found = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name == "auto":
        name = next((kind for kind, here in found.items() if here), "cpu")
    elif name in found and not found[name]:
        gpu = "CUDA GPU" if name == "cuda" else "Apple GPU (MPS)"
        hint = ", or install a CUDA build of PyTorch" if name == "cuda" else ""
        raise ConfigError(
            f"trainer.device={name!r} but this PyTorch sees no {gpu}: "
            f"use trainer.device=auto (or cpu){hint}"
        )
    if name == "cuda":  # under torchrun each process on a machine drives its own GPU
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(name)


def mixed_precision(precision: str, device: torch.device):
    """(dtype or None, autocast context, gradient scaler) for `trainer.precision`: mixed
    precision only on CUDA (auto: bf16 where the GPU has it); elsewhere float32."""
    dtype = None
    if device.type == "cuda" and precision != "fp32":
        if precision == "auto":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        else:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    autocast = torch.autocast("cuda", dtype=dtype) if dtype else contextlib.nullcontext()
    # fp16 needs loss scaling so that small gradients do not round to zero; otherwise the
    # scaler does nothing (scale(loss) is the loss, step(optimizer) is optimizer.step()).
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    return dtype, autocast, scaler


@contextlib.contextmanager
def torch_settings(device: torch.device, cpu_threads: int | None, deterministic: bool):
    """Set PyTorch's global settings for a training run; put them back for the code after it."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if cpu_threads:
        # Small networks gain little from more threads, and lose a lot when other programs
        # busy the cores: threads that wait for each other make each step many times slower.
        torch.set_num_threads(cpu_threads)
    if deterministic:
        if device.type == "cuda":  # cuBLAS needs this to be reproducible
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic, warn_only=warn_only)


def tensor(array, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A copy of a numpy array on the device (contiguous first: torch takes no reversed arrays)."""
    return torch.tensor(np.ascontiguousarray(array), dtype=dtype, device=device)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Add a tensor up across processes (nothing to do alone): every rank sees the same sums."""
        if self.size > 1:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[World]:
    """This process's World; under torchrun it joins the process group (gloo on CPU, NCCL on
    CUDA), and ends it afterwards if it started it."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        yield World()
        return
    started = not dist.is_initialized()
    if started:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield World(dist.get_rank(), dist.get_world_size())
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()


def data_parallel(net: nn.Module, device: torch.device, world: World) -> nn.Module:
    """`net` wrapped by DDP under torchrun, which averages gradients across the processes."""
    if world.size == 1:
        return net
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids)


def batches(x, y, order, first_step: int, batch_size: int, world: World):
    """(x, y, n) for each step of one epoch from `first_step` on, batch_size rows at a time from
    `order` (the epoch's shuffled row numbers); loss sum / n is the batch's mean loss.

    Under DDP every process draws the same order and takes every world.size-th row of each
    batch, so together they see exactly the batches one process would; n is then the batch's
    rows / world.size, as DDP averages the processes' gradients (a mean of sums / n: the whole
    batch's mean)."""
    for start in range(first_step * batch_size, len(order), batch_size):
        batch = order[start : start + batch_size]
        share = batch[world.rank :: world.size]
        yield x.index_select(0, share), y.index_select(0, share), len(batch) / world.size

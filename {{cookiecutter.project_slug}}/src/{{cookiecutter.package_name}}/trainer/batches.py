"""How rows reach the network: each step's training batch, and the validation set in chunks.

`trainer.loader` picks one of two ways, which give the same batches (so the same numbers):
- memory: the data sits on the device as two tensors and a batch is picked by shuffled row
  numbers, so no DataLoader and no host-to-device copy stand in each step's way;
- dataloader: worker processes read the rows from host memory (memory-mapped files too).
Under DDP every process draws the same shuffled order and takes every world.size-th row of each
batch, so together they see exactly the batches a single process would.
"""

import signal
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..distributed import World
from .config import TrainerConfig


def on_device(split, device):
    """(x, y) numpy arrays as float32 / int64 tensors on `device`."""
    x, y = split
    x = np.require(x, dtype=np.float32, requirements=["C", "W"])
    y = np.require(y, dtype=np.int64, requirements=["C", "W"])
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def batches(
    split, order, start_step, cfg: TrainerConfig, world: World, device
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """Yield (x, y, global batch size) for each step of one epoch, from `start_step` on."""
    starts = range(start_step * cfg.batch_size, len(order), cfg.batch_size)
    sizes = [min(cfg.batch_size, len(order) - s) for s in starts]
    if cfg.loader == "memory":
        order = order.to(device)
    rows = [order[s : s + cfg.batch_size][world.rank :: world.size] for s in starts]
    x, y = split
    if cfg.loader == "memory":
        for r, size in zip(rows, sizes, strict=True):
            yield x.index_select(0, r), y.index_select(0, r), size
        return
    loader = torch.utils.data.DataLoader(
        _Rows(x, y),
        sampler=rows,
        batch_size=None,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),  # else the loader draws from (and shifts) the global RNG
        worker_init_fn=_ignore_sigint,
    )
    for (xb, yb), size in zip(loader, sizes, strict=True):
        yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True), size


class _Rows(torch.utils.data.Dataset):
    """Rows of numpy arrays (memory-mapped ones too) for the DataLoader; one item = one batch."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, rows: torch.Tensor):
        rows = rows.numpy()
        x = np.asarray(self.x[rows], dtype=np.float32)
        return torch.from_numpy(x), torch.from_numpy(np.asarray(self.y[rows], dtype=np.int64))


def _ignore_sigint(worker_id: int) -> None:
    # Ctrl-C reaches every process of the terminal; workers leave it to the main process, which
    # finishes its step, saves a checkpoint and then shuts them down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@torch.inference_mode()
def evaluate(net, split, cfg: TrainerConfig, world: World, device, autocast) -> torch.Tensor:
    """Summed loss, correct predictions and rows on this process's share of the validation set.

    Sums, not means, so that adding them up over processes gives the whole set's numbers.
    """
    net.eval()
    x, y = split
    n = len(y)
    lo, hi = n * world.rank // world.size, n * (world.rank + 1) // world.size
    sums = torch.zeros(3, device=device)
    for start in range(lo, hi, cfg.eval_batch_size):
        stop = min(start + cfg.eval_batch_size, hi)
        xb, yb = x[start:stop], y[start:stop]
        if isinstance(xb, np.ndarray):  # the DataLoader path keeps data in host memory
            xb, yb = on_device((xb, yb), device)
        with autocast:
            logits = net(xb)
        sums[0] += F.cross_entropy(logits.float(), yb, reduction="sum")
        sums[1] += (logits.argmax(dim=1) == yb).sum()
        sums[2] += stop - start
    return sums

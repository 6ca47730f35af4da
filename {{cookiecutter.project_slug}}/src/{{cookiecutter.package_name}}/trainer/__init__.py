"""The PyTorch training loop behind the `mlp` model; every setting lives in conf/trainer/.

`fit` is an ordinary loop (shuffle, batch, forward, backward, step) plus what makes runs
trustworthy and fast. Read the modules in this order:
- config.py:      the `trainer` settings, checked before any work starts;
- loop.py:        `fit`, the loop itself, top to bottom;
- batches.py:     how rows reach the network (tensors on the device, or a DataLoader);
- optim.py:       optimiser, learning-rate schedule, mixed precision;
- checkpoints.py: saved each epoch (and on Ctrl-C / SIGTERM), resumed bit for bit on CPU;
- signals.py:     Ctrl-C / SIGTERM stop after the current step; the progress bar.
Under `torchrun` (DDP) each process trains on its share of every batch and rank 0 writes
(../distributed.py).
"""

from .config import ConfigError, TrainerConfig
from .loop import EpochCallback, fit
from .signals import TrainingInterrupted

__all__ = ["ConfigError", "EpochCallback", "TrainerConfig", "TrainingInterrupted", "fit"]

"""Checkpoints: an interrupted run, started again, continues exactly (bit for bit on CPU).

A checkpoint is written at the end of each epoch and on Ctrl-C / SIGTERM, and deleted when
training finishes. It holds the weights, optimiser, schedule, loss scaler, random generators and
`RunState`: everything the loop needs to carry on as if it had never stopped.
"""

import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import TrainerConfig

# Settings that cannot change the numbers, so changing them still resumes from a checkpoint.
NOT_HASHED = ("checkpoint_dir", "resume", "progress", "loader", "num_workers")


@dataclass
class RunState:
    """Besides weights, optimiser and RNGs, what a resumed run needs to continue exactly."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished in the current epoch (non-zero only after an interrupt)
    shuffle_rng: torch.Tensor | None = None  # the shuffling generator at this epoch's start
    loss_sum: torch.Tensor | None = None  # training loss summed over this epoch's steps so far
    best_score: float = math.inf  # lower is better (accuracy is stored negated)
    best_epoch: int = 0
    best_weights: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0  # epochs since the last improvement
    history: list[dict[str, float]] = field(default_factory=list)


def checkpoint_path(net, train, val, cfg: TrainerConfig, seed, device, world) -> Path | None:
    """One file per configuration, named by a hash of all that shapes the result.

    So resume=auto only continues the same run, and parallel sweep jobs never share a file.
    """
    if cfg.checkpoint_dir is None:
        return None
    digest = hashlib.sha256()
    for array in (*train, *val):  # a cheap fingerprint: shapes, ~1000 sampled rows, all labels
        array = np.asarray(array)
        rows = array if array.ndim == 1 else array[:: max(1, len(array) // 1000)]
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(rows).tobytes())
    settings = {k: v for k, v in asdict(cfg).items() if k not in NOT_HASHED}
    about = {
        "trainer": settings,
        "seed": seed,
        "network": repr(net),
        "device": device.type,
        "world_size": world.size,
    }
    digest.update(json.dumps(about, sort_keys=True).encode())
    return Path(cfg.checkpoint_dir) / f"trainer-{digest.hexdigest()[:16]}.pt"


def save_checkpoint(path: Path, net, optimizer, scheduler, scaler, state: RunState) -> None:
    """Write to a temporary file, then rename: a crash never leaves half a checkpoint.

    (No fsync: it would double the cost for small epochs; a power cut may lose the file, and
    an unreadable checkpoint only means starting afresh.)
    """
    payload = {
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler else None,
        "scaler": scaler.state_dict() if scaler else None,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "state": dict(vars(state)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        # weights_only=True: a checkpoint holds only tensors and plain containers, and loading
        # one can never run code hidden in the file.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # e.g. cut short by a power failure: start afresh
        print(f"trainer: ignoring unreadable checkpoint {path} ({exc})", file=sys.stderr)
        return None


def restore(payload: dict, net, optimizer, scheduler, scaler, device) -> RunState:
    """Load a checkpoint into the freshly built pieces; return the state the loop continues."""
    net.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler:
        scheduler.load_state_dict(payload["scheduler"])
    if scaler:
        scaler.load_state_dict(payload["scaler"])
    torch.set_rng_state(payload["torch_rng"])
    if payload["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["cuda_rng"])
    state = RunState(**payload["state"])
    state.loss_sum = state.loss_sum.to(device)
    if state.best_weights is not None:
        state.best_weights = {k: v.to(device) for k, v in state.best_weights.items()}
    return state

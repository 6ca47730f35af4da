"""Checkpoints, and stopping cleanly on Ctrl-C or SIGTERM.

A checkpoint is written at the end of each epoch and when a signal stops training, and deleted
when training finishes. It holds the weights, optimiser, schedule, loss scaler, random generators
and `RunState`: all the loop needs to carry on as if it had never stopped (bit for bit on CPU).
"""

import hashlib
import json
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import PipelineError

# Settings that cannot change the numbers, so changing them still resumes from a checkpoint.
NOT_HASHED = ("checkpoint_dir", "resume", "progress")


@dataclass
class RunState:
    """Besides weights, optimiser and random generators, what a resumed run needs."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished in the current epoch (non-zero only after an interrupt)
    shuffle_rng: torch.Tensor | None = None  # the shuffling generator at this epoch's start
    loss_sum: torch.Tensor | None = None  # training loss summed over this epoch's steps so far
    best_score: float = math.inf  # lower is better (accuracy is stored negated)
    best_epoch: int = 0
    best_weights: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0  # epochs since the last improvement
    history: list[dict[str, float]] = field(default_factory=list)


def path_for(settings: dict, arrays, **about) -> Path | None:
    """One file per configuration in `settings["checkpoint_dir"]`, named by a hash of all that
    shapes the result (settings, data, and `about`: seed, network...): so resume=auto only
    continues the same run, and parallel sweep jobs never share a file."""
    if settings["checkpoint_dir"] is None:
        return None
    digest = hashlib.sha256()
    for array in arrays:  # a cheap fingerprint: shapes, ~1000 sampled rows, all labels
        array = np.asarray(array)
        rows = array if array.ndim == 1 else array[:: max(1, len(array) // 1000)]
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(rows).tobytes())
    hashed = {k: v for k, v in settings.items() if k not in NOT_HASHED}
    digest.update(json.dumps({"trainer": hashed, **about}, sort_keys=True).encode())
    return Path(settings["checkpoint_dir"]) / f"trainer-{digest.hexdigest()[:16]}.pt"


def save(path: Path, parts: dict, state: RunState) -> None:
    """Save `parts` (name: an object with a state_dict, or None), the random generators and
    `state` to a temporary file, then rename it: a crash never leaves half a checkpoint.
    (No fsync: it would double the cost of small epochs; after a power cut an unreadable
    checkpoint only means starting afresh.)"""
    payload = {name: part.state_dict() for name, part in parts.items() if part is not None}
    payload["torch_rng"] = torch.get_rng_state()
    payload["cuda_rng"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    payload["state"] = dict(vars(state))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except OSError as exc:  # e.g. the disk is full: leave no half-written file behind
        tmp.unlink(missing_ok=True)
        raise PipelineError(
            f"cannot write the checkpoint {path}: {exc.strerror or exc}; free some space, "
            "or set trainer.checkpoint_dir=null to train without checkpoints"
        ) from None


def restore(path: Path, parts: dict, device) -> RunState | None:
    """Load the checkpoint at `path` into `parts` (as given to `save`) and return the state the
    loop continues from; None if there is none (or it is unreadable: then start afresh)."""
    if not path.exists():
        return None
    try:
        # weights_only=True: a checkpoint holds only tensors and plain containers, and loading
        # one can never run code hidden in the file.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # e.g. cut short by a power failure
        print(f"trainer: ignoring unreadable checkpoint {path} ({exc})", file=sys.stderr)
        return None
    for name, part in parts.items():
        if part is not None:
            part.load_state_dict(payload[name])
    torch.set_rng_state(payload["torch_rng"])
    if payload["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["cuda_rng"])
    state = RunState(**payload["state"])
    state.loss_sum = state.loss_sum.to(device)
    if state.best_weights is not None:
        state.best_weights = {k: v.to(device) for k, v in state.best_weights.items()}
    return state


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped training, after a checkpoint was saved. A
    KeyboardInterrupt, so `except Exception` lets it through; `errors.run_cli` exits with
    `exit_code` (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, checkpoint: Path | None):
        self.signum, self.checkpoint, self.exit_code = signum, checkpoint, 128 + signum
        where = f"checkpoint saved to {checkpoint}; " if checkpoint else ""
        super().__init__(
            f"training stopped by {signal.Signals(signum).name}: {where}"
            "run again with trainer.resume=auto to continue"
        )


class StopOnSignal:
    """Turn Ctrl-C and SIGTERM into a request that the loop honours after the current step."""

    signum: int | None = None

    def __enter__(self):
        self._previous = {}
        if threading.current_thread() is threading.main_thread():  # Python's rule for handlers
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._request)
        return self

    def _request(self, signum, frame):
        if self.signum is not None:  # asked twice: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

"""Small data, settings and a training script for tests/test_trainer.py.

The subprocess tests run this file as a script, alone or under torchrun:

    python tests/trainer_helpers.py OUT.pt [--checkpoint-dir DIR] [--step-sleep SECONDS]
        [--task regression]
    torchrun --nproc-per-node=2 --master-addr=127.0.0.1 --master-port=PORT \
        tests/trainer_helpers.py OUT.pt

It trains the same network as `train()` below and writes the final weights, the history and
the summary to OUT.pt (rank 0 only); an interrupt exits with 130 or 143.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from {{ cookiecutter.package_name }}.models.trainer import (
    TrainerConfig,
    TrainingInterrupted,
    fit,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = yaml.safe_load((ROOT / "conf" / "trainer" / "default.yaml").read_text())
FEATURES, CLASSES = 8, 3
# conf/trainer/default.yaml, made small: CPU, batch 64, 5 epochs, quiet, no checkpoints.
SMALL = {"device": "cpu", "batch_size": 64, "max_epochs": 5, "progress": False,
         "checkpoint_dir": None}  # fmt: skip


def settings(**overrides) -> TrainerConfig:
    return TrainerConfig.from_dict({**DEFAULTS, **SMALL, **overrides})


def blobs(rows: int = 2000, seed: int = 0, noise: float = 0.3, random_labels: bool = False):
    """A learnable 3-class problem (or pure noise): x_train, y_train, x_val, y_val (80/20)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    scores = x @ rng.normal(size=(FEATURES, CLASSES)) + rng.normal(scale=noise, size=(rows, 3))
    y = rng.integers(0, CLASSES, rows) if random_labels else scores.argmax(axis=1)
    y = y.astype(np.int64)
    cut = rows * 4 // 5
    return x[:cut], y[:cut], x[cut:], y[cut:]


def linear(rows: int = 2000, seed: int = 0, noise: float = 0.3):
    """A learnable regression problem, standardised: y = a linear function of x plus noise,
    x_train, y_train, x_val, y_val (80/20); the noise leaves about 10% of y's variance."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    y = x @ rng.normal(size=FEATURES) + rng.normal(scale=noise * FEATURES**0.5, size=rows)
    y = ((y - y.mean()) / y.std()).astype(np.float32)
    cut = rows * 4 // 5
    return x[:cut], y[:cut], x[cut:], y[cut:]


def network(dropout: float = 0.0, seed: int = 0, outputs: int = CLASSES) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(FEATURES, 32),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(32, 32),
        nn.ReLU(),
        nn.Linear(32, outputs),
    )


def train(config, *, seed=0, dropout=0.0, data=None, net=None, task="classification"):
    """Train; return (network, history, summary). task="regression": linear() data and one
    output, unless data or net say otherwise."""
    regression = task == "regression"
    net = net if net is not None else network(dropout, seed, 1 if regression else CLASSES)
    data = data or (linear() if regression else blobs())
    history, summary = fit(net, *data, config, seed=seed, task=task)
    return net, history, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--checkpoint-dir")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--step-sleep", type=float, default=0.0, help="slow each step down")
    parser.add_argument("--task", default="classification")
    args = parser.parse_args()
    config = settings(max_epochs=args.epochs, checkpoint_dir=args.checkpoint_dir)
    regression = args.task == "regression"
    net = network(args.dropout, outputs=1 if regression else CLASSES)
    if args.step_sleep:  # gives the test time to send a signal; changes no number
        net.register_forward_pre_hook(lambda module, inputs: time.sleep(args.step_sleep))
    try:
        data = (linear if regression else blobs)(args.rows)
        net, history, summary = train(config, net=net, data=data, task=args.task)
    except TrainingInterrupted as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    if os.environ.get("RANK", "0") == "0":  # torchrun: only rank 0 writes
        torch.save({"weights": net.state_dict(), "history": history, "summary": summary}, args.out)


if __name__ == "__main__":
    main()

"""The PyTorch training loop behind the MLPs (mlp.py); its settings: conf/trainer/default.yaml.

`fit` is an ordinary loop (shuffle, batch, forward, backward, step) plus what makes runs
trustworthy and fast: every setting checked before any work (TrainerConfig), early stopping that
keeps the best epoch's weights, a checkpoint per epoch and on Ctrl-C (checkpoints.py), mixed
precision on CUDA and several processes under torchrun (devices.py). Read `_train` top to bottom.
"""

import math
import re
import sys
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import checkpoints, devices
from .checkpoints import RunState, StopOnSignal, TrainingInterrupted
from .devices import DEVICES, ConfigError

__all__ = ["ConfigError", "TrainerConfig", "TrainingInterrupted", "fit"]

CHOICES: dict[str, tuple[Any, ...]] = {
    "device": DEVICES,
    "precision": ("auto", "bf16", "fp16", "fp32"),
    "optimizer": ("adam", "adamw", "sgd"),
    "scheduler": ("none", "cosine", "step"),
    "monitor": ("val_loss", "val_accuracy"),
    "loader": ("memory", "dataloader"),
    "resume": ("auto", "never"),
    "progress": ("auto", True, False),
    "deterministic": (True, False),
}
# Numeric settings, worded as the error message shows what is allowed.
NUMBERS = {
    **dict.fromkeys(["lr", "gamma"], "a number > 0"),
    **dict.fromkeys(["weight_decay", "momentum", "min_delta"], "a number >= 0"),
    **dict.fromkeys(["batch_size", "eval_batch_size", "max_epochs"], "an integer > 0"),
    **dict.fromkeys(["step_size", "cpu_threads"], "an integer > 0"),
    **dict.fromkeys(["num_workers", "patience"], "an integer >= 0"),
}
NULL_MEANS = {"patience": "never stop early", "cpu_threads": "one per core"}
TASKS = ("classification", "regression")  # the loss: cross-entropy, or mean squared error


@dataclass(frozen=True)
class TrainerConfig:
    """The `trainer` settings, checked when made. Defaults: conf/trainer/default.yaml's values
    (that file says what each one means)."""

    device: str = "auto"
    precision: str = "auto"
    cpu_threads: int | None = 1
    optimizer: str = "adam"
    lr: float = 0.003
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "none"
    step_size: int = 30
    gamma: float = 0.1
    batch_size: int = 32
    eval_batch_size: int = 4096
    max_epochs: int = 200
    monitor: str = "val_loss"
    patience: int | None = 20
    min_delta: float = 0.0
    loader: str = "memory"
    num_workers: int = 0
    checkpoint_dir: str | None = "models/checkpoints"
    resume: str = "auto"
    progress: bool | str = "auto"
    deterministic: bool = True

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainerConfig":
        """From a dict such as the `trainer` config group; missing keys keep their defaults."""
        names = [f.name for f in fields(cls)]
        for key in raw:
            if key not in names:
                raise ConfigError(f"trainer.{key} is not a trainer setting: use {', '.join(names)}")
        return cls(**raw)

    def __post_init__(self):
        """A bad value fails here, in one line naming the key and what is allowed, instead of
        deep inside a training run."""
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            # Compare types too: YAML's `true` must not pass for 1, nor 1 for `true`.
            if not any(value == a and type(value) is type(a) for a in allowed):
                shown = ", ".join(str(a).lower() for a in allowed)
                raise ConfigError(f"trainer.{key}={value!r} is not valid: use one of {shown}")
        for key, allowed in NUMBERS.items():
            value = getattr(self, key)
            # bool is an int in Python, but YAML's `true` is no number of epochs.
            number = int if allowed.startswith("an integer") else (int, float)
            if (value is None and key in NULL_MEANS) or (
                isinstance(value, number)
                and not isinstance(value, bool)
                and (value > 0 or (value == 0 and allowed.endswith(">= 0")))
            ):
                continue
            hint = f" (or null: {NULL_MEANS[key]})" if key in NULL_MEANS else ""
            if isinstance(value, str) and re.fullmatch(r"[\d.]+e[-+]?\d+", value):
                hint += f"; YAML reads {value} as text: write it with a dot, e.g. 1.0e-3"
            raise ConfigError(f"trainer.{key}={value!r} is not valid: use {allowed}{hint}")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, str):
            raise ConfigError(
                f"trainer.checkpoint_dir={self.checkpoint_dir!r} is not valid: "
                "use a folder path, or null for no checkpoints"
            )


def fit(
    net: nn.Module, x_train, y_train, x_val, y_val, config: TrainerConfig | dict, *, seed: int,
    task: str = "classification",
) -> tuple[list[dict[str, float]], dict[str, Any]]:  # fmt: skip
    """Train `net` in place; it ends on the training device with its best epoch's weights.

    x: float32 feature rows; y: class numbers 0..k-1 for a net with k outputs (classification),
    or numbers, best standardised, for a net with one output (regression). Returns (history,
    summary): one dict per epoch (epoch, train_loss, val_loss, val_accuracy if classifying, lr),
    complete even after a resume, and what is worth reporting (device, epochs, best epoch...).
    """
    cfg = config if isinstance(config, TrainerConfig) else TrainerConfig.from_dict(config)
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not valid: use one of {', '.join(TASKS)}")
    if task == "regression" and cfg.monitor == "val_accuracy":
        raise ConfigError("trainer.monitor='val_accuracy' does not suit regression: use val_loss")
    if len(y_val) == 0:
        raise ConfigError("the validation set is empty: give it some rows")
    device = devices.resolve_device(cfg.device)
    with (
        devices.torch_settings(device, cfg.cpu_threads, cfg.deterministic),
        devices.process_group(device) as world,
    ):
        return _train(net, (x_train, y_train), (x_val, y_val), cfg, seed, task, device, world)


def _train(net, train, val, cfg: TrainerConfig, seed, task, device, world):
    about = dict(seed=seed, task=task, network=repr(net), device=device.type, world_size=world.size)
    ckpt = checkpoints.path_for(asdict(cfg), (*train, *val), **about)
    y_dtype = "int64" if task == "classification" else "float32"  # class numbers, or numbers
    (x, y), (x_val, y_val) = devices.tensors(*train, y_dtype), devices.tensors(*val, y_dtype)
    if cfg.loader == "memory":  # all rows on the device once: no copying in the loop
        x, y, x_val, y_val = x.to(device), y.to(device), x_val.to(device), y_val.to(device)
    net.to(device)
    # Under torchrun, DDP wraps the network to average gradients across processes.
    train_net = net
    if world.size > 1:
        ids = [device.index] if device.type == "cuda" else None
        train_net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    amp_dtype, autocast, scaler = devices.mixed_precision(cfg.precision, device)
    optimizer, scheduler = _optimizer(net, cfg, device)
    # Our own generator for the shuffling, so nothing else that draws random numbers changes it.
    shuffle = torch.Generator().manual_seed(seed)
    steps = math.ceil(len(y) / cfg.batch_size)  # per epoch

    state = None
    if ckpt and cfg.resume == "auto":  # continue from this configuration's checkpoint, if any
        state = checkpoints.restore(ckpt, net, optimizer, scheduler, scaler, device)
    resumed_from = round(state.epoch + state.step / steps, 3) if state else None
    if state is None:
        state = RunState(shuffle_rng=shuffle.get_state(), loss_sum=torch.zeros((), device=device))

    def save():  # returns where the checkpoint is, for TrainingInterrupted's message
        if ckpt and world.is_main:
            checkpoints.save(ckpt, net, optimizer, scheduler, scaler, state)
        return ckpt if world.is_main else None

    sign = 1.0 if cfg.monitor == "val_loss" else -1.0  # so that lower is always better
    stopped_early = cfg.patience is not None and state.bad_epochs >= cfg.patience
    show = cfg.progress is True or (cfg.progress == "auto" and sys.stderr.isatty())
    bar = tqdm(total=cfg.max_epochs * steps, initial=state.epoch * steps + state.step,
               unit="step", disable=not (show and world.is_main), mininterval=0.5,
               leave=False, dynamic_ncols=True, file=sys.stderr)  # fmt: skip
    with StopOnSignal() as stop, bar:
        while state.epoch < cfg.max_epochs and not stopped_early:
            bar.set_description(f"epoch {state.epoch + 1}/{cfg.max_epochs}")
            # From the generator's state at the epoch's start: after a resume in mid-epoch, the
            # same order again, whose finished steps `batches` skips.
            shuffle.set_state(state.shuffle_rng)
            order = torch.randperm(len(y), generator=shuffle)
            train_net.train()
            for xb, yb, n in devices.batches(x, y, order, state.step, cfg, world, device):
                with autocast:  # the batch's mean loss (for n under DDP, see devices.batches)
                    loss = _loss(task, train_net(xb), yb) / n
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()  # the scaler only acts for fp16, see devices.py
                scaler.step(optimizer)
                scaler.update()
                state.loss_sum += loss.detach()  # added up on the device: no waiting here
                state.step += 1
                bar.update()
                if stop.signum:  # Ctrl-C / SIGTERM: keep the finished step, save, stop
                    raise TrainingInterrupted(stop.signum, save())

            # End of epoch: validate, then read all the epoch's numbers in one wait.
            val_sums = _evaluate(net, x_val, y_val, cfg, task, world, device, autocast)
            totals = torch.cat([state.loss_sum.float().reshape(1), val_sums])  # one all_reduce
            train_loss, val_loss, correct, count = devices.sum_over_ranks(totals, world).tolist()
            metrics = {
                "epoch": state.epoch + 1,
                "train_loss": train_loss / (steps * world.size),  # see devices.batches
                "val_loss": val_loss / count,
                **({"val_accuracy": correct / count} if task == "classification" else {}),
                "lr": optimizer.param_groups[0]["lr"],
            }
            if not math.isfinite(train_loss + val_loss):
                raise ConfigError(f"training diverged in epoch {state.epoch + 1}: lower trainer.lr")
            state.history.append(metrics)
            state.epoch, state.step = state.epoch + 1, 0
            state.shuffle_rng = shuffle.get_state()  # where the next epoch's shuffle starts
            state.loss_sum.zero_()

            # Early stopping: remember the best epoch's weights; stop after `patience` worse ones.
            score = sign * metrics[cfg.monitor]
            if score < state.best_score - cfg.min_delta:
                state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
                state.best_weights = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                state.bad_epochs += 1
                stopped_early = cfg.patience is not None and state.bad_epochs >= cfg.patience
            if scheduler:
                scheduler.step()
            where = save()
            bar.set_postfix({key: metrics[key] for key in ("train_loss", cfg.monitor)})
            if stop.signum:  # the signal came during validation: the epoch is saved, stop
                raise TrainingInterrupted(stop.signum, where)

    net.load_state_dict(state.best_weights)  # early stopping's point: the best epoch's weights
    if ckpt and world.is_main:
        ckpt.unlink(missing_ok=True)  # finished: a stale checkpoint would only confuse
    best = state.history[state.best_epoch - 1]
    return state.history, {
        "device": str(device),
        "precision": str(amp_dtype or torch.float32).removeprefix("torch."),
        "world_size": world.size,
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch,
        "stopped_early": stopped_early,
        "resumed_from_epoch": resumed_from,
        **{f"best_{key}": best[key] for key in ("val_loss", "val_accuracy") if key in best},
    }


def _optimizer(net, cfg: TrainerConfig, device):
    """The optimiser, and the learning-rate schedule stepped once per epoch (None: constant)."""
    # fused=True runs the whole update as one kernel per step instead of several small ones per
    # parameter: about 10-15% faster on CPU for small networks.
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "fused": device.type != "mps"}
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(net.parameters(), momentum=cfg.momentum, **common)
    else:
        adam = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        optimizer = adam(net.parameters(), **common)
    scheduler = None
    if cfg.scheduler == "cosine":  # down to 0 at max_epochs
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.max_epochs)
    elif cfg.scheduler == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, gamma=cfg.gamma)
    return optimizer, scheduler


def _loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The batch's summed loss: cross-entropy of the class scores, or squared error."""
    if task == "regression":
        return F.mse_loss(out.squeeze(1), y, reduction="sum")
    return F.cross_entropy(out, y, reduction="sum")


@torch.inference_mode()
def _evaluate(net, x, y, cfg: TrainerConfig, task, world, device, autocast) -> torch.Tensor:
    """Summed loss, correct predictions (0 for regression) and rows over this process's share
    of the validation set.

    Sums, not means, so that adding them up over processes gives the whole set's numbers.
    """
    net.eval()
    lo, hi = len(y) * world.rank // world.size, len(y) * (world.rank + 1) // world.size
    sums = torch.zeros(3, device=device)
    for start in range(lo, hi, cfg.eval_batch_size):
        stop = min(start + cfg.eval_batch_size, hi)
        xb, yb = x[start:stop].to(device), y[start:stop].to(device)
        with autocast:
            out = net(xb).float()
        sums[0] += _loss(task, out, yb)
        if task == "classification":
            sums[1] += (out.argmax(dim=1) == yb).sum()
        sums[2] += stop - start
    return sums

"""The PyTorch training loop behind the MLPs (mlp.py); its settings: conf/trainer/default.yaml.

`fit` is an ordinary loop (shuffle, batch, forward, backward, step) plus what makes runs
trustworthy: every setting checked before any work (TrainerConfig), early stopping that keeps the
best epoch's weights, a checkpoint per epoch and on Ctrl-C (checkpoints.py), mixed precision on
CUDA and several processes under torchrun (devices.py). Read `_train` top to bottom.
"""

import math
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import checkpoints, devices
from .checkpoints import RunState, StopOnSignal, TrainingInterrupted
from .devices import ConfigError

TASKS = ("classification", "regression")  # the loss: cross-entropy, or mean squared error


def is_a(kind, value) -> bool:
    """isinstance, except that True and False are no numbers (Python counts bool as an int)."""
    return isinstance(value, kind) and not isinstance(value, bool)


# A rule is what the error message says is allowed, and the test of a value.
POSITIVE = ("a number > 0", lambda v: is_a(int | float, v) and v > 0)
NON_NEGATIVE = ("a number >= 0", lambda v: is_a(int | float, v) and v >= 0)
COUNT = ("an integer > 0", lambda v: is_a(int, v) and v > 0)
COUNT_OR_ZERO = ("an integer >= 0", lambda v: is_a(int, v) and v >= 0)
FOLDER = ("a folder path, or null for no checkpoints", lambda v: v is None or isinstance(v, str))


def one_of(*choices):
    """The rule for a choice. Types count too: YAML's `true` must not pass for 1."""
    shown = ", ".join(str(choice).lower() for choice in choices)
    return f"one of {shown}", lambda v: any(v == c and type(v) is type(c) for c in choices)


def or_null(rule, meaning: str):
    allowed, ok = rule
    return f"{allowed} (or null: {meaning})", lambda v: v is None or ok(v)


def check(section: str, values: dict[str, Any], rules: dict) -> None:
    """A bad value fails here, in one line naming the key and what is allowed, instead of deep
    inside a training run."""
    for key, (allowed, ok) in rules.items():
        value = values[key]
        if not ok(value):
            hint = ""
            if isinstance(value, str) and re.fullmatch(r"[\d.]+e[-+]?\d+", value):
                hint = f"; YAML reads {value} as text: write it with a dot, e.g. 1.0e-3"
            raise ConfigError(f"{section}.{key}={value!r} is not valid: use {allowed}{hint}")


def setting(default, rule):
    return field(default=default, metadata={"rule": rule})


@dataclass(frozen=True)
class TrainerConfig:
    """The `trainer` settings, each with its default and its rule, checked when made.
    conf/trainer/default.yaml holds the same defaults and says what each setting means."""

    device: str = setting("auto", one_of("auto", "cpu", "cuda", "mps"))
    precision: str = setting("auto", one_of("auto", "bf16", "fp16", "fp32"))
    cpu_threads: int | None = setting(1, or_null(COUNT, "one per core"))
    optimizer: str = setting("adam", one_of("adam", "adamw", "sgd"))
    lr: float = setting(0.003, POSITIVE)
    weight_decay: float = setting(0.0, NON_NEGATIVE)
    momentum: float = setting(0.9, NON_NEGATIVE)
    scheduler: str = setting("none", one_of("none", "cosine", "step"))
    step_size: int = setting(30, COUNT)
    gamma: float = setting(0.1, POSITIVE)
    batch_size: int = setting(32, COUNT)
    eval_batch_size: int = setting(4096, COUNT)
    max_epochs: int = setting(200, COUNT)
    monitor: str = setting("val_loss", one_of("val_loss", "val_accuracy"))
    patience: int | None = setting(20, or_null(COUNT_OR_ZERO, "never stop early"))
    min_delta: float = setting(0.0, NON_NEGATIVE)
    checkpoint_dir: str | None = setting("models/checkpoints", FOLDER)
    resume: str = setting("auto", one_of("auto", "never"))
    progress: bool | str = setting("auto", one_of("auto", True, False))
    deterministic: bool = setting(True, one_of(True, False))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainerConfig":
        """From a dict such as the `trainer` config group; missing keys keep their defaults."""
        names = [f.name for f in fields(cls)]
        for key in raw:
            if key not in names:
                raise ConfigError(f"trainer.{key} is not a trainer setting: use {', '.join(names)}")
        return cls(**raw)

    def __post_init__(self):
        check("trainer", asdict(self), {f.name: f.metadata["rule"] for f in fields(self)})


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
    # All rows on the device once (a table fits in its memory), so no copying in the loop.
    y_dtype = torch.int64 if task == "classification" else torch.float32  # classes, or numbers
    x, x_val = (devices.tensor(rows, torch.float32, device) for rows in (train[0], val[0]))
    y, y_val = (devices.tensor(targets, y_dtype, device) for targets in (train[1], val[1]))
    train_net = devices.data_parallel(net.to(device), device, world)  # net itself when alone
    amp_dtype, autocast, scaler = devices.mixed_precision(cfg.precision, device)
    optimizer, scheduler = _optimizer(net, cfg, device)
    # What a checkpoint saves and restores besides RunState (each piece has a state_dict).
    parts = {"model": net, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    # Our own generator for the shuffling, so nothing else that draws random numbers changes it.
    shuffle = torch.Generator().manual_seed(seed)
    steps = math.ceil(len(y) / cfg.batch_size)  # per epoch

    # Continue from this configuration's checkpoint, if there is one.
    state = checkpoints.restore(ckpt, parts, device) if ckpt and cfg.resume == "auto" else None
    resumed_from = round(state.epoch + state.step / steps, 3) if state else None
    if state is None:
        state = RunState(shuffle_rng=shuffle.get_state(), loss_sum=torch.zeros((), device=device))

    def save():  # returns where the checkpoint is, for TrainingInterrupted's message
        if ckpt and world.is_main:
            checkpoints.save(ckpt, parts, state)
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
            order = torch.randperm(len(y), generator=shuffle).to(device)
            train_net.train()
            for xb, yb, n in devices.batches(x, y, order, state.step, cfg.batch_size, world):
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
            val_sums = _evaluate(net, x_val, y_val, cfg.eval_batch_size, task, world, autocast)
            totals = torch.cat([state.loss_sum.float().reshape(1), val_sums])  # one all_reduce
            train_loss, val_loss, correct, count = world.sum(totals).tolist()
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
        "batch_size": cfg.batch_size,
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
def _evaluate(net, x, y, rows_per_pass: int, task, world, autocast) -> torch.Tensor:
    """Summed loss, correct predictions (0 for regression) and rows over this process's share
    of the validation set: sums, which added up over processes give the whole set's numbers."""
    net.eval()
    share = slice(len(y) * world.rank // world.size, len(y) * (world.rank + 1) // world.size)
    sums = torch.zeros(3, device=x.device)
    for xb, yb in zip(x[share].split(rows_per_pass), y[share].split(rows_per_pass), strict=True):
        with autocast:
            out = net(xb).float()
        sums[0] += _loss(task, out, yb)
        if task == "classification":
            sums[1] += (out.argmax(dim=1) == yb).sum()
        sums[2] += len(yb)
    return sums

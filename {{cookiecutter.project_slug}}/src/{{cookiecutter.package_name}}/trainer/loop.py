"""The training loop: `fit` sets PyTorch up for the run and puts it back; `_fit` trains.

Read `_fit` from top to bottom: build the pieces, resume from a checkpoint if there is one, then
per epoch: shuffle, batch, forward, backward, step; validate; keep the best weights; save.
The training loss is added up on the device and read once per epoch: calling `.item()` every
step would make the CPU wait for the GPU each time.
"""

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import World, join, leave, resolve_device, sum_over_ranks
from .batches import batches, evaluate, on_device
from .checkpoints import RunState, checkpoint_path, read_checkpoint, restore, save_checkpoint
from .config import ConfigError, TrainerConfig
from .optim import make_optimizer, make_scheduler, mixed_precision
from .signals import StopOnSignal, TrainingInterrupted, progress_bar

EpochCallback = Callable[[int, dict[str, float]], None]


def fit(
    net: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainerConfig | dict[str, Any],
    *,
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train `net` in place (ending with its best weights) and return a summary to track.

    `config` is the `trainer` config group (a dict is checked with TrainerConfig.from_dict).

    `on_epoch(epoch, metrics)` runs once per epoch (epoch 1 first) on rank 0 only, with
    train_loss, val_loss, val_accuracy and lr. After a resume it is first replayed for the
    epochs in the checkpoint, so the new run's curves are complete.
    """
    if isinstance(config, dict):
        config = TrainerConfig.from_dict(config)
    if len(y_val) == 0:
        raise ConfigError("the validation split is empty: raise data.split.val_size")
    device = resolve_device(config.device)
    world = join(device)
    # These settings are global to PyTorch: put them back afterwards for the code that follows.
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    if config.cpu_threads:
        # Small networks gain little from more threads, and lose a lot when other programs
        # busy the cores: threads that wait for each other make each step many times slower.
        torch.set_num_threads(config.cpu_threads)
    if config.deterministic:
        if device.type == "cuda":  # cuBLAS needs this to be reproducible
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _fit(net, (x_train, y_train), (x_val, y_val), config, seed, on_epoch, device, world)
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)
        leave(world)


def _fit(net, train, val, cfg: TrainerConfig, seed, on_epoch, device, world: World):
    ckpt_path = checkpoint_path(net, train, val, cfg, seed, device, world)
    net.to(device)
    # DDP wraps the network to average gradients across processes; we keep `net` for the rest.
    if world.size == 1:
        train_net = net
    else:
        ids = [device.index] if device.type == "cuda" else None
        train_net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    if cfg.loader == "memory":
        train, val = on_device(train, device), on_device(val, device)
    amp_dtype, autocast, scaler = mixed_precision(cfg.precision, device)
    optimizer = make_optimizer(net, cfg, device)
    scheduler = make_scheduler(optimizer, cfg)
    # Our own generator for the shuffling, so nothing else that draws random numbers changes it.
    shuffle = torch.Generator().manual_seed(seed)
    n_rows = len(train[1])
    steps_per_epoch = math.ceil(n_rows / cfg.batch_size)

    state = RunState(shuffle_rng=shuffle.get_state(), loss_sum=torch.zeros((), device=device))
    resumed_from = None
    saved = read_checkpoint(ckpt_path) if ckpt_path and cfg.resume == "auto" else None
    if saved:
        state = restore(saved, net, optimizer, scheduler, scaler, device)
        resumed_from = round(state.epoch + state.step / steps_per_epoch, 3)
        if world.is_main and on_epoch:
            for epoch, metrics in enumerate(state.history, start=1):
                on_epoch(epoch, metrics)

    def save() -> Path | None:
        if ckpt_path and world.is_main:
            save_checkpoint(ckpt_path, net, optimizer, scheduler, scaler, state)
        return ckpt_path if world.is_main else None

    sign = 1.0 if cfg.monitor == "val_loss" else -1.0  # so that lower is always better
    stopped_early = cfg.patience is not None and state.bad_epochs >= cfg.patience
    done = state.epoch * steps_per_epoch + state.step
    with StopOnSignal() as stop, progress_bar(cfg, world, steps_per_epoch, done) as bar:
        while state.epoch < cfg.max_epochs and not stopped_early:
            bar.set_description(f"epoch {state.epoch + 1}/{cfg.max_epochs}")
            # From the state saved at the epoch's start: after a resume in mid-epoch, the same
            # order again, whose finished steps `batches` skips.
            shuffle.set_state(state.shuffle_rng)
            order = torch.randperm(n_rows, generator=shuffle)
            train_net.train()
            loss_sum = state.loss_sum
            for xb, yb, n_global in batches(train, order, state.step, cfg, world, device):
                with autocast:
                    loss = _loss(train_net(xb), yb, n_global, world.size)
                optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                loss_sum += loss.detach()  # stays on the device: no waiting here
                state.step += 1
                bar.update()
                if stop.signum:  # Ctrl-C / SIGTERM: keep the finished step, save, stop
                    raise TrainingInterrupted(stop.signum, save())

            # End of epoch: validate, then one host sync for all numbers of the epoch.
            val_sums = evaluate(net, val, cfg, world, device, autocast)
            # (Each process's loss is scaled by world.size, see _loss; hence the division below.)
            totals = sum_over_ranks(torch.cat([loss_sum.float().reshape(1), val_sums]), world)
            train_loss, val_loss_sum, correct, count = totals.tolist()
            metrics = {
                "train_loss": train_loss / (steps_per_epoch * world.size),
                "val_loss": val_loss_sum / count,
                "val_accuracy": correct / count,
                "lr": optimizer.param_groups[0]["lr"],
            }
            if not math.isfinite(metrics["train_loss"] + metrics["val_loss"]):
                raise ConfigError(
                    f"training diverged at epoch {state.epoch + 1} (train_loss is "
                    f"{metrics['train_loss']}): lower trainer.lr"
                )
            state.history.append(metrics)
            state.epoch, state.step = state.epoch + 1, 0
            state.shuffle_rng = shuffle.get_state()  # where the next epoch's shuffle starts
            loss_sum.zero_()

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
            save()
            bar.set_postfix_str(
                f"loss={metrics['train_loss']:.4f} {cfg.monitor}={metrics[cfg.monitor]:.4f}"
            )
            if world.is_main and on_epoch:
                on_epoch(state.epoch, metrics)
            if stop.signum:  # the signal came during validation or logging: already saved
                raise TrainingInterrupted(stop.signum, ckpt_path if world.is_main else None)

    net.load_state_dict(state.best_weights)  # early stopping's point: the best epoch's weights
    if ckpt_path and world.is_main:
        ckpt_path.unlink(missing_ok=True)  # finished: a stale checkpoint would only confuse
    best = state.history[state.best_epoch - 1]
    return {
        "device": str(device),
        "precision": str(amp_dtype or torch.float32).split(".")[-1],
        "world_size": world.size,
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch,
        "stopped_early": stopped_early,
        "resumed_from_epoch": resumed_from,
        **{f"best_{key}": value for key, value in best.items() if key != "lr"},
    }


def _loss(logits, y, n_global: int, world_size: int) -> torch.Tensor:
    if world_size == 1:
        return F.cross_entropy(logits, y)
    # DDP averages gradients over processes; scaling each process's summed loss by
    # world_size / n_global makes that average the mean over the whole batch, as alone.
    return F.cross_entropy(logits, y, reduction="sum") * (world_size / n_global)

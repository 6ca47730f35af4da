"""The `trainer` config group as a checked, frozen dataclass.

Every key is checked before any work starts, so a typo fails in one line that names the key and
the values allowed, instead of deep inside a training run.
"""

from dataclasses import dataclass, fields
from typing import Any

from ..distributed import DEVICES, ConfigError

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
# Numeric settings: the kind of number and its bound, worded as the error message shows them.
NUMBERS = {
    "lr": ("a number", "> 0"),
    "gamma": ("a number", "> 0"),
    "step_size": ("an integer", "> 0"),
    "batch_size": ("an integer", "> 0"),
    "eval_batch_size": ("an integer", "> 0"),
    "max_epochs": ("an integer", "> 0"),
    "cpu_threads": ("an integer", "> 0"),
    "weight_decay": ("a number", ">= 0"),
    "momentum": ("a number", ">= 0"),
    "min_delta": ("a number", ">= 0"),
    "num_workers": ("an integer", ">= 0"),
    "patience": ("an integer", ">= 0"),
}
NULL_MEANS = {"patience": "never stop early", "cpu_threads": "one per core"}


@dataclass(frozen=True)
class TrainerConfig:
    """The `trainer` config group (see conf/trainer/default.yaml for what each key means)."""

    device: str
    precision: str
    cpu_threads: int | None
    optimizer: str
    lr: float
    weight_decay: float
    momentum: float
    scheduler: str
    step_size: int
    gamma: float
    batch_size: int
    eval_batch_size: int
    max_epochs: int
    monitor: str
    patience: int | None
    min_delta: float
    loader: str
    num_workers: int
    checkpoint_dir: str | None
    resume: str
    progress: Any
    deterministic: bool

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainerConfig":
        """Check every value; a bad one fails with one line naming the key and what is allowed."""
        names = [f.name for f in fields(cls)]
        for key in raw:
            if key not in names:
                raise ConfigError(f"trainer.{key} is not a trainer setting: use {', '.join(names)}")
        for key in names:
            if key not in raw:
                raise ConfigError(
                    f"trainer.{key} is missing: copy it from conf/trainer/default.yaml"
                )
        for key, allowed in CHOICES.items():
            # Compare types too: YAML's `true` must not pass for 1, nor 1 for `true`.
            if not any(raw[key] == a and type(raw[key]) is type(a) for a in allowed):
                shown = ", ".join(str(a).lower() for a in allowed)
                raise ConfigError(f"trainer.{key}={raw[key]!r} is not valid: use one of {shown}")
        for key, (kind, bound) in NUMBERS.items():
            value = raw[key]
            if value is None and key in NULL_MEANS:
                continue
            if not _in_bounds(value, kind, bound):
                hint = f" (or null: {NULL_MEANS[key]})" if key in NULL_MEANS else ""
                if isinstance(value, str) and _is_number(value):
                    hint += f"; YAML reads {value} as text: write it with a dot, e.g. 1.0e-3"
                raise ConfigError(f"trainer.{key}={value!r} is not valid: use {kind} {bound}{hint}")
        if raw["checkpoint_dir"] is not None and not isinstance(raw["checkpoint_dir"], str):
            raise ConfigError(
                f"trainer.checkpoint_dir={raw['checkpoint_dir']!r} is not valid: "
                "use a folder path, or null for no checkpoints"
            )
        return cls(**raw)


def _in_bounds(value: Any, kind: str, bound: str) -> bool:
    # bool is a subclass of int in Python, but YAML's `true` is no number of epochs.
    types = int if kind == "an integer" else (int, float)
    if isinstance(value, bool) or not isinstance(value, types):
        return False
    return value > 0 if bound == "> 0" else value >= 0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

"""Model registry: `build_model(cfg)` for training, `load_model(folder)` for use."""

import json
from pathlib import Path
from typing import Any

from .base import Model

REGISTRY: dict[str, type[Model]] = {}


def register(name: str):
    def decorator(cls: type[Model]) -> type[Model]:
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return decorator


def _model_class(name: str) -> type[Model]:
    # Imported here so that choosing a scikit-learn model never imports torch.
    if name == "mlp":
        from . import mlp  # noqa: F401
    else:
        from . import sklearn_models  # noqa: F401
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY) + (["mlp"] if "mlp" not in REGISTRY else []))
        raise ValueError(
            f"model.name {name!r} is unknown: use one of {known} or register a new class in models/"
        )
    return REGISTRY[name]


def build_model(
    model_cfg: dict[str, Any], *, seed: int, trainer: dict[str, Any] | None = None
) -> Model:
    params = {k: v for k, v in model_cfg.items() if k != "name"}
    return _model_class(model_cfg["name"])(params, seed=seed, trainer=trainer)


def load_model(folder: Path) -> Model:
    meta = json.loads((folder / "model.json").read_text())
    model = _model_class(meta["name"])(meta["params"], seed=meta["seed"], trainer=meta["trainer"])
    model.load_weights(folder)
    return model

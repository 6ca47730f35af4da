"""Model registry: `build_model(cfg)` for training, `load_model(folder)` for use."""

import importlib
import json
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from .base import Model

REGISTRY: dict[str, type[Model]] = {}


def register(name: str):
    def decorator(cls: type[Model]) -> type[Model]:
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return decorator


def _model_class(name: str) -> type[Model]:
    """The class registered as `name`, importing only the module it lives in.

    A model lives in models/<name>.py (like mlp.py) or, for the scikit-learn baselines, in
    sklearn_models.py; so choosing a scikit-learn model never imports torch.
    """
    if name not in REGISTRY:
        own_module = name.isidentifier() and (Path(__file__).parent / f"{name}.py").exists()
        importlib.import_module(f".{name if own_module else 'sklearn_models'}", __name__)
    if name not in REGISTRY:
        modules = sorted(p.stem for p in Path(__file__).parent.glob("*.py") if p.stem[0] != "_")
        known = sorted(set(REGISTRY) | set(modules) - {"base", "sklearn_models"})
        raise PipelineError(
            f"model.name {name!r} is unknown: use one of {', '.join(known)}, or add "
            f"models/{name}.py with a class registered as {name!r} (see conf/model/README.md)"
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

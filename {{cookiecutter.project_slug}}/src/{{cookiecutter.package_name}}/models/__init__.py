"""Models are scikit-learn estimators built from conf/model/<name>.yaml.

A model file names a class (`_target_`) and its keyword arguments; Hydra's `instantiate`
builds it. So any scikit-learn estimator is one YAML file away, and `Pipeline`,
`cross_validate`, `clone` and joblib work for every model, the PyTorch MLP (mlp.py) included.
"""

import inspect
from typing import Any

from ..errors import PipelineError


def build_estimator(model_cfg: dict[str, Any]):
    """The unfitted estimator for a `model` config (its `name` is only a label)."""
    from hydra.errors import InstantiationException
    from hydra.utils import get_class, instantiate

    spec = {k: v for k, v in model_cfg.items() if k != "name"}
    name = model_cfg.get("name", "?")
    try:
        cls = get_class(spec["_target_"])
    except (KeyError, ImportError, ValueError) as exc:
        raise PipelineError(
            f"model {name!r}: `_target_` must name an importable estimator class, e.g. "
            f"sklearn.linear_model.LogisticRegression ({exc})"
        ) from None
    check_keys(name, cls, spec)
    try:
        return instantiate(spec, _convert_="all")  # plain lists and dicts, not OmegaConf's
    except InstantiationException as exc:
        raise PipelineError(f"model {name!r} cannot be built: {exc}") from None


def check_keys(name: str, cls: type, spec: dict[str, Any], prefix: str = "model") -> None:
    """A typo such as `max_iters` fails here, naming the valid keys, not deep in a library."""
    from hydra.utils import get_class

    valid = set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"}
    for key, value in spec.items():
        if key.startswith("_"):
            continue
        if key not in valid:
            raise PipelineError(
                f"{prefix}.{key} is not a setting of {name} ({cls.__name__}): "
                f"use one of {', '.join(sorted(valid))}"
            )
        if isinstance(value, dict) and "_target_" in value:
            check_keys(name, get_class(value["_target_"]), value, f"{prefix}.{key}")

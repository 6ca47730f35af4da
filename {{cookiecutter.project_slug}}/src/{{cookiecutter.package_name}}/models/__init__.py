"""Models are scikit-learn estimators built from conf/model/<name>.yaml.

A model file names a class (`_target_`) and its keyword arguments; Hydra's `instantiate`
builds it. So any scikit-learn estimator is one YAML file away, and `Pipeline`,
`cross_validate`, `clone` and joblib work for every model, the PyTorch MLP (mlp.py) included.
Two optional sections choose another estimator: `regression` (what the model is for
`data.task: regression`) and `large_data`, used above `large_data.max_rows` training rows: a
scalable equivalent (`estimator` with a `_target_`), or only the settings that change (merged in).
"""

import inspect
from typing import Any

from ..errors import PipelineError


def build_estimator(
    model_cfg: dict[str, Any], n_rows: int | None = None, task: str = "classification"
):
    """The unfitted estimator for a `model` config (its `name` is only a label)."""
    from hydra.errors import InstantiationException
    from hydra.utils import get_object, instantiate
    from omegaconf import OmegaConf

    name = model_cfg.get("name", "?")
    spec = model_cfg
    if task == "regression":
        if "regression" not in model_cfg:
            raise PipelineError(
                f"model {name!r} has no regression version: add a `regression:` section with "
                "a regressor's `_target_` to its conf/model file, or use data.task: classification"
            )
        spec = model_cfg["regression"]
    large = spec.get("large_data")
    spec = {k: v for k, v in spec.items() if k not in ("name", "large_data", "regression")}
    if large and n_rows is not None and n_rows > large["max_rows"]:
        changes = large["estimator"]
        merged = OmegaConf.to_container(OmegaConf.merge(spec, changes))
        spec = changes if "_target_" in changes else merged
        print(
            f"model {name}: {n_rows:,} training rows is more than large_data.max_rows="
            f"{large['max_rows']:,}, so its large_data version is used: "
            f"{changes.get('_target_', changes)}"
        )
    try:
        target = get_object(spec["_target_"])
    except (KeyError, ImportError, ValueError) as exc:
        raise PipelineError(
            f"model {name!r}: `_target_` must name an importable estimator, e.g. "
            f"sklearn.linear_model.LogisticRegression ({exc})"
        ) from None
    check_keys(name, target, spec)
    try:
        return instantiate(spec, _convert_="all")  # plain lists and dicts, not OmegaConf's
    except InstantiationException as exc:
        raise PipelineError(f"model {name!r} cannot be built: {exc}") from None


def check_keys(name: str, target, spec: dict[str, Any], prefix: str = "model") -> None:
    """A typo such as `max_iters` fails here, naming the valid keys, not deep in a library."""
    from hydra.utils import get_object

    valid = set(inspect.signature(target).parameters) - {"args", "kwargs", "steps"}
    for key, value in spec.items():
        if key not in valid and not key.startswith("_"):  # `_target_` and the like are Hydra's
            raise PipelineError(
                f"{prefix}.{key} is not a setting of {name} ({target.__name__}): "
                f"use one of {', '.join(sorted(valid))}"
            )
        if isinstance(value, dict) and "_target_" in value:
            check_keys(name, get_object(value["_target_"]), value, f"{prefix}.{key}")

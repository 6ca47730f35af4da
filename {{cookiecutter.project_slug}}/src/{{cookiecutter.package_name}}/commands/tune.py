"""Search one model's hyperparameters: `make tune MODEL=svm [TRIALS=30]`.

An Optuna study over tuning/<model>.yaml (see tuning/README.md). Each trial runs the pipeline
in a temporary folder and is logged as a child of one parent run; the end prints the best
trial's `dvc exp run -S ...` command, which runs it through the real pipeline.
"""

import argparse
import json
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from .. import pipeline, tracking
from ..config import Paths, compose
from ..errors import PipelineError, run_cli
from ..metrics import HEADLINE, LOWER_IS_BETTER
from ..prepare import task_of

TUNING_DIR = Path("tuning")


def load_space(model: str, folder: Path = TUNING_DIR) -> dict:
    path = folder / f"{model}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        raise PipelineError(
            f"no search space {path} for model {model!r}: write one "
            f"(see {folder}/README.md); spaces exist for: {known}"
        )
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not spec.get("space"):
        raise PipelineError(f"{path} has no `space:` entries")
    return spec


def suggest(trial, key: str, rule: dict) -> str:
    """One value sampled from {low, high, log} (integers if both are) or {choices}, as key=value."""
    low, high, log = rule.get("low"), rule.get("high"), bool(rule.get("log", False))
    if "choices" in rule:  # Optuna stores plain values only: lists travel as JSON text
        value = json.loads(trial.suggest_categorical(key, [json.dumps(c) for c in rule["choices"]]))
    elif isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
        value = trial.suggest_int(key, low, high, log=log)
    else:
        value = trial.suggest_float(key, float(low), float(high), log=log)
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"  # lists as [a, b]


def tune(model: str, trials: int | None, extra: Sequence[str] = ()):
    """Run the study; return the parent run's id and the best Optuna trial."""
    import optuna

    spec = load_space(model)
    trials = trials or int(spec.get("trials", 20))
    base = [f"model={model}", *extra]
    cfg = compose(base)
    # Scored on the validation split unless the file says otherwise: never choose on test.
    metric = spec.get("metric") or f"val.{HEADLINE[task_of(cfg['data'])]}"
    lower_is_better = metric.split(".")[-1].removesuffix("_mean") in LOWER_IS_BETTER
    if not tracking.enabled(cfg):
        raise PipelineError("tuning is only useful tracked: unset the tracking switch")
    with (
        tracking.parent_run(cfg, kind="tune-parent", name=f"tune-{model}") as parent,
        tempfile.TemporaryDirectory(prefix="tune-") as folder,
    ):
        paths = Paths(Path(folder))  # the trials run one after another, each in this folder

        def objective(trial) -> float:
            overrides = base + [suggest(trial, key, rule) for key, rule in spec["space"].items()]
            config = compose(overrides)
            config["trainer"]["checkpoint_dir"] = None  # a trial is never resumed
            metrics = pipeline.run_pipeline(config, paths)
            run_id = tracking.log_run(config, paths, metrics, parent_run_id=parent, kind="tune")
            trial.set_user_attr("run_id", run_id)
            command = "dvc exp run " + " ".join(f"-S {shlex.quote(o)}" for o in overrides)
            trial.set_user_attr("command", command)
            # Scored under the names MLflow and `make compare` show (val.f1, cv.f1_mean, ...).
            if (score := tracking.flatten(metrics).get(metric)) is None:
                raise PipelineError(f"the runs have no metric {metric!r}: try val.f1 or val.r2")
            return score

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=cfg["seed"])
        direction = "minimize" if lower_is_better else "maximize"
        study = optuna.create_study(direction=direction, sampler=sampler)
        study.optimize(objective, n_trials=trials)
        best = study.best_trial
        mlflow_client = tracking.client()
        mlflow_client.log_metric(parent, f"best.{metric}", best.value)
        mlflow_client.set_tag(parent, "tune.metric", metric)
        mlflow_client.set_tag(parent, "tune.best_run", best.user_attrs["run_id"])
        mlflow_client.set_tag(parent, "reproduce.command", best.user_attrs["command"])
    return parent, best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a conf/model/ name, e.g. svm")
    parser.add_argument("--trials", type=int, help="default: `trials` in tuning/<model>.yaml")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every trial")
    args = parser.parse_args(argv)
    parent, best = tune(args.model, args.trials, args.overrides)
    print(f"tune: parent run {parent}; best: run {best.user_attrs['run_id']} ({best.value:.4f})")
    print(f"run the best configuration through the pipeline with:\n  {best.user_attrs['command']}")


if __name__ == "__main__":
    run_cli(main)

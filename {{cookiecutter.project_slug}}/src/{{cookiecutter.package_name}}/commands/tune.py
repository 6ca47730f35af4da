"""Search one model's hyperparameters: `make tune MODEL=svm [TRIALS=30]`.

    python -m <package>.commands.tune --model svm --trials 30 [extra Hydra overrides]

An Optuna study (TPE sampler seeded with `seed`) over the search space in tuning/<model>.yaml.
Each trial composes its config from conf/ plus the sampled values, runs the pipeline in a
temporary folder (the DVC workspace is never touched) and is logged as a child of one parent
"tune" run. Trials are scored on the metric the file names, the validation split by default:
the test split is not used for choosing. The end prints the best trial's `dvc exp run -S ...`
command, which runs that configuration through the real pipeline.
Hydra's Optuna sweeper is not used: its latest release pins optuna<3.
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


def suggest(trial, key: str, rule: dict):
    """One value from a space entry: {low, high, log} or {choices}."""
    if "choices" in rule:  # Optuna stores plain values only: lists travel as JSON text
        return json.loads(trial.suggest_categorical(key, [json.dumps(c) for c in rule["choices"]]))
    low, high, log = rule["low"], rule["high"], bool(rule.get("log", False))
    if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
        return trial.suggest_int(key, low, high, log=log)
    return trial.suggest_float(key, float(low), float(high), log=log)


def override(key: str, value) -> str:
    """`key=value` in Hydra's override syntax (lists as [a, b]; strings as they are)."""
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def exp_run_command(overrides: Sequence[str]) -> str:
    return "dvc exp run " + " ".join(f"-S {shlex.quote(o)}" for o in overrides)


def tune(model: str, trials: int | None, extra: Sequence[str] = (), metric: str | None = None):
    """Run the study; return (parent run id, best run id, best score, best trial's overrides)."""
    import optuna

    spec = load_space(model)
    trials = trials or int(spec.get("trials", 20))
    base = [f"model={model}", *extra]
    cfg = compose(base)
    metric = metric or spec.get("metric") or f"val.{HEADLINE[task_of(cfg['data'])]}"
    lower_is_better = metric.split(".")[-1].removesuffix("_mean") in LOWER_IS_BETTER
    if not tracking.enabled(cfg):
        raise PipelineError("tuning is only useful tracked: unset the tracking switch")
    mlflow_client = tracking.client()
    tried: dict[int, tuple[str, list[str]]] = {}  # trial number -> (run id, overrides)
    with (
        tracking.parent_run(cfg, kind="tune-parent", name=f"tune-{model}") as parent,
        tempfile.TemporaryDirectory(prefix="tune-") as folder,
    ):
        paths = Paths(Path(folder))  # the trials run one after another, each in this folder

        def objective(trial) -> float:
            sampled = [override(k, suggest(trial, k, rule)) for k, rule in spec["space"].items()]
            config = compose(base + sampled)
            config["trainer"]["checkpoint_dir"] = None  # a trial is never resumed
            metrics = pipeline.run_pipeline(config, paths)
            run_id = tracking.log_run(config, paths, metrics, parent_run_id=parent, kind="tune")
            tried[trial.number] = (run_id, base + sampled)
            # Scored on what MLflow recorded, under the names `make compare` shows.
            score = mlflow_client.get_run(run_id).data.metrics.get(metric)
            if score is None:
                raise PipelineError(f"the runs have no metric {metric!r}: try val.f1 or val.r2")
            return score

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=cfg["seed"])
        direction = "minimize" if lower_is_better else "maximize"
        study = optuna.create_study(direction=direction, sampler=sampler)
        study.optimize(objective, n_trials=trials)
        best_run, best = tried[study.best_trial.number]
        mlflow_client.log_metric(parent, f"best.{metric}", study.best_value)
        for key, value in {
            "tune.metric": metric,
            "tune.best_run": best_run,
            "reproduce.command": exp_run_command(best),
        }.items():
            mlflow_client.set_tag(parent, key, value)
    return parent, best_run, study.best_value, best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a conf/model/ name, e.g. svm")
    parser.add_argument("--trials", type=int, help="default: `trials` in tuning/<model>.yaml")
    parser.add_argument(
        "--metric", help="default: `metric` in tuning/<model>.yaml, else val.f1 (val.r2)"
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every trial")
    args = parser.parse_args(argv)
    parent, best_run, score, best = tune(args.model, args.trials, args.overrides, args.metric)
    print(f"tune: parent run {parent}; best trial run {best_run}: {score:.4f}")
    print("run the best configuration through the pipeline with:")
    print(f"  {exp_run_command(best)}")


if __name__ == "__main__":
    run_cli(main)

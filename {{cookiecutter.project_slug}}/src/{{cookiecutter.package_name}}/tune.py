"""Search one model's hyperparameters: `make tune MODEL=svm [TRIALS=30]`.

    python -m <package>.tune --model svm --trials 30 [extra Hydra overrides]

An Optuna study (TPE sampler seeded with `seed`) over the space in conf/tune/<model>.yaml. The
data are prepared and featurized once into .scratch/tune/<parent run id>/; each trial composes
its config from conf/ plus the sampled overrides, trains and evaluates in its own folder there
and is logged as a child run of one parent "tune" run (the DVC workspace is never touched).
Trials are scored on the metric named in the file (the validation split by default: the test
split is not used for choosing). The end prints the best trial's `dvc exp run -S ...` command,
which re-runs that configuration through the real pipeline.
Hydra's Optuna sweeper is not used: its latest release pins optuna<3.
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from .config import CONF_DIR, Config, Paths, compose
from .errors import PipelineError, run_cli

SCRATCH = Path(".scratch") / "tune"


def load_space(model: str, conf_dir: Path = CONF_DIR) -> dict:
    path = conf_dir / "tune" / f"{model}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (conf_dir / "tune").glob("*.yaml"))
        raise PipelineError(
            f"no search space {path} for model {model!r}: write one "
            f"(see conf/tune/README.md); spaces exist for {', '.join(known)}"
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


def tune(model: str, trials: int | None, extra: Sequence[str], metric: str | None = None):
    """Run the study; return (study, parent run id, best trial's overrides)."""
    import optuna

    from .features import featurize
    from .metrics import METRICS
    from .prepare import prepare
    from .tracking import (
        enabled,
        end_run,
        exp_run_command,
        flatten_metrics,
        log_batch,
        override_value,
        retry,
        start_parent_run,
        status_for,
    )

    spec = load_space(model)
    trials = trials or int(spec.get("trials", 20))
    metric = metric or spec.get("metric", "val.f1")
    name = metric.rsplit(".", 1)[-1].removesuffix("_mean").removesuffix("_std")
    if name not in METRICS:
        raise PipelineError(
            f"metric {metric!r} is not a reported metric: use e.g. val.f1, "
            f"cv.f1_mean or val.roc_auc ({', '.join(METRICS)})"
        )
    base = [f"model={model}", *extra]
    cfg = compose(base)
    if not enabled(cfg):
        raise PipelineError("tuning is only useful tracked: unset the tracking switch")
    mlflow_client, _, exp, parent = start_parent_run(
        cfg,
        kind="tune-parent",
        name=f"tune-{model}",
        overrides=base,
        tags={"tune.metric": metric, "tune.trials": str(trials)},
    )
    root = (SCRATCH / parent).resolve()
    data = Paths(root)
    bundle = None
    overrides_of: dict[int, list[str]] = {}

    def objective(trial) -> float:
        overrides = base + [
            f"{key}={override_value(suggest(trial, key, rule))}"
            for key, rule in spec["space"].items()
        ]
        overrides_of[trial.number] = overrides
        config = compose(overrides)
        out = Paths(root / f"trial-{trial.number:03d}")
        config["trainer"]["checkpoint_dir"] = None  # a trial is never resumed (see sweep.py)
        metrics = run_trial(config, data, out, overrides, parent, trial.number)
        value = flatten_metrics(metrics).get(metric)
        if value is None:
            raise PipelineError(f"metric {metric!r} is not in this model's metrics.json")
        return value

    def run_trial(config: Config, data: Paths, out: Paths, overrides, parent_id, number):
        from .evaluate import evaluate
        from .tracking import log_evaluation, start_run
        from .train import train

        run_id = start_run(
            mlflow_client,
            config,
            data,
            kind="tune",
            overrides=overrides,
            parent_run_id=parent_id,
            experiment=exp,
            extra_tags={"tune.trial": str(number), "tune.parent": parent_id},
        )
        try:
            history = []
            started = time.perf_counter()
            model_obj, _ = train(
                config,
                data.features,
                on_epoch=lambda e, m: history.append(
                    (e, int(time.time() * 1000), {f"epoch.{k}": v for k, v in m.items()})
                ),
            )
            model_obj.save(out.model)
            metrics = evaluate(
                config,
                model_obj,
                bundle["classes"],
                data.features,
                data.processed / "train.csv",
                out.reports,
            )
            log_batch(
                mlflow_client,
                run_id,
                history=history,
                metrics={"fit.seconds": time.perf_counter() - started},
            )
            log_evaluation(mlflow_client, run_id, out.reports, metrics)
        except BaseException as exc:
            end_run(mlflow_client, run_id, status_for(exc))
            raise
        end_run(mlflow_client, run_id, "FINISHED")
        return metrics

    try:
        prepare(cfg, Path(cfg["data"]["raw_path"]), data.processed, data.reports / "cleaning.json")
        bundle = featurize(cfg["data"], data.processed, data.features, data.featurizer)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg["seed"])
        )
        study.set_user_attr("metric", metric)
        study.optimize(objective, n_trials=trials, catch=())
    except BaseException as exc:
        end_run(mlflow_client, parent, status_for(exc))
        raise
    best = overrides_of[study.best_trial.number]
    log_batch(
        mlflow_client,
        parent,
        metrics={f"best.{metric}": study.best_value},
        tags={
            "tune.best_trial": str(study.best_trial.number),
            "tune.best_overrides": " ".join(best),
            "reproduce.command": exp_run_command(best),
        },
    )
    study.trials_dataframe().to_csv(root / "trials.csv", index=False)
    retry(mlflow_client.log_artifact, parent, str(root / "trials.csv"))
    end_run(mlflow_client, parent, "FINISHED")
    return study, parent, best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a conf/model/ name, e.g. svm")
    parser.add_argument("--trials", type=int, help="default: `trials` in conf/tune/<model>.yaml")
    parser.add_argument("--metric", help="default: `metric` in conf/tune/<model>.yaml (val.f1)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every trial")
    args = parser.parse_args(argv)
    from .tracking import exp_run_command

    study, parent, best = tune(args.model, args.trials, args.overrides, args.metric)
    metric = study.user_attrs.get("metric") or "score"
    print(
        f"tune: {len(study.trials)} trial(s) under parent run {parent}; best trial "
        f"#{study.best_trial.number}: {metric} {study.best_value:.4f}"
    )
    print("reproduce the best trial in the pipeline with:")
    print(f"  {exp_run_command(best)}")


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))

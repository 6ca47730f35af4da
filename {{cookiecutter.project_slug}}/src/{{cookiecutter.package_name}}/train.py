"""Stage `train`: fit the model chosen by the `model` config group.

`dvc exp run -S model=svm` picks another; `-S model.C=0.5` tunes logreg's C; see conf/model/.
Under `torchrun` every process trains its share and only rank 0 writes.
"""

import inspect
import json
import os
import time

import joblib
import pandas as pd

from .config import Config, Paths, load_params
from .errors import run_cli
from .models import build_estimator
from .prepare import task_of
from .serving import build_pipeline, load_trusted

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "lr"]


def train(cfg: Config, paths: Paths):
    """The fitted deployable Pipeline: the saved featurizer plus a newly fitted estimator."""
    target = cfg["data"]["target"]
    featurizer = load_trusted(paths.featurizer)
    train_rows = pd.read_parquet(paths.split("train"))
    val_rows = pd.read_parquet(paths.split("val"))
    estimator = build_estimator(cfg["model"], len(train_rows), task_of(cfg["data"]))
    fit_params = {}
    if "eval_set" in inspect.signature(estimator.fit).parameters:
        # Models that train in epochs (the MLP) stop early on the validation split.
        fit_params["eval_set"] = (featurizer.transform(val_rows), val_rows[target])
    features = featurizer.transform(train_rows)
    # scikit-learn's fits show no progress (the MLP's has a bar): say what is fitted, on what.
    rows, columns = features.shape
    print(f"train: fitting {type(estimator).__name__} on {rows:,} rows x {columns} features")
    estimator.fit(features, train_rows[target], **fit_params)
    return build_pipeline(cfg["data"], featurizer, estimator)


def write_outputs(model, paths: Paths, seconds: float, name: str) -> None:
    """The model, its per-epoch curves (a DVC plot) and a summary of the fit."""
    estimator = model.named_steps["model"]
    paths.model.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, paths.model)
    paths.reports.mkdir(parents=True, exist_ok=True)
    history = pd.DataFrame(getattr(estimator, "history_", []), columns=HISTORY_COLUMNS)
    if len(history):  # regression has no val_accuracy; models without epochs no rows
        history = history.dropna(axis=1, how="all")
    history.to_csv(paths.history, index=False)
    summary = {
        "model": name,
        "estimator": type(estimator).__name__,  # not the config's above large_data.max_rows
        "seconds": round(seconds, 3),
        **getattr(estimator, "fit_summary_", {}),
    }
    paths.fit_summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def main() -> None:
    cfg = load_params()
    started = time.perf_counter()
    model = train(cfg, Paths())
    seconds = time.perf_counter() - started
    if os.environ.get("RANK", "0") == "0":  # torchrun: the other ranks only help train
        write_outputs(model, Paths(), seconds, cfg["model"]["name"])
        fitted = type(model.named_steps["model"]).__name__  # e.g. Ridge for logreg on regression
        print(f"train: {cfg['model']['name']} ({fitted}) in {seconds:.1f} s, saved to models/")


if __name__ == "__main__":
    run_cli(main)

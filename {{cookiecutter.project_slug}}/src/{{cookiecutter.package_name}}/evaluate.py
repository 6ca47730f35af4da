"""Stage `evaluate`: honest scores, the overfitting gap, the lift over a baseline, and why.

reports/metrics.json holds the test-split metrics at top level (what `dvc metrics show`
prints) and, nested, the same metrics on train and validation, a majority-class baseline,
the lift over it, the train-test gap and k-fold cross-validation. Permutation importance
and the most confident mistakes explain what the model learned. Then, unless tracking is
off, one MLflow run records it all (tracking.py).
"""

import json
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, Paths, load_params
from .errors import run_cli
from .metrics import classification_metrics, difference, majority_baseline, per_class_report
from .plots import curve_tables, evaluation_figures
from .prepare import SPLITS, feature_columns
from .serving import load_trusted


def cross_validation(cfg: Config, train_rows: pd.DataFrame) -> dict[str, float]:
    """k-fold CV of featurizer + estimator on the training split (`evaluate.cv_folds`).

    The featurizer is fitted inside each fold, so no fold sees its held-out rows.
    """
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import make_pipeline

    from .featurize import build_featurizer
    from .models import build_estimator

    y = pd.Categorical(train_rows[cfg["data"]["target"]]).codes
    folds, most = cfg["evaluate"]["cv_folds"], cfg["evaluate"]["cv_auto_max_rows"]
    if folds == "auto":  # k trainings more: worth it on small data, hours on big data
        folds = 5 if len(train_rows) <= most else 0
        if not folds:
            print(
                f"evaluate: cross-validation skipped ({len(train_rows):,} training rows > "
                f"evaluate.cv_auto_max_rows={most:,}); ask for it with -S evaluate.cv_folds=5"
            )
    folds = min(int(folds), int(np.bincount(y).min()))
    if folds < 2:
        return {"folds": 0}
    binary = y.max() == 1  # the same averaging as classification_metrics
    scoring = {
        "accuracy": "accuracy",
        "f1": "f1" if binary else "f1_macro",
        "roc_auc": "roc_auc" if binary else "roc_auc_ovr",
    }
    estimator = build_estimator(cfg["model"], n_rows=len(train_rows) * (folds - 1) // folds)
    pipeline = make_pipeline(build_featurizer(cfg["data"]), estimator)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cfg["seed"])
    scores = cross_validate(pipeline, train_rows, y, cv=splitter, scoring=scoring)
    result: dict[str, float] = {"folds": folds}
    for name in scoring:
        result[f"{name}_mean"] = round(float(scores[f"test_{name}"].mean()), 6)
        result[f"{name}_std"] = round(float(scores[f"test_{name}"].std()), 6)
    return result


def importance(model, rows: pd.DataFrame, labels: pd.Series, cfg: Config) -> pd.DataFrame:
    """Permutation importance: how much macro F1 drops when one column is shuffled.

    Model-agnostic (the MLP too) and measured on the test split (a seeded sample of
    `evaluate.importance_max_rows` rows when larger), per raw column.
    """
    from sklearn.inspection import permutation_importance

    columns = feature_columns(cfg["data"])
    if len(rows) > (most := cfg["evaluate"]["importance_max_rows"]):  # seconds, not hours
        rows = rows.sample(most, random_state=cfg["seed"])
        labels = labels.loc[rows.index]
    result = permutation_importance(
        model,
        rows[columns],
        labels,
        scoring="f1_macro",
        n_repeats=int(cfg["evaluate"]["importance_repeats"]),
        random_state=cfg["seed"],
    )
    table = pd.DataFrame(
        {"feature": columns, "importance": result.importances_mean, "std": result.importances_std}
    )
    return table.round(6).sort_values("importance", ascending=False, kind="stable")


def confident_mistakes(rows, labels, proba, classes, n: int = 10) -> pd.DataFrame:
    """The test rows the model got wrong with the most confidence: where to look first."""
    predicted = np.asarray(classes)[proba.argmax(1)]
    table = rows.assign(actual=labels.to_numpy(), predicted=predicted, confidence=proba.max(1))
    wrong = table[table["actual"] != table["predicted"]]
    return wrong.sort_values("confidence", ascending=False, kind="stable").head(n).round(4)


def evaluate(cfg: Config, paths: Paths) -> dict[str, Any]:
    model = load_trusted(paths.model)
    scorer = model[1:]  # the splits are clean already: skip the row-cleaning step
    target, classes = cfg["data"]["target"], [str(c) for c in model.classes_]
    rows = {name: pd.read_parquet(paths.split(name)) for name in SPLITS}
    y = {name: pd.Categorical(df[target], categories=classes).codes for name, df in rows.items()}
    proba = {name: scorer.predict_proba(df) for name, df in rows.items()}
    scores = {name: classification_metrics(y[name], proba[name]) for name in SPLITS}
    baseline = classification_metrics(
        y["test"], majority_baseline(y["train"], len(y["test"]), len(classes))
    )
    metrics = {
        **scores["test"],
        "train": scores["train"],
        "val": scores["val"],
        "baseline": baseline,
        "lift": difference(scores["test"], baseline),
        "gap": difference(scores["train"], scores["test"]),
    }
    metrics["cv"] = cross_validation(cfg, rows["train"])  # {"folds": 0} when skipped

    reports = paths.reports
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    per_class = per_class_report(y["test"], proba["test"], classes)
    (reports / "per_class.json").write_text(json.dumps(per_class, indent=2) + "\n")
    ranked = importance(scorer, rows["test"], rows["test"][target], cfg)
    ranked.to_csv(reports / "importance.csv", index=False)
    test_features = rows["test"].drop(columns=target)
    mistakes = confident_mistakes(test_features, rows["test"][target], proba["test"], classes)
    mistakes.to_csv(reports / "mistakes.csv", index=False)
    curve_tables(y["test"], proba["test"], classes, reports / "plots")
    evaluation_figures(y["test"], proba["test"], classes, ranked, reports / "figures")
    return metrics


def main() -> None:
    cfg = load_params()
    paths = Paths()
    metrics = evaluate(cfg, paths)
    shown = "  ".join(f"{k}={metrics[k]:.3f}" for k in ("accuracy", "f1", "roc_auc"))
    print(f"evaluate (test): {shown}  lift over majority f1={metrics['lift']['f1']:+.3f}")
    from . import tracking  # MLflow is imported only when the run is tracked

    if tracking.enabled(cfg):
        run_id = tracking.log_run(cfg, paths, metrics)
        print(f"evaluate: logged to MLflow run {run_id}")


if __name__ == "__main__":
    run_cli(main)

"""Stage `evaluate`: honest scores, the overfitting gap, the lift over a baseline, and why.

reports/metrics.json holds the test-split metrics at top level (what `dvc metrics show`
prints) and, nested, the same metrics on train and validation, a baseline (the majority
class, or the mean for regression), the lift over it, the train-test gap and k-fold
cross-validation. Permutation importance and the worst mistakes explain what the model
learned. Then, unless tracking is off, one MLflow run records it all (tracking.py).
"""

import json
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, Paths, load_params
from .errors import PipelineError, run_cli
from .metrics import (
    HEADLINE,
    LOWER_IS_BETTER,
    classification_metrics,
    difference,
    majority_baseline,
    regression_metrics,
)
from .plots import classification_figures, curve_tables, importance_figure, regression_figures
from .prepare import SPLITS, feature_columns, task_of
from .serving import load_trusted

# What cross-validation and permutation importance score, per task.
CV_SCORING = {
    "classification": {"accuracy": "accuracy", "f1": "f1_macro", "roc_auc": "roc_auc_ovr"},
    "regression": {
        "mae": "neg_mean_absolute_error",
        "rmse": "neg_root_mean_squared_error",
        "r2": "r2",
    },
}
IMPORTANCE_SCORE = {"classification": "macro F1", "regression": "R²"}  # as importance() scores


def cv_folds(cfg: Config, n_rows: int) -> int:
    """`evaluate.cv_folds`: a number, or auto (5 on small data, none on big: k more fits)."""
    folds, most = cfg["evaluate"]["cv_folds"], cfg["evaluate"]["cv_auto_max_rows"]
    if folds == "auto" and n_rows > most:
        print(
            f"evaluate: cross-validation skipped ({n_rows:,} training rows > "
            f"evaluate.cv_auto_max_rows={most:,}); ask for it with -S evaluate.cv_folds=5"
        )
        return 0
    return 5 if folds == "auto" else int(folds)


def cross_validation(cfg: Config, train_rows: pd.DataFrame) -> dict[str, float]:
    """k-fold CV of featurizer + estimator on the training split ({"folds": 0} if skipped).
    The featurizer is fitted inside each fold, so no fold sees its held-out rows."""
    from sklearn.metrics import f1_score, get_scorer, make_scorer
    from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from tqdm import tqdm

    from .featurize import build_featurizer
    from .models import build_estimator

    task, y = task_of(cfg["data"]), train_rows[cfg["data"]["target"]]
    folds, splitter = cv_folds(cfg, len(train_rows)), KFold
    if task == "classification":  # every fold keeps the class proportions
        folds, splitter = min(folds, int(y.value_counts().min())), StratifiedKFold
    if folds < 2:
        return {"folds": 0}
    n_rows = len(train_rows) * (folds - 1) // folds
    estimator = build_estimator(cfg["model"], n_rows=n_rows, task=task)
    pipeline = make_pipeline(build_featurizer(cfg["data"]), estimator)
    scoring = dict(CV_SCORING[task])
    positive = positive_class(cfg["data"], y, say=False) if task == "classification" else None
    if positive is not None:  # two classes: F1 of the same class as the test metrics
        scoring |= {"f1": make_scorer(f1_score, pos_label=positive), "roc_auc": "roc_auc"}
    cv = splitter(folds, shuffle=True, random_state=cfg["seed"])
    with tqdm(desc="cross-validation", total=folds, unit="fold", disable=None) as bar:
        first = next(iter(scoring))  # called once per fold: it moves the bar
        scoring[first] = ticking(get_scorer(scoring[first]), bar)
        scores = cross_validate(pipeline, train_rows, y, cv=cv, scoring=scoring)
    result: dict[str, float] = {"folds": folds}
    for name in scoring:  # scikit-learn negates errors so that higher is better: undo it
        values = -scores[f"test_{name}"] if name in LOWER_IS_BETTER else scores[f"test_{name}"]
        result[f"{name}_mean"] = round(float(values.mean()), 6)
        result[f"{name}_std"] = round(float(values.std()), 6)
    return result


def ticking(score, bar):
    """`score` that also moves a progress bar: scikit-learn calls a scorer once per fold
    (cross-validation) and once per shuffle (permutation importance)."""

    def scored(estimator, X, y):
        bar.update()
        return score(estimator, X, y)

    return scored


def macro_f1(estimator, X, y) -> float:
    """The "f1_macro" scorer's value, on class numbers: scikit-learn scores text labels slowly."""
    from sklearn.metrics import f1_score

    classes = estimator.classes_
    predicted = pd.Categorical(estimator.predict(X), categories=classes).codes
    return f1_score(pd.Categorical(y, categories=classes).codes, predicted, average="macro")


def importance(model, rows: pd.DataFrame, target: str, cfg: Config) -> pd.DataFrame:
    """Permutation importance: how much the score drops when one column is shuffled.
    Model-agnostic (the MLP too), per raw column, on the test split (a seeded sample of
    `evaluate.importance_max_rows` rows when larger)."""
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import get_scorer
    from tqdm import tqdm

    columns, repeats = feature_columns(cfg["data"]), int(cfg["evaluate"]["importance_repeats"])
    if len(rows) > (most := cfg["evaluate"]["importance_max_rows"]):  # seconds, not hours
        rows = rows.sample(most, random_state=cfg["seed"])
    score = get_scorer("r2") if task_of(cfg["data"]) == "regression" else macro_f1
    # disable=None: a bar on a terminal only, so that CI logs stay readable.
    with tqdm(desc="importance", total=1 + len(columns) * repeats, disable=None) as bar:
        x, y, seed, scoring = rows[columns], rows[target], cfg["seed"], ticking(score, bar)
        result = permutation_importance(
            model, x, y, scoring=scoring, n_repeats=repeats, random_state=seed
        )
    table = pd.DataFrame(
        {"feature": columns, "importance": result.importances_mean, "std": result.importances_std}
    )
    return table.round(6).sort_values("importance", ascending=False, kind="stable")


def positive_class(data_cfg: Config, train_labels: pd.Series, say: bool = True) -> str | None:
    """With two classes, the one precision, recall and F1 are about: `data.positive_class`,
    else the rarer one in the training split (the one that usually matters)."""
    counts = train_labels.astype(str).value_counts()
    if len(counts) != 2:
        return None
    chosen = data_cfg.get("positive_class")
    if chosen is not None and str(chosen) not in counts:
        raise PipelineError(
            f"data.positive_class={chosen!r} is not a class of {data_cfg['target']!r}: "
            f"use one of {', '.join(map(repr, sorted(counts.index)))}"
        )
    if chosen is None:
        chosen = counts.sort_index(ascending=False).idxmin()
        if say:
            print(
                f"evaluate: positive class {chosen!r} (the rarer one; data.positive_class sets it)"
            )
    return str(chosen)


def classification_scores(model, rows: dict, data_cfg: Config, reports):
    """Every split's metrics, the majority baseline's, and the most confidently wrong rows."""
    from sklearn.metrics import classification_report

    target, classes = data_cfg["target"], [str(c) for c in model.classes_]
    label = positive_class(data_cfg, rows["train"][target])
    positive = classes.index(label) if label is not None else 1
    y = {n: pd.Categorical(df[target], categories=classes).codes for n, df in rows.items()}
    proba = {name: model.predict_proba(df) for name, df in rows.items()}
    by_split = {n: classification_metrics(y[n], proba[n], positive) for n in SPLITS}
    baseline = classification_metrics(
        y["test"], majority_baseline(y["train"], len(y["test"]), len(classes)), positive
    )
    predicted = proba["test"].argmax(axis=1)
    curve_tables(y["test"], proba["test"], classes, reports / "plots")
    per_class = classification_report(
        y["test"],
        predicted,
        labels=range(len(classes)),
        target_names=classes,
        output_dict=True,
        zero_division=0,
    )
    (reports / "plots" / "per_class.json").write_text(json.dumps(per_class, indent=2) + "\n")
    classification_figures(y["test"], proba["test"], classes, reports / "figures")
    test = rows["test"].assign(
        predicted=np.asarray(classes)[predicted], confidence=proba["test"].max(axis=1)
    )
    wrong = test[test["predicted"] != test[target].astype(str)]
    return by_split, baseline, wrong.sort_values("confidence", ascending=False, kind="stable")


def regression_scores(model, rows: dict, data_cfg: Config, reports):
    """Every split's metrics, the mean baseline's, and the rows with the largest errors."""
    target = data_cfg["target"]
    y = {name: df[target].to_numpy(dtype=float) for name, df in rows.items()}
    predicted = {name: model.predict(df) for name, df in rows.items()}
    by_split = {n: regression_metrics(y[n], predicted[n]) for n in SPLITS}
    # The baseline always says the training mean (R² about 0).
    baseline = regression_metrics(y["test"], np.full(len(y["test"]), y["train"].mean()))
    regression_figures(y["test"], predicted["test"], reports / "figures")
    test = rows["test"].assign(
        predicted=predicted["test"], abs_error=np.abs(y["test"] - predicted["test"])
    )
    return by_split, baseline, test.sort_values("abs_error", ascending=False, kind="stable")


def evaluate(cfg: Config, paths: Paths) -> dict[str, Any]:
    model = load_trusted(paths.model)
    scorer = model[1:]  # the splits are clean already: skip the row-cleaning step
    target, task = cfg["data"]["target"], task_of(cfg["data"])
    rows = {name: pd.read_parquet(paths.split(name)) for name in SPLITS}
    reports = paths.reports
    score = regression_scores if task == "regression" else classification_scores
    by_split, baseline, worst = score(scorer, rows, cfg["data"], reports)
    worst.head(10).round(4).to_csv(reports / "mistakes.csv", index=False)
    metrics = {
        **by_split["test"],
        "train": by_split["train"],
        "val": by_split["val"],
        "baseline": baseline,
        "lift": difference(by_split["test"], baseline),
        "gap": difference(by_split["train"], by_split["test"]),
        "cv": cross_validation(cfg, rows["train"]),
    }
    (reports / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    ranked = importance(scorer, rows["test"], target, cfg)
    ranked.to_csv(reports / "importance.csv", index=False)
    importance_figure(ranked, IMPORTANCE_SCORE[task], reports / "figures")
    return metrics


def main() -> None:
    cfg = load_params()
    paths = Paths()
    metrics = evaluate(cfg, paths)
    headline = HEADLINE[task_of(cfg["data"])]
    shown = "  ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float))
    lift = metrics["lift"][headline]
    print(f"evaluate (test): {shown}  lift over the baseline: {headline} {lift:+.3f}")
    from . import tracking  # MLflow is imported only when the run is tracked

    if tracking.enabled(cfg):
        run_id = tracking.log_run(cfg, paths, metrics)
        print(f"evaluate: logged to MLflow run {run_id}")


if __name__ == "__main__":
    run_cli(main)

"""Stage `evaluate`: honest scores, the overfitting gap, the lift over a baseline, plots.

reports/metrics.json holds the test-split metrics at top level (what
`dvc metrics show` prints) and, nested, the same metrics on train and
validation, a majority-class baseline, the gaps and k-fold cross-validation.
"""

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, Paths, load_params
from .features import SPLITS, load_split
from .metrics import classification_metrics, difference, majority_baseline
from .models import Model, load_model
from .plotting import pyplot, save
from .tracking import exit_on_interrupt, pipeline_run


def cross_validate(cfg: Config, train_csv: Path, folds: int = 5) -> dict[str, float] | None:
    """k-fold CV of featurizer + estimator on the training split (scikit-learn models only).

    The featurizer is re-fitted inside each fold, so no fold sees its held-out rows.
    """
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import make_pipeline

    from .features import build_featurizer
    from .models import build_model

    model = build_model(cfg["model"], seed=cfg["seed"], trainer=cfg.get("trainer"))
    if not hasattr(model, "make_estimator"):
        return None  # the neural network is judged on its validation split instead
    df = pd.read_csv(train_csv)
    labels = df[cfg["data"]["target"]].astype(str)
    y = labels.map({c: i for i, c in enumerate(sorted(labels.unique()))})
    pipeline = make_pipeline(build_featurizer(cfg["data"]), model.make_estimator())
    folds = min(folds, int(y.value_counts().min()))
    # The same averaging as classification_metrics: binary for two classes, else macro.
    binary = y.nunique() == 2
    scoring = {
        "accuracy": "accuracy",
        "f1": "f1" if binary else "f1_macro",
        "roc_auc": "roc_auc" if binary else "roc_auc_ovr",
    }
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cfg["seed"])
    scores = cross_validate(pipeline, df, y, cv=splitter, scoring=scoring)
    result = {"folds": folds}
    for name in scoring:
        values = scores[f"test_{name}"]
        result[f"{name}_mean"] = round(float(values.mean()), 6)
        result[f"{name}_std"] = round(float(values.std()), 6)
    return result


def write_plot_data(y_true: np.ndarray, proba: np.ndarray, classes: list[str], out: Path) -> None:
    """CSV files that `dvc plots show` renders: confusion matrix, ROC and PR curves."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    out.mkdir(parents=True, exist_ok=True)
    names = np.array(classes)
    pd.DataFrame({"actual": names[y_true], "predicted": names[proba.argmax(1)]}).to_csv(
        out / "confusion.csv", index=False
    )
    # One file per class (one-vs-rest): DVC draws each file of a folder as its own plot.
    for kind in ("roc", "precision_recall"):
        shutil.rmtree(out / kind, ignore_errors=True)
        (out / kind).mkdir()
    for i, name in enumerate(classes):
        file = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".csv"
        fpr, tpr, _ = roc_curve(y_true == i, proba[:, i])
        pd.DataFrame({"fpr": fpr.round(6), "tpr": tpr.round(6)}).to_csv(
            out / "roc" / file, index=False
        )
        precision, recall, _ = precision_recall_curve(y_true == i, proba[:, i])
        pd.DataFrame({"recall": recall.round(6), "precision": precision.round(6)}).to_csv(
            out / "precision_recall" / file, index=False
        )


def plot_figures(
    y_true: np.ndarray, proba: np.ndarray, classes: list[str], out: Path
) -> list[Path]:
    """PNG versions of the same plots, for MLflow, the report and the model card."""
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        y_true, proba.argmax(1), display_labels=classes, ax=ax, colorbar=False
    )
    ax.grid(False)
    paths = [save(fig, out / "confusion_matrix.png")]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for i, name in enumerate(classes):
        RocCurveDisplay.from_predictions(y_true == i, proba[:, i], name=name, ax=ax)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    paths.append(save(fig, out / "roc.png"))
    plt.close("all")
    return paths


def per_class_report(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    from sklearn.metrics import classification_report

    return classification_report(
        y_true,
        proba.argmax(1),
        labels=list(range(len(classes))),
        target_names=classes,
        output_dict=True,
        zero_division=0,
    )


def evaluate(
    cfg: Config, model: Model, classes: list[str], features: Path, train_csv: Path, reports: Path
) -> dict[str, Any]:
    arrays = {name: load_split(features, name) for name in SPLITS}
    proba = {name: model.predict_proba(x) for name, (x, _) in arrays.items()}
    scores = {name: classification_metrics(arrays[name][1], proba[name]) for name in SPLITS}
    y_test = arrays["test"][1]
    baseline = classification_metrics(
        y_test, majority_baseline(arrays["train"][1], len(y_test), len(classes))
    )
    metrics = {
        **scores["test"],
        "train": scores["train"],
        "val": scores["val"],
        "baseline": baseline,
        "lift": difference(scores["test"], baseline),
        "gap": difference(scores["train"], scores["test"]),
    }
    if (cv := cross_validate(cfg, train_csv)) is not None:
        metrics["cv"] = cv
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    report = per_class_report(y_test, proba["test"], classes)
    (reports / "per_class.json").write_text(json.dumps(report, indent=2) + "\n")
    write_plot_data(y_test, proba["test"], classes, reports / "plots")
    plot_figures(y_test, proba["test"], classes, reports / "figures")
    return metrics


def main() -> None:
    import joblib

    cfg = load_params()
    paths = Paths()
    # Logs into the MLflow run that train started (models/model/run.json); see tracking/.
    with pipeline_run(cfg, paths, stage="evaluate") as run:
        classes = joblib.load(paths.featurizer)["classes"]
        metrics = evaluate(
            cfg,
            load_model(paths.model),
            classes,
            paths.features,
            paths.processed / "train.csv",
            paths.reports,
        )
        run.log_evaluation(metrics)
    shown = "  ".join(f"{k}={metrics[k]:.3f}" for k in ("accuracy", "f1", "roc_auc"))
    print(f"evaluate (test): {shown}  lift over majority f1=+{metrics['lift']['f1']:.3f}")
    if run.run_id:
        print(f"evaluate: logged to MLflow run {run.run_id}")


if __name__ == "__main__":
    exit_on_interrupt(main)

"""Matplotlib set up once for files, not screens (no display on servers or in CI)."""

import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "figure.constrained_layout.use": True,  # titles and labels never overlap
            "axes.grid": True,
            "grid.alpha": 0.3,
            "svg.hashsalt": "fixed",
        }
    )
    return plt


def wrap(labels, width: int = 16) -> list[str]:
    """Long class or column names on several short lines, so that labels never overlap."""
    return [textwrap.fill(str(label), width) for label in labels]


def save(fig, path: Path) -> Path:
    """Write the figure, then close it (pyplot keeps every open figure in memory)."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamps in the file, so the same data gives the same bytes.
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def thin(curve: pd.DataFrame, most: int = 1000) -> pd.DataFrame:
    """At most `most` evenly spaced points of a curve, both ends kept: enough to draw it (a big
    test split has a point per row: megabytes for DVC's plots and MLflow otherwise)."""
    if len(curve) <= most:
        return curve
    return curve.iloc[np.linspace(0, len(curve) - 1, most).round().astype(int)]


def curve_tables(y_true, proba, classes: list[str], out: Path) -> None:
    """CSV files `dvc plots show` renders: confusion matrix, ROC and PR curves."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    out.mkdir(parents=True, exist_ok=True)
    names = np.array(classes)
    confusion = pd.DataFrame({"actual": names[y_true], "predicted": names[proba.argmax(1)]})
    confusion.to_csv(out / "confusion.csv", index=False)
    # One file per class (one-vs-rest): DVC draws each file of a folder as its own line.
    for kind in ("roc", "precision_recall"):
        shutil.rmtree(out / kind, ignore_errors=True)
        (out / kind).mkdir()
    for i, name in enumerate(classes):
        file = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".csv"
        fpr, tpr, _ = roc_curve(y_true == i, proba[:, i])
        roc = pd.DataFrame({"fpr": fpr, "tpr": tpr}).round(6)
        thin(roc).to_csv(out / "roc" / file, index=False)
        precision, recall, _ = precision_recall_curve(y_true == i, proba[:, i])
        pr = pd.DataFrame({"recall": recall, "precision": precision}).round(6)
        thin(pr).to_csv(out / "precision_recall" / file, index=False)


def classification_figures(y_true, proba, classes: list[str], out: Path) -> None:
    """PNGs for MLflow, `dvc plots show` and the model card: confusion matrix, ROC."""
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    plt = pyplot()
    labels = wrap(classes)
    longest = max(len(line) for label in labels for line in label.splitlines())
    size = max(4.5, 0.6 * len(classes) + 2) + 0.08 * longest
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        y_true, proba.argmax(1), display_labels=labels, ax=ax, colorbar=False, xticks_rotation=45
    )
    ax.grid(False)
    save(fig, out / "confusion_matrix.png")
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for i, name in enumerate(classes):
        RocCurveDisplay.from_predictions(y_true == i, proba[:, i], name=name, ax=ax)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_title("ROC, each class against the rest (test split)")
    save(fig, out / "roc.png")


def regression_figures(y_true, predicted, out: Path) -> None:
    """Predicted against actual (on the diagonal = right) and the residuals (errors)."""
    plt = pyplot()
    (out.parent / "plots").mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"actual": y_true, "predicted": predicted}).round(6)
    table.to_csv(out.parent / "plots" / "predicted_vs_actual.csv", index=False)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(y_true, predicted, s=10, alpha=0.6)
    low, high = min(y_true.min(), predicted.min()), max(y_true.max(), predicted.max())
    ax.plot([low, high], [low, high], "k--", lw=1)
    ax.set(title="Predicted against actual (test split)", xlabel="actual", ylabel="predicted")
    save(fig, out / "predicted_vs_actual.png")
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(predicted, y_true - predicted, s=10, alpha=0.6)
    ax.axhline(0, color="k", lw=1)
    ax.set(title="Residuals (test split)", xlabel="predicted", ylabel="actual - predicted")
    save(fig, out / "residuals.png")


def importance_figure(importance, score: str, out: Path) -> Path:
    plt = pyplot()
    top = importance.head(20).iloc[::-1]  # the strongest at the top
    fig, ax = plt.subplots(figsize=(6, 1.5 + 0.3 * len(top)))
    ax.barh(wrap(top["feature"], 30), top["importance"], xerr=top["std"], color="tab:blue")
    ax.set(title="Permutation importance (test split)", xlabel=f"drop in {score} when shuffled")
    return save(fig, out / "importance.png")

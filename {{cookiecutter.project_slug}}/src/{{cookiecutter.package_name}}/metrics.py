"""The metrics every run reports, under the same names everywhere.

Classification: accuracy alone hides a model that ignores a rare class, so precision,
recall, F1, ROC-AUC and PR-AUC (average precision) are always reported beside it. With
two classes they are those of the positive class (`data.positive_class`, by default the
rarer one: usually the one that matters); with more, macro averages: each class counts
the same however rare it is.
Regression: mean absolute error and root mean squared error (in the target's units;
RMSE punishes large misses more) and R² (1 = perfect, 0 = no better than the mean).
"""

import numpy as np

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
REGRESSION_METRICS = ("mae", "rmse", "r2")
HEADLINE = {"classification": "f1", "regression": "r2"}  # what tables rank by default
LOWER_IS_BETTER = {"mae", "rmse"}


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, positive: int = 1
) -> dict[str, float]:
    """`y_true` holds class numbers 0..k-1, `proba` one column per class; with two classes,
    `positive` is the number of the positive class."""
    from sklearn import metrics as sk

    n_classes = proba.shape[1]
    y_pred = proba.argmax(axis=1)
    labels = list(range(n_classes))
    binary = n_classes == 2
    average = "binary" if binary else "macro"
    precision, recall, f1, _ = sk.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=average, pos_label=positive, zero_division=0
    )
    if len(np.unique(y_true)) < 2:
        roc_auc = pr_auc = float("nan")  # undefined with one class present
    elif binary:
        roc_auc = sk.roc_auc_score(y_true == positive, proba[:, positive])
        pr_auc = sk.average_precision_score(y_true == positive, proba[:, positive])
    else:
        roc_auc = sk.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
        pr_auc = sk.average_precision_score(np.eye(n_classes)[y_true], proba, average="macro")
    values = (sk.accuracy_score(y_true, y_pred), precision, recall, f1, roc_auc, pr_auc)
    return {name: round(float(v), 6) for name, v in zip(METRICS, values, strict=True)}


def majority_baseline(y_train: np.ndarray, n_rows: int, n_classes: int) -> np.ndarray:
    """Probabilities of a model that always predicts the most frequent training class.
    Its ROC-AUC is 0.5 by construction; any real model must beat its other scores."""
    proba = np.zeros((n_rows, n_classes))
    proba[:, np.bincount(y_train, minlength=n_classes).argmax()] = 1.0
    return proba


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as sk

    values = (
        sk.mean_absolute_error(y_true, predicted),
        sk.root_mean_squared_error(y_true, predicted),
        sk.r2_score(y_true, predicted),
    )
    return {name: round(float(v), 6) for name, v in zip(REGRESSION_METRICS, values, strict=True)}


def difference(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(a[k] - b[k], 6) for k in a}

"""The scikit-learn baselines. Each is a few lines: the estimator and fixed settings."""

from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from . import register
from .base import Model


class SklearnModel(Model):
    estimator: ClassVar[type]
    fixed: ClassVar[dict[str, Any]] = {}

    def make_estimator(self):
        return self.estimator(**self.params, **self.fixed, random_state=self.seed)

    def fit(self, x_train, y_train, x_val, y_val, *, on_epoch=None) -> dict[str, Any]:
        self.model_ = self.make_estimator().fit(x_train, y_train)
        return {}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(x)

    def save_weights(self, folder: Path) -> None:
        joblib.dump(self.model_, folder / "estimator.joblib")

    def load_weights(self, folder: Path) -> None:
        self.model_ = joblib.load(folder / "estimator.joblib")


@register("logreg")
class LogReg(SklearnModel):
    estimator = LogisticRegression


@register("random_forest")
class RandomForest(SklearnModel):
    estimator = RandomForestClassifier


@register("svm")
class SVM(SklearnModel):
    """An SVC has no probabilities of its own: calibration adds them (ROC-AUC needs them)."""

    estimator = SVC

    def make_estimator(self):
        from sklearn.calibration import CalibratedClassifierCV

        return CalibratedClassifierCV(super().make_estimator(), ensemble=False)

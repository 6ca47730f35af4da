"""MLPClassifier: a multi-layer perceptron in PyTorch, as a scikit-learn estimator.

The network is defined here and trainer.py trains it. Being an estimator, it works in a
`Pipeline`, with `clone`, `cross_validate`, grid searches and joblib, like the scikit-learn models.
Settings: hidden_sizes and dropout (conf/model/mlp.yaml), and `trainer`: the dict of
conf/trainer/default.yaml (device, optimiser, epochs...; a missing key takes that file's value).
"""

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y
from torch import nn

from .trainer import ConfigError, TrainerConfig, fit

CHUNK_ROWS = 65536  # rows per forward pass in predict_proba: bounded memory for any input


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Linear -> ReLU (-> Dropout) per hidden layer, then a linear layer giving class scores.

    `fit(X, y, eval_set=(X_val, y_val))` stops early on the validation rows given; without them
    it holds out `validation_fraction` of X (stratified, seeded), as scikit-learn's own
    MLPClassifier(early_stopping=True) does. After fit: classes_, n_features_in_, net_ (on the
    CPU, so the fitted estimator pickles and loads anywhere), history_ (a dict per epoch:
    epoch, train_loss, val_loss, val_accuracy, lr) and fit_summary_ (device, epochs_run, ...).
    """

    def __init__(
        self, hidden_sizes=(64, 32), dropout=0.1, trainer=None, random_state=0,
        validation_fraction=0.1,
    ):  # fmt: skip
        # scikit-learn's rule: keep the arguments as given (clone relies on it); fit checks them.
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.trainer = trainer
        self.random_state = random_state
        self.validation_fraction = validation_fraction

    def fit(self, X, y, eval_set=None) -> "MLPClassifier":
        config = TrainerConfig.from_dict(self.trainer or {})  # bad settings fail before any work
        self._check_params()
        X, y = check_X_y(X, y, dtype=np.float32)
        check_classification_targets(y)
        labels = LabelEncoder().fit(y)  # any labels (strings too) -> class numbers 0..k-1
        if eval_set is None:  # at least one validation row per class, for the stratified split
            rows = max(math.ceil(self.validation_fraction * len(y)), len(labels.classes_))
            X, X_val, y, y_val = train_test_split(
                X, y, test_size=rows, stratify=y, random_state=self.random_state
            )
        else:
            X_val, y_val = check_X_y(*eval_set, dtype=np.float32)
        self.classes_, self.n_features_in_ = labels.classes_, X.shape[1]
        torch.manual_seed(self.random_state)  # the same seed gives the same initial weights
        net = self._network(X.shape[1], len(self.classes_))
        self.history_, self.fit_summary_ = fit(
            net, X, labels.transform(y), X_val, labels.transform(y_val), config,
            seed=self.random_state,
        )  # fmt: skip
        self.net_ = net.cpu().eval()
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_features_in_:  # worded as scikit-learn's estimators say it
            raise ValueError(
                f"X has {X.shape[1]} features, but MLPClassifier is expecting "
                f"{self.n_features_in_} features as input"
            )
        proba = np.empty((len(X), len(self.classes_)))
        with torch.inference_mode():
            for start in range(0, len(X), CHUNK_ROWS):
                scores = self.net_(torch.tensor(X[start : start + CHUNK_ROWS]))
                proba[start : start + CHUNK_ROWS] = torch.softmax(scores, dim=1).numpy()
        return proba

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[proba.argmax(axis=1)]

    def _network(self, n_features: int, n_classes: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        width = n_features
        for size in self.hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = size
        return nn.Sequential(*layers, nn.Linear(width, n_classes))

    def _check_params(self) -> None:
        """One line naming the setting and what is allowed, as for the trainer's settings."""
        sizes, dropout, fraction = self.hidden_sizes, self.dropout, self.validation_fraction
        if not isinstance(sizes, list | tuple) or not all(_is(int, n) and n > 0 for n in sizes):
            raise ConfigError(
                f"model.hidden_sizes={sizes!r} is not valid: use a list of "
                "positive integers, e.g. [64, 64] (empty = logistic regression)"
            )
        if not (_is(int | float, dropout) and 0 <= dropout < 1):
            raise ConfigError(f"model.dropout={dropout!r} is not valid: use a number in [0, 1)")
        if not (_is(int | float, fraction) and 0 < fraction < 1):
            raise ConfigError(
                f"model.validation_fraction={fraction!r} is not valid: use a number in (0, 1)"
            )


def _is(kind, value) -> bool:
    """isinstance, except that True and False are no numbers (Python counts bool as an int)."""
    return isinstance(value, kind) and not isinstance(value, bool)

"""MLPClassifier and MLPRegressor: a multi-layer perceptron in PyTorch, as scikit-learn estimators.

The network is defined here and trainer.py trains it. Being estimators, they work in a `Pipeline`,
with `clone`, `cross_validate`, grid searches and joblib, like the scikit-learn models. Settings:
hidden_sizes and dropout (conf/model/mlp.yaml), and `trainer`: the dict of conf/trainer/default.yaml
(a missing key takes that file's value). The two differ only in their targets and loss.
"""

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data
from torch import nn

from .trainer import TrainerConfig, check, fit, is_a

CHUNK_ROWS = 65536  # rows per forward pass when predicting: bounded memory for any input
# The network's own settings: what is allowed, and the test (as for the trainer's settings).
RULES = {
    "hidden_sizes": (
        "a list of positive integers, e.g. [64, 64] (empty = a linear model)",
        lambda v: isinstance(v, list | tuple) and all(is_a(int, n) and n > 0 for n in v),
    ),
    "dropout": ("a number in [0, 1)", lambda v: is_a(int | float, v) and 0 <= v < 1),
    "validation_fraction": ("a number in (0, 1)", lambda v: is_a(int | float, v) and 0 < v < 1),
}


class _MLP(BaseEstimator):
    """Linear -> ReLU (-> Dropout) per hidden layer, then a linear output layer.

    `fit(X, y, eval_set=(X_val, y_val))` stops early on the validation rows given; without them
    it holds out `validation_fraction` of X (seeded by random_state), as scikit-learn's MLPs
    with early_stopping=True do. After fit: n_features_in_, net_ (on the CPU, so the fitted
    estimator pickles anywhere), history_ (a dict per epoch) and fit_summary_ (trainer.fit's).
    """

    _task = ""  # the trainer's task, which picks the loss: "classification" or "regression"

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

    def fit(self, X, y, eval_set=None):
        config = TrainerConfig.from_dict(self.trainer or {})  # bad settings fail before any work
        check("model", self.get_params(), RULES)
        X, y = validate_data(self, X, y, dtype=np.float32)  # and learns n_features_in_
        classify = self._task == "classification"
        if classify:
            check_classification_targets(y)
        if eval_set is None:
            rows = math.ceil(self.validation_fraction * len(y))
            if classify:  # stratified, so at least one validation row per class
                rows = max(rows, len(np.unique(y)))
            X, X_val, y, y_val = train_test_split(
                X, y, test_size=rows, stratify=y if classify else None,
                random_state=self.random_state,
            )  # fmt: skip
        else:
            X_val, y_val = check_X_y(*eval_set, dtype=np.float32)
        outputs, encode = self._learn_targets(y)
        torch.manual_seed(self.random_state)  # the same seed gives the same initial weights
        net = self._network(X.shape[1], outputs)
        self.history_, self.fit_summary_ = fit(
            net, X, encode(y), X_val, encode(y_val), config, seed=self.random_state,
            task=self._task,
        )  # fmt: skip
        self.net_ = net.cpu().eval()
        return self

    def _forward(self, X, activation=lambda scores: scores) -> np.ndarray:
        """The network's outputs for X (after `activation`), CHUNK_ROWS rows at a time."""
        check_is_fitted(self)
        # As scikit-learn's estimators do, it fails when X has not fit's number of columns.
        X = validate_data(self, X, dtype=np.float32, order="C", reset=False)
        with torch.inference_mode():
            chunks = torch.tensor(X).split(CHUNK_ROWS)
            return torch.cat([activation(self.net_(chunk)) for chunk in chunks]).double().numpy()

    def _learn_targets(self, y):
        """Learn the training targets (classes, or scale); return the network's number of
        outputs and the function turning targets into what the trainer's loss takes."""
        raise NotImplementedError

    def _network(self, n_features: int, n_outputs: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        width = n_features
        for size in self.hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = size
        return nn.Sequential(*layers, nn.Linear(width, n_outputs))


class MLPClassifier(ClassifierMixin, _MLP):
    """The MLP with one output per class and a cross-entropy loss; y: any labels (strings too).
    After fit also classes_; history_ and fit_summary_ include the validation accuracy."""

    _task = "classification"

    def predict_proba(self, X) -> np.ndarray:
        return self._forward(X, lambda scores: torch.softmax(scores, dim=1))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _learn_targets(self, y):
        labels = LabelEncoder().fit(y)  # any labels (strings too) -> class numbers 0..k-1
        self.classes_ = labels.classes_
        return len(self.classes_), labels.transform


class MLPRegressor(RegressorMixin, _MLP):
    """The MLP with one output and a mean-squared-error loss; y: numbers.

    It trains on y standardised with the training rows' mean and standard deviation (y_mean_,
    y_scale_), so the learning rate suits any units, and predicts in y's own units. Its
    history_'s losses are so in standardised units: a val_loss of 1.0 is no better than
    predicting the mean; 0.1 leaves a tenth of the variance unexplained (R² about 0.9).
    """

    _task = "regression"

    def predict(self, X) -> np.ndarray:
        return self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_

    def _learn_targets(self, y):
        try:
            y = np.asarray(y, dtype=np.float64)
        except ValueError:
            raise ValueError(
                f"MLPRegressor needs a numeric target, not labels such as {y[0]!r}: "
                "use MLPClassifier (data.task: classification)"
            ) from None
        # A constant target has no spread to divide by: it is then only centred.
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        mean, scale = self.y_mean_, self.y_scale_
        return 1, lambda t: ((np.asarray(t, np.float64) - mean) / scale).astype(np.float32)

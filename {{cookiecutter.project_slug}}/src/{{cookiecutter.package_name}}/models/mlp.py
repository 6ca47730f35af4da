"""A multi-layer perceptron in PyTorch: the network is defined here, ../trainer/ trains it.

Settings: `hidden_sizes` and `dropout` in conf/model/mlp.yaml; how it trains (optimiser,
learning rate, epochs, device, ...) in conf/trainer/default.yaml.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..trainer import ConfigError, TrainerConfig, fit
from . import register
from .base import Model

PARAMS = ("hidden_sizes", "dropout")


@register("mlp")
class MLP(Model):
    def __init__(self, params: dict[str, Any], *, seed: int, trainer: dict[str, Any] | None = None):
        super().__init__(params, seed=seed, trainer=trainer)
        for key in self.params:
            if key not in PARAMS:
                raise ConfigError(f"model.{key} is not an mlp setting: use {', '.join(PARAMS)}")
        sizes, dropout = self.params.get("hidden_sizes"), self.params.get("dropout")
        if not isinstance(sizes, list | tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes
        ):
            raise ConfigError(
                f"model.hidden_sizes={sizes!r} is not valid: use a list of "
                "positive integers, e.g. [64, 64] (empty = logistic regression)"
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not 0 <= dropout < 1
        ):
            raise ConfigError(f"model.dropout={dropout!r} is not valid: use a number in [0, 1)")

    def network(self, n_features: int, n_classes: int) -> nn.Sequential:
        """Linear -> ReLU (-> Dropout) per hidden layer, then a linear layer giving class scores."""
        layers: list[nn.Module] = []
        width = n_features
        for size in self.params["hidden_sizes"]:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if self.params["dropout"] > 0:
                layers.append(nn.Dropout(self.params["dropout"]))
            width = size
        layers.append(nn.Linear(width, n_classes))
        return nn.Sequential(*layers)

    def fit(self, x_train, y_train, x_val, y_val, *, on_epoch=None) -> dict[str, Any]:
        config = TrainerConfig.from_dict(self.trainer)  # fail on a bad setting before any work
        self.n_features_ = int(x_train.shape[1])
        self.n_classes_ = int(max(y_train.max(), y_val.max())) + 1
        torch.manual_seed(self.seed)  # the same seed gives the same initial weights
        self.net_ = self.network(self.n_features_, self.n_classes_)
        return fit(
            self.net_, x_train, y_train, x_val, y_val, config, seed=self.seed, on_epoch=on_epoch
        )

    @torch.inference_mode()
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.net_.eval()
        device = next(self.net_.parameters()).device
        chunks = []
        for start in range(0, len(x), 65536):  # bounded memory for large inputs
            xb = torch.as_tensor(np.asarray(x[start : start + 65536], dtype=np.float32))
            chunks.append(torch.softmax(self.net_(xb.to(device)).float(), dim=1).cpu())
        if not chunks:
            return np.zeros((0, self.n_classes_))
        return torch.cat(chunks).numpy().astype(np.float64)

    def save_weights(self, folder: Path) -> None:
        weights = {k: v.detach().cpu() for k, v in self.net_.state_dict().items()}
        payload = {"weights": weights, "n_features": self.n_features_, "n_classes": self.n_classes_}
        torch.save(payload, folder / "weights.pt")

    def load_weights(self, folder: Path) -> None:
        payload = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        self.n_features_, self.n_classes_ = payload["n_features"], payload["n_classes"]
        self.net_ = self.network(self.n_features_, self.n_classes_)
        self.net_.load_state_dict(payload["weights"])

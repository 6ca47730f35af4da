"""The one interface every model implements.

Adding a model is one subclass registered under a name plus one YAML file in
conf/model/ whose `name` matches: the pipeline, sweeps and reports pick it up.
"""

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

EpochCallback = Callable[[int, dict[str, float]], None]


class Model(ABC):
    """A classifier over the featurised arrays (float32 features, int64 labels)."""

    name: ClassVar[str]

    def __init__(self, params: dict[str, Any], *, seed: int, trainer: dict[str, Any] | None = None):
        self.params = dict(params)
        self.seed = seed
        self.trainer = dict(trainer or {})

    @abstractmethod
    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        *,
        on_epoch: EpochCallback | None = None,
    ) -> dict[str, Any]:
        """Train; return a summary (e.g. epochs run, device) worth tracking."""

    @abstractmethod
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (rows, classes)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    @abstractmethod
    def save_weights(self, folder: Path) -> None: ...

    @abstractmethod
    def load_weights(self, folder: Path) -> None: ...

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "name": self.name,
            "params": self.params,
            "seed": self.seed,
            "trainer": self.trainer,
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        self.save_weights(folder)

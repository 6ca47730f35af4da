"""Stage `train`: fit the model chosen by the `model` config group.

`dvc exp run -S model=svm` or `-S model.C=0.5` picks and tunes it; see conf/model/.
"""

from pathlib import Path
from typing import Any

from .config import Config, Paths, load_params
from .errors import run_cli
from .features import load_split
from .models import Model, build_model


def train(cfg: Config, features: Path, on_epoch=None) -> tuple[Model, dict[str, Any]]:
    x_train, y_train = load_split(features, "train")
    x_val, y_val = load_split(features, "val")
    model = build_model(cfg["model"], seed=cfg["seed"], trainer=cfg.get("trainer"))
    summary = model.fit(x_train, y_train, x_val, y_val, on_epoch=on_epoch)
    return model, summary


def main() -> None:
    cfg = load_params()
    model, _ = train(cfg, Paths().features)
    model.save(Paths().model)
    print(f"train: {cfg['model']['name']} saved to models/model/")


if __name__ == "__main__":
    run_cli(main)

"""Stage `train`: fit the model chosen by the `model` config group.

`dvc exp run -S model=svm` or `-S model.C=0.5` picks and tunes it; see conf/model/.
"""

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, Paths, load_params
from .tracking import exit_on_interrupt, pipeline_run

if TYPE_CHECKING:
    from .models import Model


def train(cfg: Config, features: Path, on_epoch=None) -> tuple["Model", dict[str, Any]]:
    # Imported here, not above: `python -m` then starts the MLflow logger process (in main)
    # before paying for numpy, pandas and scikit-learn, so both imports run side by side.
    from .features import load_split
    from .models import build_model

    x_train, y_train = load_split(features, "train")
    x_val, y_val = load_split(features, "val")
    model = build_model(cfg["model"], seed=cfg["seed"], trainer=cfg.get("trainer"))
    summary = model.fit(x_train, y_train, x_val, y_val, on_epoch=on_epoch)
    return model, summary


def main() -> None:
    cfg = load_params()
    paths = Paths()
    # The MLflow run is written by a logger process that works beside training and goes on
    # after it; models/model/run.json (a DVC out) names the run for evaluate. See tracking/.
    with pipeline_run(cfg, paths, stage="train") as run:
        started = time.perf_counter()
        model, summary = train(cfg, paths.features, on_epoch=run.log_epoch)
        seconds = time.perf_counter() - started
        model.save(paths.model)
        run.write_run_file(paths.model)
        run.log_fit(summary, seconds)
    print(f"train: {cfg['model']['name']} saved to models/model/")


if __name__ == "__main__":
    exit_on_interrupt(main)  # Ctrl-C / SIGTERM: run KILLED, exit 130 / 143

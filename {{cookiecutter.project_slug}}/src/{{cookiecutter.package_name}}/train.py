"""Stage `train`: fit the model chosen by the `model` config group.

`dvc exp run -S model=svm` or `-S model.C=0.5` picks and tunes it; see conf/model/.
"""

import time
from pathlib import Path
from typing import Any

from .config import Config, Paths, load_params
from .features import load_split
from .models import Model, build_model
from .tracking import exit_on_interrupt, pipeline_run


def train(cfg: Config, features: Path, on_epoch=None) -> tuple[Model, dict[str, Any]]:
    x_train, y_train = load_split(features, "train")
    x_val, y_val = load_split(features, "val")
    model = build_model(cfg["model"], seed=cfg["seed"], trainer=cfg.get("trainer"))
    summary = model.fit(x_train, y_train, x_val, y_val, on_epoch=on_epoch)
    return model, summary


def main() -> None:
    cfg = load_params()
    paths = Paths()
    # The MLflow run starts in a background thread; the run id goes to models/model/run.json
    # (a DVC out of this stage) so that evaluate logs into the same run. See tracking.py.
    with pipeline_run(cfg, paths, stage="train") as run:
        started = time.perf_counter()
        model, summary = train(cfg, paths.features, on_epoch=run.log_epoch)
        seconds = time.perf_counter() - started
        model.save(paths.model)
        run.write_run_file(paths.model)
        run.log_fit(summary, seconds)
    tracked = f" (MLflow run {run.run_id})" if run.run_id else ""
    print(f"train: {cfg['model']['name']} saved to models/model/{tracked}")


if __name__ == "__main__":
    exit_on_interrupt(main)  # Ctrl-C / SIGTERM: run KILLED, exit 130 / 143

"""All stages in one call, under any root folder: for sweeps, tuning, tests and notebooks.

`dvc repro` runs the same functions stage by stage (and skips what is up to date);
this runs them back to back in one process, writing under `paths.root`.
"""

import json
import time
from pathlib import Path

from .config import Config, Paths
from .eda import eda
from .evaluate import evaluate
from .featurize import featurize
from .prepare import prepare
from .train import train, write_outputs


def run_pipeline(
    cfg: Config, paths: Paths, *, raw_path: Path | None = None, with_eda: bool = False
) -> dict:
    """Prepare, (explore,) featurize, train and evaluate; return the metrics."""
    prepare(cfg, paths, raw_path)
    if with_eda:
        eda(cfg["data"], paths.split("train"), paths.reports / "eda", cfg["seed"])
    featurize(cfg, paths)
    started = time.perf_counter()
    model = train(cfg, paths)
    write_outputs(model, paths, time.perf_counter() - started, cfg["model"]["name"])
    return json.loads(json.dumps(evaluate(cfg, paths)))  # plain types, as metrics.json holds

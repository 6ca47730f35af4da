"""All stages in one call, under any root folder: for tests, sweeps and notebooks.

`dvc repro` runs the same functions stage by stage (and skips what is up to
date); this runs them back to back in one process, writing under `paths.root`.
"""

from pathlib import Path

from .config import Config, Paths
from .eda import eda
from .evaluate import evaluate
from .features import featurize
from .models.base import EpochCallback
from .prepare import prepare
from .train import train


def run_pipeline(
    cfg: Config,
    paths: Paths,
    *,
    raw_path: Path | None = None,
    with_eda: bool = True,
    on_epoch: EpochCallback | None = None,
) -> dict:
    """Prepare, explore, featurize, train and evaluate; return the metrics."""
    raw = raw_path or Path(cfg["data"]["raw_path"])
    prepare(cfg, raw, paths.processed, paths.reports / "cleaning.json")
    if with_eda:
        eda(cfg["data"], paths.processed / "train.csv", paths.reports / "eda")
    bundle = featurize(cfg["data"], paths.processed, paths.features, paths.featurizer)
    model, _ = train(cfg, paths.features, on_epoch=on_epoch)
    model.save(paths.model)
    return evaluate(
        cfg, model, bundle["classes"], paths.features, paths.processed / "train.csv", paths.reports
    )

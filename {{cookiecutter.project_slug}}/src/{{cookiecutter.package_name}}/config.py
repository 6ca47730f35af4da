"""Configuration: stages read params.yaml; conf/ is the source it is composed from.

`dvc exp run -S model=svm` composes conf/ with Hydra and writes params.yaml;
`dvc repro` reads params.yaml as committed. `python -m <package>.config check`
fails when the two disagree, `... sync` rewrites params.yaml from conf/.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import PipelineError, run_cli

PARAMS_FILE = Path("params.yaml")
CONF_DIR = Path("conf")

Config = dict[str, Any]


class Paths:
    """Where the stages read and write (dvc.yaml names the same paths), under a root:
    the project itself, or a scratch folder for sweeps and tests."""

    def __init__(self, root: Path = Path(".")):
        self.root = root
        self.processed = root / "data" / "processed"  # train/val/test splits after cleaning
        self.featurizer = root / "models" / "featurizer.joblib"  # fitted on the train split
        self.model = root / "models" / "model.joblib"  # cleaning + featurizer + estimator
        self.reports = root / "reports"
        self.history = self.reports / "train_history.csv"  # per-epoch curves (MLP)
        self.fit_summary = self.reports / "train.json"  # what training did: seconds, device

    def split(self, name: str) -> Path:
        return self.processed / f"{name}.parquet"


def load_params(path: Path = PARAMS_FILE) -> Config:
    if not path.exists():
        raise PipelineError(
            f"{path} not found: run from the project root, or `make params` to write it"
        )
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(cfg.get("seed"), int) or isinstance(cfg["seed"], bool):
        raise PipelineError(
            f"seed={cfg.get('seed')!r} in {path} is not valid: use an integer, e.g. -S seed=42"
        )
    return cfg


def compose(overrides: Sequence[str] = (), conf_dir: Path = CONF_DIR) -> Config:
    """The config Hydra composes from conf/, as DVC does for `dvc exp run -S`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def differences(expected: Any, actual: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested configs."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = sorted(set(expected) | set(actual), key=str)
        return [
            d for k in keys for d in differences(expected.get(k), actual.get(k), f"{prefix}{k}.")
        ]
    return [] if expected == actual else [prefix.rstrip(".")]


def write_params(cfg: Config, path: Path = PARAMS_FILE) -> None:
    header = "# Written from conf/ by `make params` or `dvc exp run -S`: edit conf/, not this.\n"
    path.write_text(
        header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["check", "sync", "show"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=svm")
    args = parser.parse_args(argv)
    composed = compose(args.overrides)
    if args.action == "show":
        print(yaml.safe_dump(composed, sort_keys=False, allow_unicode=True), end="")
    elif args.action == "sync":
        write_params(composed)
        print(f"wrote {PARAMS_FILE} from {CONF_DIR}/")
    else:
        changed = differences(composed, load_params())
        if changed:
            raise PipelineError(
                f"{PARAMS_FILE} is out of sync with {CONF_DIR}/ at "
                f"{', '.join(changed)}: run `make params` and commit both"
            )
        print(f"{PARAMS_FILE} matches {CONF_DIR}/")


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))

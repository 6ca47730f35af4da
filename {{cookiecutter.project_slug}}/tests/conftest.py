"""Shared fixtures: the project's config and small copies of its data."""

from pathlib import Path

import pandas as pd
import pytest
from tracking_helpers import BUNDLED_TASK, tracked_project

from {{ cookiecutter.package_name }}.config import compose

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "data" / "raw" / "penguins-raw.csv"


@pytest.fixture(scope="session")
def cfg() -> dict:
    """The active configuration composed from conf/ (what params.yaml must hold)."""
    return compose(conf_dir=ROOT / "conf")


@pytest.fixture(scope="session")
def bundled_cfg() -> dict:
    """The default configuration with the bundled task, whatever data is active."""
    return compose([f"data={BUNDLED_TASK}"], conf_dir=ROOT / "conf")


@pytest.fixture
def data_cfg() -> dict:
    """The bundled raw table read for its species (the tests of cleaning use its columns)."""
    return compose(["data=penguins"], conf_dir=ROOT / "conf")["data"]


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory) -> Path:
    """A 120-row sample of the raw table (40 per species), in its raw, messy form."""
    if not RAW.exists():
        pytest.skip(f"{RAW} is missing: run `dvc pull`")
    raw = pd.read_csv(RAW, dtype=str, keep_default_na=False)
    sample = raw.groupby("Species").head(40)
    path = tmp_path_factory.mktemp("raw") / "penguins-raw.csv"
    sample.to_csv(path, index=False)
    return path


@pytest.fixture
def tracked(monkeypatch) -> dict:
    """A project after `dvc repro` (made once per session; see tracking_helpers), as the
    working directory, with its MLflow store: {"project", "uri", "run_id"}."""
    found = tracked_project()
    monkeypatch.chdir(found["project"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", found["uri"])
    return found

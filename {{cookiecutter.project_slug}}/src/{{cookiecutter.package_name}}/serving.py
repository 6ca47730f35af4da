"""The deployable model: one fitted scikit-learn Pipeline, from a raw row to a prediction.

    clean (prepare.clean_rows) -> features (the fitted featurizer) -> model (the estimator)

The train stage saves it as models/model.joblib and evaluate logs it to MLflow (scikit-learn
flavour), so `make predict`, `mlflow models serve` and a notebook all use the same object.
Unpickling runs code: `load_trusted` opens a workspace file only when its hash is the one
DVC recorded in dvc.lock.
"""

import hashlib
from pathlib import Path

import pandas as pd
import yaml

from .config import Config
from .errors import PipelineError
from .prepare import clean_rows


def build_pipeline(data_cfg: Config, featurizer, estimator):
    """Assemble already fitted parts (a Pipeline of fitted steps is itself fitted)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    cleaning = FunctionTransformer(clean_rows, kw_args={"data_cfg": data_cfg})
    return Pipeline([("clean", cleaning), ("features", featurizer), ("model", estimator)])


def recorded_md5(path: Path, lock: Path = Path("dvc.lock")) -> str | None:
    """The md5 dvc.lock records for `path` as a stage output, if it records one."""
    if not lock.exists():
        return None
    stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    for stage in stages.values():
        for out in stage.get("outs", []):
            if Path(out["path"]) == path:
                return out.get("md5")
    return None


def load_trusted(path: Path):
    """joblib.load, after checking the file is the one `dvc repro` produced."""
    import joblib

    if not path.exists():
        raise PipelineError(f"{path} not found: run `dvc repro` (or `dvc pull`) first")
    expected = recorded_md5(path)
    if expected and hashlib.md5(path.read_bytes()).hexdigest() != expected:
        raise PipelineError(
            f"{path} is not the file dvc.lock records, and unpickling an unknown file can run "
            f"any code: restore it with `dvc checkout {path}` or rebuild it with `dvc repro`"
        )
    return joblib.load(path)


def predict(model, rows: pd.DataFrame, target: str) -> pd.DataFrame:
    """The input rows plus `predicted_<target>` and, for a classifier, one `proba_<class>`
    column per class."""
    out = rows.copy()
    if not hasattr(model, "predict_proba"):  # a regressor: the number is the answer
        out[f"predicted_{target}"] = model.predict(rows)
        return out
    proba = model.predict_proba(rows)
    out[f"predicted_{target}"] = model.classes_[proba.argmax(axis=1)]
    for i, name in enumerate(model.classes_):
        out[f"proba_{name}"] = proba[:, i]
    return out

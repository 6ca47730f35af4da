"""The deployable model: one fitted scikit-learn Pipeline, from a raw row to a prediction.

    clean (prepare.clean_rows) -> features (the fitted featurizer) -> model (the estimator)

The train stage saves it as models/model.joblib and evaluate logs it to MLflow (scikit-learn
flavour), so `make predict`, `mlflow models serve` and a notebook all use the same object.
Unpickling runs code: `load_trusted` opens a workspace file only when its hash is the one
DVC recorded in dvc.lock.
"""

from pathlib import Path

import pandas as pd

from .config import Config
from .dvc_records import lock_md5, md5
from .errors import PipelineError
from .prepare import clean_rows


def build_pipeline(data_cfg: Config, featurizer, estimator):
    """Assemble already fitted parts (a Pipeline of fitted steps is itself fitted)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    cleaning = FunctionTransformer(clean_rows, kw_args={"data_cfg": data_cfg})
    return Pipeline([("clean", cleaning), ("features", featurizer), ("model", estimator)])


def load_trusted(path: Path):
    """joblib.load, after checking the file is the one `dvc repro` produced."""
    import joblib

    if not path.exists():
        raise PipelineError(f"{path} not found: run `dvc repro` (or `dvc pull`) first")
    expected = lock_md5(path)
    if expected and md5(path) != expected:
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

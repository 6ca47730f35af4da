"""Stage `featurize`: imputation, scaling and one-hot encoding fitted on TRAIN only.

Fitting them on all rows would leak the validation and test distributions
(their means, their categories) into training. The fitted featurizer is saved
so evaluation and prediction transform new rows exactly the same way.
"""

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from .config import Config, Paths, load_params
from .errors import run_cli

SPLITS = ("train", "val", "test")


def build_featurizer(data_cfg: Config):
    """An unfitted scikit-learn transformer for the configured columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(data_cfg["numeric"])),
            ("categorical", categorical, list(data_cfg["categorical"])),
        ]
    )


def class_labels(labels: pd.Series) -> list[str]:
    """The classes in the order of the models' probability columns."""
    return sorted(labels.astype(str).unique())


def fit_featurizer(train: pd.DataFrame, data_cfg: Config) -> dict:
    """Fit on the training split; the bundle also holds the class labels in order."""
    featurizer = build_featurizer(data_cfg).fit(train)
    classes = class_labels(train[data_cfg["target"]])
    return {
        "featurizer": featurizer,
        "classes": classes,
        "target": data_cfg["target"],
        "columns": list(data_cfg["numeric"]) + list(data_cfg["categorical"]),
    }


def transform(bundle: dict, df: pd.DataFrame) -> np.ndarray:
    return bundle["featurizer"].transform(df[bundle["columns"]]).astype(np.float32)


def encode_labels(bundle: dict, labels: pd.Series) -> np.ndarray:
    index = {c: i for i, c in enumerate(bundle["classes"])}
    return labels.astype(str).map(index).to_numpy(dtype=np.int64)


def featurize(data_cfg: Config, processed: Path, out: Path, bundle_path: Path) -> dict:
    splits = {name: pd.read_csv(processed / f"{name}.csv") for name in SPLITS}
    bundle = fit_featurizer(splits["train"], data_cfg)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in splits.items():
        np.savez(
            out / f"{name}.npz",
            x=transform(bundle, df),
            y=encode_labels(bundle, df[data_cfg["target"]]),
        )
    bundle_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle, bundle_path)
    return bundle


def load_split(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(folder / f"{name}.npz") as arrays:
        return arrays["x"], arrays["y"]


def main() -> None:
    cfg = load_params()
    paths = Paths()
    bundle = featurize(cfg["data"], paths.processed, paths.features, paths.featurizer)
    names = bundle["featurizer"].get_feature_names_out()
    print(f"featurize: {len(names)} features, classes {bundle['classes']}")


if __name__ == "__main__":
    run_cli(main)

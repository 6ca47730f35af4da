"""Stage `featurize`: imputation, scaling and one-hot encoding, fitted on TRAIN only.

Fitting them on all rows would leak the validation and test distributions (their
means, their categories) into training. The fitted featurizer is saved and becomes
a step of the deployable model (serving.py), so new rows are transformed the same way.
"""

import joblib
import pandas as pd

from .config import Config, Paths, load_params
from .errors import run_cli


def build_featurizer(data_cfg: Config):
    """An unfitted scikit-learn transformer for the configured columns (float32 out)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        # Unknown categories at prediction time become all zeros instead of an error.
        OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype="float32"),
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(data_cfg["numeric"])),
            ("categorical", categorical, list(data_cfg["categorical"])),
        ],
        verbose_feature_names_out=False,  # `body_mass_g`, `island_biscoe`: readable names
    )


def featurize(cfg: Config, paths: Paths):
    """Fit the featurizer on the training split and save it; return it."""
    train = pd.read_parquet(paths.split("train"))
    featurizer = build_featurizer(cfg["data"]).fit(train)
    paths.featurizer.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(featurizer, paths.featurizer)
    return featurizer


def main() -> None:
    featurizer = featurize(load_params(), Paths())
    print(f"featurize: {len(featurizer.get_feature_names_out())} features from the training split")


if __name__ == "__main__":
    run_cli(main)

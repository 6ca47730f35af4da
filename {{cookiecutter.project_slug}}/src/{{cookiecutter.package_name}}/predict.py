"""Predict with a tracked model: `make predict INPUT=new.csv [RUN=<run id>]`.

    python -m <package>.predict new.csv                # the registry's `champion` model
    python -m <package>.predict new.csv --run <run id> # the model of one run
    python -m <package>.predict new.csv --output out.csv

New rows get exactly the training run's cleaning (units, spellings, missing-value tokens,
column renames) and its fitted featurizer: both travel inside the MLflow model, with the data
config of the run that trained it. A needed column that is missing is named in the error;
columns the model does not know are reported and ignored. Writes the input columns plus
`predicted_<target>` and one `proba_<class>` column per class (default: <input>.predictions.csv).

Serving the same model over HTTP on this machine only (see docs/tracking.md):
    mlflow models serve -m "models:/<registered model>@champion" --host 127.0.0.1 \\
        --port 5001 --env-manager local
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from .config import Config, load_params
from .errors import PipelineError, run_cli
from .prepare import feature_columns, load_raw, normalise_categories, to_numeric


def prepare_rows(df: pd.DataFrame, data_cfg: Config) -> pd.DataFrame:
    """The feature columns of new rows, cleaned as in training, one output row per input row.

    Unlike `prepare.clean` this keeps duplicates and all-missing columns: every row gets a
    prediction, in order.
    """
    df = df.rename(columns=data_cfg.get("rename") or {})
    needed = feature_columns(data_cfg)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raw_names = {v: k for k, v in (data_cfg.get("rename") or {}).items()}
        shown = ", ".join(
            f"{c!r}" + (f" (raw name {raw_names[c]!r})" if c in raw_names else "") for c in missing
        )
        raise PipelineError(
            f"column(s) {shown} missing from the input: the model needs {', '.join(needed)}"
        )
    rows = df[needed].copy()
    tokens = set(data_cfg.get("missing_values") or [])
    for col in data_cfg["categorical"]:
        rows[col] = rows[col].astype(object).where(rows[col].notna(), None)
        rows[col] = rows[col].map(lambda v: None if v is None or str(v) in tokens else str(v))
    for col in data_cfg["numeric"]:
        rows[col] = rows[col].map(lambda v: np.nan if isinstance(v, str) and v in tokens else v)
    to_numeric(rows, list(data_cfg["numeric"]))
    normalise_categories(rows, list(data_cfg["categorical"]), data_cfg.get("synonyms") or {})
    return rows.reset_index(drop=True)


def unknown_columns(columns: Sequence[str], data_cfg: Config) -> list[str]:
    """Input columns the data config does not mention at all (typos, other datasets)."""
    rename = data_cfg.get("rename") or {}
    known = {
        *feature_columns(data_cfg),
        data_cfg["target"],
        *(data_cfg.get("drop") or []),
        *rename,
        *rename.values(),
    }
    return [c for c in columns if c not in known]


def output_columns(target: str, classes: Sequence[str]) -> list[str]:
    """What the model returns: the predicted label, then one probability per class."""
    return [f"predicted_{target}", *(f"proba_{c}" for c in classes)]


class FeaturizedModel(mlflow.pyfunc.PythonModel):
    """Cleaning + fitted featurizer + trained model, taking the raw-column table."""

    @classmethod
    def from_paths(cls, featurizer: Path, model: Path, cfg: Config) -> "FeaturizedModel":
        import joblib

        from .models import load_model

        self = cls()
        self.cfg, self.bundle, self.model = cfg, joblib.load(featurizer), load_model(model)
        return self

    def load_context(self, context) -> None:
        import joblib
        import yaml

        from .models import load_model

        self.cfg = yaml.safe_load(Path(context.artifacts["config"]).read_text(encoding="utf-8"))
        self.bundle = joblib.load(context.artifacts["featurizer"])
        self.model = load_model(Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        from .features import transform

        rows = prepare_rows(pd.DataFrame(model_input), self.cfg["data"])
        proba = self.model.predict_proba(transform(self.bundle, rows))
        classes = list(self.bundle["classes"])
        predicted, *probabilities = output_columns(self.cfg["data"]["target"], classes)
        out = pd.DataFrame({predicted: np.array(classes, dtype=object)[proba.argmax(axis=1)]})
        for i, name in enumerate(probabilities):
            out[name] = proba[:, i].astype(float)
        return out


def load(model_uri: str):
    """The pyfunc model at `model_uri`, with a clear error when there is none."""
    from mlflow.exceptions import MlflowException

    from .tracking import client

    client()  # the project's store, as for every other command
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        if "@" in model_uri:
            raise PipelineError(
                f"no model at {model_uri} ({str(exc).splitlines()[0]}): run "
                "`make report` to register the best run's model as champion, "
                "or pass RUN=<run id>"
            ) from None
        raise PipelineError(
            f"no model at {model_uri}: {str(exc).splitlines()[0]}; check the run "
            "id (`make compare` lists runs) and that the run finished"
        ) from None


def predict_file(model, source: Path, output: Path) -> pd.DataFrame:
    wrapped = model.unwrap_python_model()
    data_cfg = wrapped.cfg["data"]
    if not source.exists():
        raise PipelineError(f"input file {source} not found")
    df = load_raw(source, data_cfg)  # text as in training: missing-value tokens, renames
    if len(df) == 0:
        raise PipelineError(f"{source} has no rows to predict")
    if unknown := unknown_columns(df.columns, data_cfg):
        print(
            f"predict: ignoring column(s) the model does not know: {', '.join(unknown)}",
            file=sys.stderr,
        )
    rows = prepare_rows(df, data_cfg)
    predictions = model.predict(rows)
    # The output keeps the input's own column names (load_raw renamed them for the model).
    header = pd.read_csv(source, nrows=0).columns
    back = {new: old for old, new in (data_cfg.get("rename") or {}).items() if old in header}
    result = pd.concat([df.reset_index(drop=True).rename(columns=back), predictions], axis=1)
    output.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(output, index=False)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="CSV file with the raw columns")
    parser.add_argument("--run", help="use this run's model instead of the champion")
    parser.add_argument("--output", type=Path, help="default: <input>.predictions.csv")
    args = parser.parse_args(argv)
    from .tracking import MODEL_ARTIFACT, registered_model_name

    cfg = load_params()
    uri = (
        f"runs:/{args.run}/{MODEL_ARTIFACT}"
        if args.run
        else f"models:/{registered_model_name(cfg)}@champion"
    )
    output = args.output or args.input.with_name(args.input.stem + ".predictions.csv")
    result = predict_file(load(uri), args.input, output)
    target = cfg["data"]["target"]
    counts = result[f"predicted_{target}"].value_counts().to_dict()
    print(f"predict: {len(result)} row(s) with {uri} -> {output}  {counts}")


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))

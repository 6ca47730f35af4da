"""Predict new rows with a trained model: `make predict INPUT=new.csv [RUN=<run id>]`.

    python -m <package>.commands.predict new.csv               # the registry's `champion`
    python -m <package>.commands.predict new.csv --run 3f2a9c  # the model of one run
    python -m <package>.commands.predict new.csv --workspace   # models/model.joblib (dvc repro)
    python -m <package>.commands.predict new.csv --output out.csv

The model is the training run's whole scikit-learn Pipeline: the same row cleaning (units,
spellings, missing-value tokens, column renames), the fitted featurizer and the estimator, so
new rows need only the raw columns. Writes the input columns plus `predicted_<target>` and one
`proba_<class>` column per class (default: <input>.predictions.csv).

Serving the same model over HTTP on this machine only (see docs/tracking.md):
    mlflow models serve -m "models:/<registered model>@champion" --host 127.0.0.1 \\
        --port 5001 --env-manager local
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .. import serving, tracking
from ..config import Paths, load_params
from ..errors import PipelineError, run_cli
from ..prepare import feature_columns
from .compare import resolve_run_id


def load(run: str | None, workspace: bool):
    """(the model, where it came from)."""
    if workspace:
        return serving.load_trusted(Paths().model), str(Paths().model)
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking.tracking_uri())
    if run:
        uri, hint = f"runs:/{resolve_run_id(run)}/model", "did that run log a model?"
    else:
        uri = f"models:/{load_params()['tracking']['registered_model']}@champion"
        hint = "run `make report` to choose the champion, or pass RUN=<run id>"
    try:
        return mlflow.sklearn.load_model(uri), uri
    except (MlflowException, OSError) as exc:
        raise PipelineError(f"no model at {uri} ({str(exc).splitlines()[0]}): {hint}") from None


def read_rows(source: Path) -> pd.DataFrame:
    """The file as text, as the training data were read: the model's cleaning parses it."""
    if not source.exists():
        raise PipelineError(f"input file {source} not found")
    try:
        parquet = source.suffix == ".parquet"
        df = pd.read_parquet(source) if parquet else pd.read_csv(source, dtype=str, na_filter=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{source} is not a readable table: {exc}") from None
    if df.empty:
        raise PipelineError(f"{source} has no rows to predict")
    return df


def unknown_columns(columns: Sequence[str], data_cfg: dict) -> list[str]:
    """Input columns the model's data config does not mention (typos, another dataset)."""
    rename = data_cfg.get("rename") or {}
    known = {*feature_columns(data_cfg), data_cfg["target"], *(data_cfg.get("drop") or [])}
    return [c for c in columns if c not in known and rename.get(c) not in known]


def trained_data_cfg(model) -> dict:
    """The data config the model was trained with: it travels inside, in the cleaning step."""
    return model.named_steps["clean"].kw_args["data_cfg"]


def predict_file(model, source: Path, output: Path) -> pd.DataFrame:
    data_cfg = trained_data_cfg(model)
    rows = read_rows(source)
    if unknown := unknown_columns(rows.columns, data_cfg):
        ignored = ", ".join(unknown)
        print(f"predict: ignoring column(s) the model does not know: {ignored}", file=sys.stderr)
    result = serving.predict(model, rows, data_cfg["target"])
    output.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(output, index=False)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="CSV (or Parquet) file with the raw columns")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", help="this run's model (6+ characters of its id)")
    which.add_argument("--workspace", action="store_true", help="models/model.joblib")
    parser.add_argument("--output", type=Path, help="default: <input>.predictions.csv")
    args = parser.parse_args(argv)
    model, source = load(args.run, args.workspace)
    output = args.output or args.input.with_name(args.input.stem + ".predictions.csv")
    result = predict_file(model, args.input, output)
    predicted = result[f"predicted_{trained_data_cfg(model)['target']}"]
    summary = predicted.value_counts().to_dict() if hasattr(model, "predict_proba") else ""
    print(f"predict: {len(result)} row(s) with {source} -> {output}  {summary}")


if __name__ == "__main__":
    run_cli(main)

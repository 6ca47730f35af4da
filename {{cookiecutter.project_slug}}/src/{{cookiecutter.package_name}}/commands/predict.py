"""Predict new rows with a trained model: `make predict INPUT=new.csv [RUN=<run id>]`.

The model (the registry's `champion`, a run's with --run, or models/model.joblib with
--workspace) is the whole training Pipeline, row cleaning included, so new rows need only the
raw columns. Writes them plus `predicted_<target>` (and `proba_<class>` per class).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .. import serving, tracking
from ..config import Paths, load_params
from ..errors import PipelineError, run_cli
from ..prepare import csv_format, feature_columns
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
        uri = f"models:/{tracking.registered_model(load_params())}@champion"  # of the active data
        hint = "run `make report` to choose the champion, or pass RUN=<run id>"
    try:
        return mlflow.sklearn.load_model(uri), uri
    except (MlflowException, OSError) as exc:
        raise PipelineError(f"no model at {uri} ({str(exc).splitlines()[0]}): {hint}") from None


def read_rows(source: Path, data_cfg: dict) -> pd.DataFrame:
    """The file as text, as the training data were read: the model's cleaning parses it."""
    try:
        parquet = source.suffix == ".parquet"
        df = (
            pd.read_parquet(source)
            if parquet
            else pd.read_csv(source, dtype=str, na_filter=False, **csv_format(data_cfg))
        )
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{source} is not a readable table: {exc}") from None
    if df.empty:
        raise PipelineError(f"{source} has no rows to predict")
    return df


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="CSV (or Parquet) file with the raw columns")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--run", help="this run's model (6+ characters of its id)")
    which.add_argument("--workspace", action="store_true", help="models/model.joblib")
    parser.add_argument("--output", type=Path, help="default: <input>.predictions.csv")
    args = parser.parse_args(argv)
    model, source = load(args.run, args.workspace)
    data_cfg = model.named_steps["clean"].kw_args["data_cfg"]  # the training's, inside the model
    rows = read_rows(args.input, data_cfg)
    # Columns the model's data config does not mention: a typo, or another dataset.
    rename = data_cfg.get("rename") or {}
    known = {*feature_columns(data_cfg), data_cfg["target"], *(data_cfg.get("drop") or [])}
    if unknown := [c for c in rows.columns if c not in known and rename.get(c) not in known]:
        ignored = ", ".join(unknown)
        print(f"predict: ignoring column(s) the model does not know: {ignored}", file=sys.stderr)
    result = serving.predict(model, rows, data_cfg["target"])
    output = args.output or args.input.with_name(args.input.stem + ".predictions.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(output, index=False)
    predicted = result[f"predicted_{data_cfg['target']}"]
    counts = predicted.value_counts().to_dict() if hasattr(model, "predict_proba") else ""
    print(f"predict: {len(result)} row(s) with {source} -> {output}  {counts}")


if __name__ == "__main__":
    run_cli(main)

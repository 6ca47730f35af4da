"""Stage `prepare`: raw table -> validated, cleaned, de-duplicated, split tables.

Raw data is only read, never modified. Everything removed or changed is counted
in reports/cleaning.json so a reviewer can see what the cleaning did and why.
`clean_rows` is the part that applies to any row, so the deployable model
(serving.py) cleans new rows exactly as the training rows were cleaned.
"""

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, Paths, load_params
from .dvc_records import md5, tracked_md5
from .errors import PipelineError, run_cli

MIN_ROWS_PER_CLASS = 3  # one each for train, validation and test
MAX_CLASSES = 50  # more distinct numbers than this in a classification target: regression?
SPLITS = ("train", "val", "test")
TASKS = ("classification", "regression")


def task_of(data_cfg: Config) -> str:
    task = data_cfg.get("task", "classification")
    if task not in TASKS:
        raise PipelineError(f"data.task={task!r} is not valid: use classification or regression")
    return task


def csv_format(data_cfg: Config) -> dict[str, str]:
    """How the CSV is written, as the data config says (`make predict` reads new rows so too)."""
    return {"sep": data_cfg.get("sep", ","), "encoding": data_cfg.get("encoding", "utf-8")}


def read_csv(path: Path, data_cfg: Config) -> pd.DataFrame:
    """data.numeric columns as float64 (parsing text later is slower and holds more memory),
    the others as text. A numeric column holding text is read again as text: clean_rows
    then counts the cells that are no numbers, or refuses a column that is mostly text."""
    raw_names = {new: old for old, new in (data_cfg.get("rename") or {}).items()}
    numbers = {raw_names.get(c, c): "float64" for c in data_cfg["numeric"]}
    how = {"keep_default_na": False, "na_values": list(data_cfg.get("missing_values", [""]))}
    how |= csv_format(data_cfg)
    try:
        return pd.read_csv(path, dtype=defaultdict(lambda: str, numbers), **how)
    except ValueError:  # e.g. could not convert string to float: 'heavy'
        return pd.read_csv(path, dtype=str, **how)


def load_raw(path: Path, data_cfg: Config) -> pd.DataFrame:
    """The raw table (CSV, or Parquet as stored), with the configured renames."""
    if not path.exists():
        raise PipelineError(
            f"raw data {path} not found: run `dvc checkout` (or `dvc pull` when the DVC cache "
            "does not have it), or fix data.raw_path in your conf/data file"
        )
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else read_csv(path, data_cfg)
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{path} is empty: expected a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise PipelineError(f"{path} is not a readable table: {exc}") from None
    rename = data_cfg.get("rename") or {}
    # pandas suffixes a repeated header with .1; a rename can also give two columns one name.
    names = df.columns.str.replace(r"\.\d+$", "", regex=True).map(lambda c: rename.get(c, c))
    if names.duplicated().any():
        twice = sorted(set(names[names.duplicated()]))
        raise PipelineError(
            f"{path} has more than one column named {', '.join(map(repr, twice))} (after "
            "data.rename): rename or drop one of them in the file or in data.rename"
        )
    df = df.rename(columns=rename)
    if df.empty:
        raise PipelineError(f"{path} has a header but no data rows: add rows, or fix data.raw_path")
    return df


def check_unchanged(path: Path) -> None:
    """Raw data is immutable: an edit DVC would quietly record as a new version is refused."""
    expected = tracked_md5(path)
    if expected and path.is_file() and md5(path) != expected:
        raise PipelineError(
            f"{path} differs from the version DVC tracks ({path.name}.dvc); raw data is never "
            f"edited in place: restore it with `dvc checkout {path}`, or version the change "
            f"deliberately with `dvc add {path}` and commit {path}.dvc"
        )


def feature_columns(data_cfg: Config) -> list[str]:
    return [*data_cfg["numeric"], *data_cfg["categorical"]]


def validate_schema(df: pd.DataFrame, data_cfg: Config, *, need_target: bool = True) -> None:
    """Fail early, naming the column, when the table does not match the data config."""
    target = data_cfg["target"]
    if target in feature_columns(data_cfg):
        raise PipelineError(
            f"the target {target!r} is also listed as a feature: remove it from "
            "data.numeric / data.categorical (a model must not see the answer)"
        )
    expected = feature_columns(data_cfg) + ([target] if need_target else [])
    missing = [c for c in expected if c not in df.columns]
    if missing:
        raise PipelineError(
            f"column(s) {', '.join(map(repr, missing))} missing from the data "
            f"(found: {', '.join(map(repr, df.columns))}); fix the table or the data config "
            "(data.rename, data.numeric, data.categorical, data.target)"
        )
    if need_target and len(df) and df[expected].isna().all().any():
        empty = [c for c in expected if df[c].isna().all()]
        raise PipelineError(
            f"column(s) {', '.join(map(repr, empty))} hold no values at all: "
            "remove them from data.numeric / data.categorical"
        )


def to_numeric(column: pd.Series, name: str) -> pd.Series:
    """Numbers as float64; unparseable cells and infinities become missing.
    Mostly-text columns are a config mistake, not dirty data: those fail instead."""
    values = pd.to_numeric(column, errors="coerce").replace([np.inf, -np.inf], np.nan)
    bad = column.notna() & values.isna()
    if bad.sum() > 0.5 * column.notna().sum() and bad.any():
        raise PipelineError(
            f"column {name!r} is listed in data.numeric but holds text such as "
            f"{column[bad].iloc[0]!r}: move it to data.categorical or fix the values"
        )
    return values.astype("float64")


def normalise(column: pd.Series, synonyms: dict | None, *, lower: bool = True) -> pd.Series:
    """Trim and collapse spaces, then map synonyms (matched ignoring case).

    Features are lower-cased so "MALE" and "male" are one category. Labels (lower=False)
    keep a spelling a person typed: the synonym's, else the most frequent one.
    """
    # Each distinct value is cleaned once, then copied to its rows: fast on millions of rows.
    codes, distinct = pd.factorize(column)  # codes: a row's value in `distinct`, -1 if missing
    text = pd.Series(distinct, dtype="string").str.strip().str.replace(r"\s+", " ", regex=True)
    key = text.str.lower()
    mapping = {str(k).strip().lower(): v for k, v in (synonyms or {}).items()}
    if not lower:  # most frequent spelling of each case-insensitive key, then synonyms
        rows = pd.Series(np.bincount(codes[codes >= 0], minlength=len(text)))
        spellings = rows.groupby([key.rename("key"), text.rename("text")], sort=False).sum()
        spellings = spellings.sort_values(ascending=False, kind="stable").reset_index()
        most = spellings.drop_duplicates("key")  # a key's first spelling has the most rows
        mapping = {**dict(zip(most["key"], most["text"], strict=True)), **mapping}
    clean = key.map(lambda v: mapping.get(v, v)).to_numpy(dtype=object)
    # Missing stays NaN, not pd.NA: scikit-learn's imputers expect it.
    values = pd.api.extensions.take(clean, codes, allow_fill=True, fill_value=np.nan)
    return pd.Series(values, index=column.index, dtype=object)


def clean_rows(df: pd.DataFrame, data_cfg: Config) -> pd.DataFrame:
    """The feature columns of any table, cleaned row by row (training data and new rows)."""
    df = df.rename(columns=data_cfg.get("rename") or {})
    validate_schema(df, data_cfg, need_target=False)
    missing = list(data_cfg.get("missing_values", [""]))
    synonyms = data_cfg.get("synonyms") or {}
    clean = {}
    for col in data_cfg["numeric"]:
        clean[col] = to_numeric(df[col].replace(missing, np.nan), col)
    for col in data_cfg["categorical"]:
        clean[col] = normalise(df[col].replace(missing, np.nan), synonyms.get(col))
    return pd.DataFrame(clean, index=df.index)


def target_values(column: pd.Series, data_cfg: Config) -> pd.Series:
    """The target as the task needs it: numbers (regression) or labels as typed."""
    name = data_cfg["target"]
    if task_of(data_cfg) == "regression":
        numbers = pd.to_numeric(column, errors="coerce").replace([np.inf, -np.inf], np.nan)
        if column.notna().any() and numbers.notna().sum() < 0.5 * column.notna().sum():
            raise PipelineError(
                f"target {name!r} holds text such as {column.dropna().iloc[0]!r}, not numbers: "
                "set data.task: classification, or fix the values"
            )
        return numbers
    labels = normalise(column, (data_cfg.get("synonyms") or {}).get(name), lower=False)
    distinct = pd.Series(labels.unique())  # a missing label (NaN) counts as no number here
    if pd.to_numeric(distinct, errors="coerce").notna().all() and labels.nunique() > MAX_CLASSES:
        raise PipelineError(
            f"target {name!r} holds {labels.nunique()} different numbers: a classifier would "
            "treat each as a class; set data.task: regression to predict the number"
        )
    return labels


def clean(df: pd.DataFrame, data_cfg: Config) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate and clean a raw table; return the clean table and what was done."""
    validate_schema(df, data_cfg)
    target = data_cfg["target"]
    features = clean_rows(df, data_cfg)
    labels = target_values(df[target], data_cfg)
    summary: dict[str, Any] = {"rows_in": len(df)}
    summary["unparseable_numbers"] = {
        c: int((df[c].notna() & features[c].isna()).sum()) for c in data_cfg["numeric"]
    }
    fixed = {c: features[c] for c in data_cfg["categorical"]}
    if task_of(data_cfg) == "classification":
        fixed[target] = labels
    summary["categories_fixed"] = {
        c: int((values.fillna("\0") != df[c].fillna("\0")).sum()) for c, values in fixed.items()
    }
    table = features.assign(**{target: labels})
    has_label = table[target].notna()
    table = table[has_label]
    before = len(table)
    table = table.drop_duplicates().reset_index(drop=True)
    summary["rows_dropped"] = {
        "missing_target": int((~has_label).sum()),
        "duplicates": before - len(table),
    }
    used = {*feature_columns(data_cfg), target}
    summary["columns_dropped"] = [c for c in data_cfg.get("drop", []) if c in df.columns]
    summary["columns_ignored"] = [  # in no list at all: say so, an intern may have forgotten one
        c for c in df.columns if c not in used and c not in data_cfg.get("drop", [])
    ]
    summary["missing_values"] = {c: int(n) for c, n in table.isna().sum().items()}
    # Values beyond k inter-quartile ranges are counted, not removed: they may be real.
    numbers, k = table[list(data_cfg["numeric"])], data_cfg.get("outlier_iqr", 3.0)
    q1, q3 = numbers.quantile(0.25), numbers.quantile(0.75)
    beyond = (numbers < q1 - k * (q3 - q1)) | (numbers > q3 + k * (q3 - q1))
    summary["outliers"] = {col: int(n) for col, n in beyond.sum().items()}
    summary["rows_out"] = len(table)
    return table, summary


def split(df: pd.DataFrame, data_cfg: Config, seed: int) -> dict[str, pd.DataFrame]:
    """Seeded train/validation/test split, stratified by class for classification."""
    from sklearn.model_selection import train_test_split

    target, regression = data_cfg["target"], task_of(data_cfg) == "regression"
    counts = df[target].value_counts()
    if len(counts) < 2:
        raise PipelineError(
            f"target {target!r} is constant: there is nothing to predict"
            if regression
            else f"target {target!r} has a single class: a classifier needs at least two"
        )
    if not regression and counts.min() < MIN_ROWS_PER_CLASS:
        raise PipelineError(
            f"too little data to split: class {counts.idxmin()!r} of {target!r} has "
            f"{counts.min()} row(s), at least {MIN_ROWS_PER_CLASS} are needed (train/val/test)"
        )

    def cut(rows: pd.DataFrame, size: float) -> list[pd.DataFrame]:
        # Class numbers in sorted order of the labels: the split of the labels, made faster.
        by_class = None if regression else pd.Categorical(rows[target]).codes
        return train_test_split(rows, test_size=size, random_state=seed, stratify=by_class)

    sizes = data_cfg["split"]
    try:
        rest, test = cut(df, sizes["test_size"])
        train, val = cut(rest, sizes["val_size"])
    except ValueError as exc:
        raise PipelineError(
            f"cannot split {len(df)} rows with data.split {dict(sizes)}: {exc}; "
            "use more data or larger split sizes"
        ) from None
    return {"train": train, "val": val, "test": test}


def prepare(cfg: Config, paths: Paths, raw_path: Path | None = None) -> dict[str, Any]:
    data_cfg = cfg["data"]
    raw_path = raw_path or Path(data_cfg["raw_path"])
    check_unchanged(raw_path)
    from tqdm import tqdm  # not at the top: serving.py imports this module, and needs no tqdm

    # A progress bar on a terminal only (disable=None), so that CI logs stay readable.
    with tqdm(desc="prepare (read and clean, split, write)", total=3, disable=None) as bar:
        df, summary = clean(load_raw(raw_path, data_cfg), data_cfg)  # the raw table is freed
        bar.update()
        splits = split(df, data_cfg, cfg["seed"])
        bar.update()
        paths.processed.mkdir(parents=True, exist_ok=True)
        # pandas' category type: smaller files, read and featurized faster than text.
        categories = dict.fromkeys(data_cfg["categorical"], "category")
        for name, part in splits.items():
            part.astype(categories).to_parquet(paths.split(name), index=False)
        bar.update()
    summary["split_rows"] = {name: len(part) for name, part in splits.items()}
    paths.reports.mkdir(parents=True, exist_ok=True)
    (paths.reports / "cleaning.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    summary = prepare(load_params(), Paths())
    dropped = ", ".join(f"{n} {why}" for why, n in summary["rows_dropped"].items())
    print(f"prepare: {summary['rows_in']} rows in, {summary['rows_out']} kept ({dropped} dropped)")
    if summary["columns_ignored"]:
        print(f"prepare: ignored columns in no list: {', '.join(summary['columns_ignored'])}")


if __name__ == "__main__":
    run_cli(main)

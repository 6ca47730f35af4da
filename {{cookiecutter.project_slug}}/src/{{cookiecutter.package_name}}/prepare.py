"""Stage `prepare`: raw CSV -> validated, cleaned, de-duplicated, split tables.

Raw data is only read, never modified. Everything removed or changed is counted
in reports/cleaning.json so a reviewer can see what the cleaning did and why.
"""

from pathlib import Path
from typing import Any

import pandas as pd

from .config import Config, Paths, load_params
from .errors import PipelineError, run_cli

MIN_ROWS_PER_CLASS = 3  # one each for train, validation and test


def load_raw(path: Path, data_cfg: Config) -> pd.DataFrame:
    if not path.exists():
        raise PipelineError(
            f"raw data {path} not found: run `dvc pull` to fetch it "
            "(or fix data.raw_path in your conf/data file)"
        )
    try:
        # Everything as text first: types are checked against the config below.
        df = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=list(data_cfg.get("missing_values", [""])),
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path} is not a readable CSV file: {exc}") from None
    return df.rename(columns=data_cfg.get("rename") or {})


def feature_columns(data_cfg: Config) -> list[str]:
    return [*data_cfg["numeric"], *data_cfg["categorical"]]


def validate_schema(df: pd.DataFrame, data_cfg: Config, *, need_target: bool = True) -> None:
    """Fail early, naming the column, when the table does not match the data config."""
    expected = feature_columns(data_cfg) + ([data_cfg["target"]] if need_target else [])
    missing = [c for c in expected if c not in df.columns]
    if missing:
        raise PipelineError(
            f"column(s) {', '.join(map(repr, missing))} missing from the data "
            f"(found: {', '.join(map(repr, df.columns))}); fix the CSV or the data config "
            "(data.rename, data.numeric, data.categorical, data.target)"
        )
    empty = [c for c in expected if df[c].isna().all()]
    if empty:
        raise PipelineError(
            f"column(s) {', '.join(map(repr, empty))} hold no values at all: "
            "remove them from data.numeric / data.categorical"
        )


def to_numeric(df: pd.DataFrame, columns: list[str]) -> dict[str, int]:
    """Convert numeric columns in place; return how many unparseable cells became missing."""
    coerced = {}
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df[col].notna() & values.isna()
        if bad.sum() > 0.5 * df[col].notna().sum():
            example = df.loc[bad, col].iloc[0]
            raise PipelineError(
                f"column {col!r} is listed in data.numeric but holds text such as "
                f"{example!r}: move it to data.categorical or fix the values"
            )
        coerced[col] = int(bad.sum())
        df[col] = values.astype("float64")
    return coerced


def normalise_categories(
    df: pd.DataFrame, columns: list[str], synonyms: dict[str, dict[str, str]]
) -> dict[str, int]:
    """Trim, collapse spaces, lower-case, then map synonyms; return changed cells per column."""
    changed = {}
    for col in columns:
        raw = df[col]
        clean = raw.str.strip().str.replace(r"\s+", " ", regex=True).str.lower()
        mapping = {str(k).strip().lower(): v for k, v in (synonyms.get(col) or {}).items()}
        clean = clean.map(lambda v, m=mapping: m.get(v, v) if isinstance(v, str) else v)
        changed[col] = int((clean.fillna("\0") != raw.fillna("\0")).sum())
        df[col] = clean.astype(object)
    return changed


def outliers(df: pd.DataFrame, columns: list[str], k: float) -> dict[str, int]:
    """Count values beyond k inter-quartile ranges (reported, not removed: they may be real)."""
    counts = {}
    for col in columns:
        q1, q3 = df[col].quantile([0.25, 0.75])
        span = k * (q3 - q1)
        counts[col] = int(((df[col] < q1 - span) | (df[col] > q3 + span)).sum())
    return counts


def clean(
    df: pd.DataFrame, data_cfg: Config, *, need_target: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Validate and clean a raw table; return the clean table and what was done."""
    validate_schema(df, data_cfg, need_target=need_target)
    df = df.copy()
    target = data_cfg["target"]
    categorical = list(data_cfg["categorical"]) + ([target] if need_target else [])
    summary: dict[str, Any] = {"rows_in": len(df)}
    summary["unparseable_numbers"] = to_numeric(df, list(data_cfg["numeric"]))
    summary["categories_fixed"] = normalise_categories(
        df, categorical, data_cfg.get("synonyms") or {}
    )
    dropped = {}
    if need_target:
        dropped["missing_target"] = int(df[target].isna().sum())
        df = df[df[target].notna()]
    before = len(df)
    df = df.drop_duplicates()
    dropped["duplicates"] = before - len(df)
    summary["rows_dropped"] = dropped
    summary["columns_dropped"] = [c for c in data_cfg.get("drop", []) if c in df.columns]
    df = df[feature_columns(data_cfg) + ([target] if need_target else [])].reset_index(drop=True)
    summary["missing_values"] = {c: int(n) for c, n in df.isna().sum().items()}
    summary["outliers"] = outliers(df, list(data_cfg["numeric"]), data_cfg.get("outlier_iqr", 3.0))
    summary["rows_out"] = len(df)
    return df, summary


def split(df: pd.DataFrame, data_cfg: Config, seed: int) -> dict[str, pd.DataFrame]:
    """Stratified, seeded train/validation/test split."""
    from sklearn.model_selection import train_test_split

    target = data_cfg["target"]
    counts = df[target].value_counts()
    if len(counts) < 2:
        raise PipelineError(
            f"target {target!r} has a single class ({counts.index[0]!r}): "
            "a classifier needs at least two"
        )
    if counts.min() < MIN_ROWS_PER_CLASS:
        raise PipelineError(
            f"too little data to split: class {counts.idxmin()!r} of {target!r} has "
            f"{counts.min()} row(s), at least {MIN_ROWS_PER_CLASS} are needed (train/val/test)"
        )
    sizes = data_cfg["split"]
    try:
        rest, test = train_test_split(
            df, test_size=sizes["test_size"], random_state=seed, stratify=df[target]
        )
        train, val = train_test_split(
            rest, test_size=sizes["val_size"], random_state=seed, stratify=rest[target]
        )
    except ValueError as exc:
        raise PipelineError(
            f"cannot split {len(df)} rows with data.split {dict(sizes)}: {exc}; "
            "use more data or larger split sizes"
        ) from None
    return {"train": train, "val": val, "test": test}


def write_cleaning_report(summary: dict, splits: dict[str, pd.DataFrame], path: Path) -> None:
    import json

    summary = {**summary, "split_rows": {name: len(part) for name, part in splits.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")


def prepare(cfg: Config, raw_path: Path, out_dir: Path, report_path: Path) -> dict:
    data_cfg = cfg["data"]
    df, summary = clean(load_raw(raw_path, data_cfg), data_cfg)
    splits = split(df, data_cfg, cfg["seed"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in splits.items():
        part.to_csv(out_dir / f"{name}.csv", index=False)
    write_cleaning_report(summary, splits, report_path)
    return summary


def main() -> None:
    cfg = load_params()
    paths = Paths()
    summary = prepare(
        cfg, Path(cfg["data"]["raw_path"]), paths.processed, paths.reports / "cleaning.json"
    )
    dropped = ", ".join(f"{n} {why}" for why, n in summary["rows_dropped"].items())
    print(f"prepare: {summary['rows_in']} rows in, {summary['rows_out']} kept ({dropped} dropped)")


if __name__ == "__main__":
    run_cli(main)

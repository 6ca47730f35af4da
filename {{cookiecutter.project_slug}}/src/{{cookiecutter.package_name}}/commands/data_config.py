"""Write conf/data/<name>.yaml from your table: `make data-config CSV=data/raw/x.csv TARGET=col`.

Reads the file (its first 100,000 rows), guesses the separator and encoding, the task from the
target, and each column's role (numeric, categorical, or dropped: identifier, free text, date,
constant, empty), and writes a data config with the reason for every choice as a comment, for
you to review. Then tracks the file with `dvc add`.
"""

import argparse
import csv
import json
import re
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..config import CONF_DIR
from ..errors import PipelineError, run_cli

SAMPLE_ROWS = 100_000  # enough to see each column's kind of values, quick at any size
MISSING = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", ".", "?"]
CODES = 10  # whole numbers with at most this many values are codes or flags: categories
MAX_CATEGORIES = 50  # text with more distinct values is free text or an identifier
MAX_CLASSES = 20  # a numeric target with more distinct values is a regression
HEAD = """\
# Written by `make data-config` from {path} ({rows}). Each choice below is a
# guess, with its reason: review them, then try it once with `dvc exp run -S data={name}`,
# or make it the default in conf/config.yaml (then `make params`). See README.md.
name: {name}
raw_path: {raw_path}
sep: {sep}  # the column separator, guessed from the first lines
encoding: {encoding}  # the text encoding the file decodes with
target: {target}
task: {task}  # {task_why}
# With two classes, the one precision, recall and F1 are about; null = the rarer one.
positive_class: null
# Raw header -> snake_case name. Columns not listed keep their name.
"""
TAIL = """\
# Spellings that mean one category, per column ({column: {spelling: label}}); case and
# extra spaces are already ignored.
synonyms: {}
split:
  test_size: 0.2
  val_size: 0.2  # share of what remains after the test split
# A value this many inter-quartile ranges beyond the quartiles is reported as an outlier.
outlier_iqr: 3.0
"""
ID_NAME = re.compile(r"(^|_)(id|key|index|number|no|code|uuid)$")
PLAIN = re.compile(r"^[^\W\d][\w./-]*$")  # YAML reads these as text without quotes


def scalar(text: str) -> str:
    """`text` as a YAML value: quoted only when it has to be (spaces, "yes", "1", ...)."""
    keyword = text.lower() in ("true", "false", "yes", "no", "on", "off", "null", "y", "n")
    return text if PLAIN.match(text) and not keyword else json.dumps(text, ensure_ascii=False)


def sniff(path: Path) -> tuple[str, str]:
    """(separator, encoding) of a text table, from its first 64 kB."""
    with path.open("rb") as file:
        head = file.read(65536)
    head = head[: head.rfind(b"\n") + 1] or head  # no character cut in half
    for encoding in ("utf-8", "cp1252", "latin-1"):  # latin-1 decodes any byte
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    try:
        sep = csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","  # a single column, or too irregular to tell: the usual comma
    return sep, encoding


def read_sample(path: Path, sep: str, encoding: str) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path).head(SAMPLE_ROWS).astype("string")
        return pd.read_csv(
            path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False,
            na_values=MISSING, nrows=SAMPLE_ROWS,
        )  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path} is not a readable table: {exc}") from None


def snake_case(header: str) -> str:
    """ "Body Mass (g)" -> body_mass_g; "studyName" -> study_name."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip())
    name = re.sub(r"\W+", "_", name).strip("_").lower()
    return name if name and not name[0].isdigit() else f"column_{name}"


def examples(values: pd.Series, n: int = 4) -> str:
    shares = values.value_counts(normalize=True).head(n)
    more = ", ..." if values.nunique() > n else ""
    return ", ".join(f"{str(v)[:30]} {s:.0%}" for v, s in shares.items()) + more


def role(name: str, values: pd.Series) -> tuple[str, str]:
    """(numeric | categorical | drop, why) for one column (text, missing tokens as NaN)."""
    present = values.dropna()
    missing = (
        f", {1 - len(present) / len(values):.0%} missing" if present.size < values.size else ""
    )
    distinct = present.nunique()
    if distinct == 0:
        return "drop", "empty: no values at all"
    if distinct == 1:
        return "drop", f"constant: always {present.iloc[0]!r}, nothing to learn from"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().mean() >= 0.95:
        whole = bool((numbers.dropna() % 1 == 0).all())
        if whole and distinct > CODES and (ID_NAME.search(name) or distinct == len(present)):
            how = "unique on every row" if distinct == len(present) else "named like an id"
            return "drop", f"whole numbers {how}: an identifier, which may leak row order"
        if whole and distinct <= CODES:
            return "categorical", (
                f"whole numbers with {distinct} values ({examples(present)}): codes or flags, "
                f"so categories; move to numeric if their order means something{missing}"
            )
        return "numeric", f"numbers from {numbers.min():g} to {numbers.max():g}{missing}"
    sample = present.head(200)
    with warnings.catch_warnings(action="ignore"):  # pandas warns when it guesses formats
        dates = pd.to_datetime(sample, errors="coerce", format="mixed")
    if dates.notna().mean() >= 0.9 and sample.str.contains(r"\d").all():
        return "drop", "dates: add features such as the month or weekday yourself if they matter"
    if present.str.split().str.len().mean() > 3:
        return "drop", "free text (sentences): a model needs text features made from it first"
    if distinct > MAX_CATEGORIES:
        return "drop", f"text with {distinct} different values: an identifier or a name"
    return "categorical", f"text with {distinct} values ({examples(present)}){missing}"


def infer_task(values: pd.Series) -> tuple[str, str]:
    present = values.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().mean() >= 0.95 and present.nunique() > MAX_CLASSES:
        span = f"{numbers.min():g} to {numbers.max():g}"
        return (
            "regression",
            f"numbers from {span} with {present.nunique()} values: predict the number",
        )
    return "classification", f"{present.nunique()} classes: {examples(present)}"


def yaml_list(key: str, items: Sequence[tuple[str, str]]) -> str:
    """A YAML list, one item per line with its reason: `key:\n  - name  # why`."""
    if not items:
        return f"{key}: []\n"
    return f"{key}:\n" + "".join(f"  - {scalar(n)}  # {why}\n" for n, why in items)


def yaml_mapping(key: str, items: dict[str, str]) -> str:
    if not items:
        return key + ": {}\n"
    return f"{key}:\n" + "".join(f"  {scalar(k)}: {scalar(v)}\n" for k, v in items.items())


def render(name: str, path: Path, target: str, df: pd.DataFrame, sep: str, encoding: str) -> str:
    renames = {column: snake_case(column) for column in df.columns}
    if len(set(renames.values())) < len(renames):  # two headers give one name: keep them all
        renames = {column: column for column in df.columns}
    roles: dict[str, list[tuple[str, str]]] = {"numeric": [], "categorical": [], "drop": []}
    for column in df.columns.drop(target):
        kind, why = role(renames[column], df[column])
        roles[kind].append((renames[column], why))
    task, task_why = infer_task(df[target])
    rows = f"its first {len(df):,} rows" if len(df) == SAMPLE_ROWS else f"its {len(df):,} rows"
    text = HEAD.format(
        path=path, rows=rows, name=name, raw_path=scalar(path.as_posix()), sep=json.dumps(sep),
        encoding=encoding, target=scalar(renames[target]), task=task, task_why=task_why,
    )  # fmt: skip
    text += yaml_mapping("rename", {k: v for k, v in renames.items() if k != v})
    text += yaml_list("numeric", roles["numeric"]) + yaml_list("categorical", roles["categorical"])
    text += "# Not features: identifiers leak how rows were collected, free text and dates need\n"
    text += "# work before a model can use them, constants carry nothing.\n"
    text += yaml_list("drop", roles["drop"])
    text += f"missing_values: {json.dumps(MISSING)}  # tokens that mean a missing value\n"
    return text + TAIL


def write_data_config(
    path: Path, target: str, name: str | None = None, *, force: bool = False, conf: Path = CONF_DIR
) -> Path:
    """Write conf/data/<name>.yaml for the table at `path`; return where."""
    if not path.is_file():
        raise PipelineError(f"{path} not found: copy your table into data/raw/ first")
    sep, encoding = sniff(path) if path.suffix != ".parquet" else (",", "utf-8")
    df = read_sample(path, sep, encoding)
    if target not in df.columns:
        raise PipelineError(
            f"TARGET={target!r} is not a column of {path} (columns: {', '.join(df.columns)})"
        )
    name = name or snake_case(path.name.split(".")[0])
    output = conf / "data" / f"{name}.yaml"
    if output.exists() and not force:
        raise PipelineError(f"{output} exists: choose another NAME=, or FORCE=1 to overwrite it")
    output.write_text(render(name, path, target, df, sep, encoding), encoding="utf-8")
    return output


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the raw table, inside the project (data/raw/)")
    parser.add_argument("--target", required=True, help="the column to predict, as in the file")
    parser.add_argument("--name", help="the config's name (default: the file's)")
    parser.add_argument("--force", action="store_true", help="overwrite conf/data/<name>.yaml")
    args = parser.parse_args(argv)
    output = write_data_config(args.path, args.target, args.name, force=args.force)
    print(f"data-config: wrote {output}; review its comments")
    if Path(".dvc").is_dir():  # version the raw file, as `make setup` did the bundled one
        dvc = Path(sys.executable).with_name("dvc")
        subprocess.run([dvc, "add", "--quiet", args.path], check=True)
        print(f"data-config: tracked {args.path} with DVC ({args.path}.dvc)")
    files = f"{args.path}.dvc {args.path.parent}/.gitignore {output}"
    print(f"next: git add {files} && git commit -m 'Add {output.stem}'")
    print(f"      dvc exp run -S data={output.stem}")


if __name__ == "__main__":
    run_cli(main)

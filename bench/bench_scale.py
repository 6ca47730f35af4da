"""Real data at real size: the whole pipeline beside a plain scikit-learn script (issue 13).

Usage (what `make bench` runs, with the Python of a baked, set-up project):

    python bench/bench_scale.py --json OUT.json --project BAKED_PROJECT_DIR
    python bench/bench_scale.py --json OUT.json --project DIR --rows 20000 --models logreg

Nothing is changed in the project: the work happens in a temporary copy of it (its .git, .dvc
and data, without .venv), with its own MLflow store (mlflow.db, created before any timing).
For each --rows (default 250,000 and 1,000,000) a seeded synthetic table is generated (20
numeric and 5 categorical columns, some cells missing, 3 classes), written as CSV into the
copy's data/raw/, tracked with `dvc add`, and described by conf/data/synth_<rows>.yaml. Then,
for each --models (default logreg, random_forest, svm, mlp):
- the pipeline as users run it: params.yaml composed for `data=synth_<rows> model=<model>` (as
  `dvc exp run -S` does), then `dvc repro --force` (prepare, eda, featurize, train, evaluate
  with MLflow tracking);
- the plain script (PLAIN below): read the CSV, stratified train/validation/test split with the
  pipeline's sizes and seed, impute + scale + one-hot (a ColumnTransformer like featurize's), fit
  the estimator the pipeline fits at that size with the same settings (conf/model's large_data
  ones above their max_rows; for mlp the project's own MLPClassifier with
  conf/trainer/default.yaml, early-stopping on the validation split as train does: no
  scikit-learn class trains the same network), score on test.
Each is timed (wall clock) and its peak memory read: the largest resident set of any process
it started (getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh wrapper process; for the pipeline
that is its largest stage, beside which DVC's own process runs).

Written (1M = the largest --rows, 250k = the smallest): scale_<model>_<rows>_s and
scale_plain_<model>_<rows>_s (seconds); scale_vs_plain_<model> (pipeline / plain at 1M) and
scale_vs_plain (the worst; goal <= 2); scale_1m_max_s (slowest model at 1M; goal <= 300 s);
scale_1m_peak_gb (largest peak at 1M); scale_table_gb (the 1M table's memory as pandas reads
it, df.memory_usage(deep=True)); scale_peak_ratio (peak / table; goal <= 3); scale_growth (1M
time / 250k time, worst model; goal <= 5); scale_accuracy_gap (the largest difference between
the pipeline's and the plain script's test accuracy: the same rows, split and estimator, so 0).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_TIMEOUT_S = 5400  # run.py's limit for it (the default sizes: 18 minutes on 2 busy cores)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
MODELS = ["logreg", "random_forest", "svm", "mlp"]
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
SEED = 42  # conf/config.yaml's seed: the plain script splits and fits with it too

# Runs a command and writes the largest resident set (KiB on Linux) of what it started.
MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)

# The plain scikit-learn script: what a user would write by hand for the same work.
PLAIN = """
import sys, yaml, pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

csv, model, package, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
df = pd.read_csv(csv)
y = df.pop("label")
split = dict(test_size=0.2, random_state=seed)  # data.split's sizes, the pipeline's seed
x_rest, x_test, y_rest, y_test = train_test_split(df, y, stratify=y, **split)
x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, stratify=y_rest, **split)
numeric = [c for c in df.columns if c.startswith("num_")]
categorical = [c for c in df.columns if c.startswith("cat_")]
featurizer = ColumnTransformer([
    ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(
        handle_unknown="ignore", sparse_output=False, dtype="float32")), categorical)])
x_train = featurizer.fit_transform(x_train)
fit_params = {}
if model == "logreg":
    estimator = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
elif model == "random_forest":
    estimator = RandomForestClassifier(
        n_estimators=200, max_depth=6, min_samples_leaf=2, n_jobs=-1, random_state=seed,
        max_samples=100000 if len(x_train) > 100000 else None)  # conf/model's large_data
elif model == "svm" and len(x_train) <= 20000:  # conf/model/svm.yaml: the exact kernel SVM
    estimator = CalibratedClassifierCV(SVC(C=1.0, kernel="rbf", gamma="scale", random_state=seed),
        ensemble=False)
elif model == "svm":  # its large_data version, above 20,000 training rows
    estimator = make_pipeline(Nystroem(n_components=100, random_state=seed), SGDClassifier(
        loss="modified_huber", alpha=0.0001, random_state=seed))
else:  # the project's PyTorch MLP: no scikit-learn estimator trains the same network
    MLPClassifier = __import__(f"{package}.models.mlp", fromlist=["MLPClassifier"]).MLPClassifier
    trainer = yaml.safe_load(open("conf/trainer/default.yaml"))
    if len(x_train) > 100000:  # conf/model's large_data
        trainer["batch_size"] = 1024
    estimator = MLPClassifier(hidden_sizes=[64, 32], dropout=0.1, trainer=trainer,
                              random_state=seed)
    fit_params["eval_set"] = (featurizer.transform(x_val), y_val)
estimator.fit(x_train, y_train, **fit_params)
accuracy = estimator.score(featurizer.transform(x_test), y_test)
print(f"{type(estimator).__name__} accuracy {accuracy}")
"""


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """A seeded table: 20 numbers, 5 categories (3 to 11 levels), 2% of every feature missing,
    and 3 classes from a noisy, partly non-linear function of some of them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NUMERIC)))
    codes = rng.integers(0, [3, 5, 7, 9, 11], size=(rows, len(CATEGORICAL)))
    score = x[:, :3] @ np.array([[1.0, -0.5, 0.3], [0.2, 1.0, -0.7], [-0.4, 0.3, 1.0]])
    score[:, 0] += np.sin(2 * x[:, 3]) + 0.5 * (codes[:, 0] == 1)
    score[:, 1] += 0.5 * x[:, 4] * x[:, 5] + 0.3 * (codes[:, 1] % 2)
    score += rng.normal(size=score.shape)
    df = pd.DataFrame(np.round(10 * x + 50, 3), columns=NUMERIC)
    for i, name in enumerate(CATEGORICAL):
        df[name] = np.array([f"{i}{chr(97 + k)}" for k in range(11)])[codes[:, i]]
    for name in NUMERIC + CATEGORICAL:
        df.loc[rng.random(rows) < 0.02, name] = np.nan
    df["label"] = np.array(["red", "green", "blue"])[score.argmax(axis=1)]
    return df


def data_config(name: str) -> str:
    return "\n".join(
        [
            f"# Synthetic benchmark data (bench/bench_scale.py): {name}",
            f"name: {name}",
            f"raw_path: data/raw/{name}.csv",
            "target: label",
            "task: classification",
            "positive_class: null",
            f"numeric: [{', '.join(NUMERIC)}]",
            f"categorical: [{', '.join(CATEGORICAL)}]",
            "drop: []",
            'missing_values: [""]',
            "split:",
            "  test_size: 0.2",
            "  val_size: 0.2",
            "outlier_iqr: 3.0",
            "",
        ]
    )


def copy_project(project: Path, dst: Path) -> Path:
    ignore = shutil.ignore_patterns(  # what the project's .gitignore leaves out, and its store
        ".venv", "__pycache__", "*.egg-info", "*_cache", "mlflow.db*", "mlartifacts", "mlruns",
        "outputs", "multirun", ".scratch", "checkpoints",
    )  # fmt: skip
    shutil.copytree(project, dst, ignore=ignore, symlinks=True)
    if not (dst / ".dvc").exists():
        sys.exit(f"bench: {project} has no .dvc folder: run `make setup` in it first")
    return dst


def run(cmd: list, cwd: Path, env: dict) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        sys.exit(f"bench: `{' '.join(map(str, cmd))}` failed:\n{output}")
    return result.stdout


def measured(cmd: list, cwd: Path, env: dict) -> tuple[float, float, str]:
    """(seconds, peak GB of the largest process it started, stdout) of a command."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        started = time.perf_counter()
        out = run([sys.executable, "-c", MEASURE, peak_file, *cmd], cwd, env)
        seconds = time.perf_counter() - started
        return seconds, int(peak_file.read_text()) * 1024 / 1e9, out


def add_data(work: Path, env: dict, rows: int) -> tuple[str, Path, float]:
    """Generate the table into data/raw/ with its data config, as a user adds their own CSV;
    return the data config's name, the file and the table's size in memory (GB)."""
    name, started = f"synth_{rows}", time.perf_counter()
    raw = work / "data" / "raw" / f"{name}.csv"
    synthetic(rows).to_csv(raw, index=False)
    (work / "conf" / "data" / f"{name}.yaml").write_text(data_config(name))
    run([sys.executable, "-m", "dvc", "add", "-q", raw], work, env)
    tracked = [raw.with_name(f"{raw.name}.dvc"), raw.with_name(".gitignore")]
    run(["git", "add", *tracked, f"conf/data/{name}.yaml"], work, env)
    run(["git", "commit", "-qm", f"bench: {name}", "--no-verify"], work, env)
    table_gb = pd.read_csv(raw).memory_usage(deep=True).sum() / 1e9
    print(
        f"scale: {rows:,} rows, {raw.stat().st_size / 1e6:.0f} MB of CSV, {table_gb:.3f} GB "
        f"as pandas reads it (made in {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return name, raw, table_gb


def compare(work: Path, env: dict, package: str, data: str, raw: Path, model: str) -> dict:
    """The pipeline, then the plain script, for one model on one table."""
    python = sys.executable
    run([python, "-m", f"{package}.config", "sync", f"data={data}", f"model={model}"], work, env)
    seconds, peak, _ = measured([python, "-m", "dvc", "repro", "--force"], work, env)
    fitted = json.loads((work / "reports" / "train.json").read_text())["estimator"]
    accuracy = json.loads((work / "reports" / "metrics.json").read_text())["accuracy"]
    plain = work.parent / "plain.py"
    plain.write_text(PLAIN)
    cmd = [python, plain, raw, model, package, str(SEED)]
    plain_seconds, plain_peak, out = measured(cmd, work, env)
    plain_class, _, plain_accuracy = out.split()[-3:]
    print(
        f"scale: {model} on {data}: pipeline {seconds:.1f} s, peak {peak:.2f} GB, {fitted}, "
        f"accuracy {accuracy:.4f}; plain {plain_seconds:.1f} s, peak {plain_peak:.2f} GB, "
        f"{plain_class}, accuracy {float(plain_accuracy):.4f}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    return {
        "seconds": seconds,
        "peak": peak,
        "plain": plain_seconds,
        "gap": abs(accuracy - float(plain_accuracy)),
    }


def summary(found: dict, table_gb: float, models: list[str]) -> dict[str, float]:
    """The flat result: found[model, rows] holds compare()'s numbers."""
    sizes = sorted({rows for _, rows in found})
    big, small = sizes[-1], sizes[0]
    results: dict[str, float] = {}
    for (model, rows), one in sorted(found.items()):
        results[f"scale_{model}_{rows}_s"] = round(one["seconds"], 1)
        results[f"scale_plain_{model}_{rows}_s"] = round(one["plain"], 1)
    ratios = {m: found[m, big]["seconds"] / found[m, big]["plain"] for m in models}
    results |= {f"scale_vs_plain_{m}": round(r, 2) for m, r in ratios.items()}
    results["scale_vs_plain"] = round(max(ratios.values()), 2)
    results["scale_1m_max_s"] = round(max(found[m, big]["seconds"] for m in models), 1)
    peak = max(found[m, big]["peak"] for m in models)
    results["scale_1m_peak_gb"] = round(peak, 3)
    results["scale_table_gb"] = round(table_gb, 3)
    results["scale_peak_ratio"] = round(peak / table_gb, 2)
    if big != small:
        growth = max(found[m, big]["seconds"] / found[m, small]["seconds"] for m in models)
        results["scale_growth"] = round(growth, 2)
    results["scale_accuracy_gap"] = round(max(one["gap"] for one in found.values()), 6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--project", type=Path, required=True, help="a baked, set-up project")
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "PYTHONPATH")}
        env.pop("MLFLOW_TRACKING_URI", None)  # the project's own store, as users have it
        env |= GIT_IDENTITY | {"DVC_NO_ANALYTICS": "1"}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
        work = copy_project(args.project.resolve(), Path(tmp) / "work")
        package = next(p.parent.name for p in (work / "src").glob("*/__init__.py"))
        env["PYTHONPATH"] = str(work / "src")
        store = f"from {package}.tracking import client; client().search_experiments()"
        run([sys.executable, "-c", store], work, env)  # the MLflow store, created untimed
        found = {}
        for rows in sorted(set(args.rows)):
            data, raw, table_gb = add_data(work, env, rows)
            for model in args.models:
                found[model, rows] = compare(work, env, package, data, raw, model)
            raw.unlink()  # DVC's cache keeps it; this frees the page cache for the next size

    results = summary(found, table_gb, args.models)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

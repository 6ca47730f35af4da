"""What MLflow tracking costs on a realistic training: the MLP on 200,000 rows (issue 11).

Usage (what `make bench` runs, with the Python of a baked, set-up project):

    python bench/bench_tracking.py --json OUT.json [--project BAKED_PROJECT_DIR]
                                   [--rows 200000] [--epochs 7] [--rounds 3]

--project is a baked project (the folder holding pyproject.toml and src/<package>/); the stages
run with this interpreter, so give it the project's own .venv Python. Without --project the
template this file sits in is baked with its default answers into a temporary folder
(cookiecutter must then be importable). Nothing is written into the project: the work happens
in a temporary copy (conf/, src/, dvc.yaml; a git repository, so that the run's git tags are
read as in a real project), against a temporary SQLite MLflow store created before any timing.

The workload: a seeded synthetic table of --rows rows (20 numeric columns, 3 categorical ones,
1% of the cells missing, 3 classes), described by a data config written into the copy's
conf/data/synthetic.yaml; `prepare` and `featurize` run once (untimed) and split it 64/16/20.
The model is `model=mlp` with the project's default trainer settings, except that it trains
exactly --epochs epochs (`trainer.patience=null`, so every round does the same work) and that
cross-validation is off (`evaluate.cv_folds=0`: it would train the MLP five more times and
measure CV, not tracking). The default --epochs is chosen so that training takes 20 s or
more on a quiet 2-core machine (about 4 s an epoch there: 128,000 rows, batches of 32, one
thread); the bench says so when it took less.

Measured: the wall time of the pipeline's train and evaluate stages, run as dvc.yaml runs them
(`python -m <package>.train`, then `python -m <package>.evaluate`, fresh interpreters), tracked
(the default) and untracked (<PACKAGE>_TRACKING=0). Tracking happens in the evaluate process
once the metrics are written: one MLflow run with params, tags, the per-epoch curves, metrics,
the reports and the model. The two alternate in --rounds rounds (tracked first in the first
round, untracked first in the second, and so on), after an untimed warm-up (a 1-epoch train and
a tracked evaluate: file caches, the experiment's creation).
Written:
- tracking_overhead: the median over rounds of tracked / untracked train+evaluate (goal <= 1.05);
- tracking_tracked_s, tracking_untracked_s: the medians of train+evaluate;
- tracking_train_s: the median training time, as the train stage reports it in reports/train.json
  (reading the splits, featurizing, fitting; all runs; the workload asks for >= 20 s);
- tracking_cost_s: the median over rounds of tracked - untracked evaluate (what logging adds);
- mlflow_import_s: the median time to `import mlflow` in a fresh interpreter (part of that cost).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

NUMERIC, CATEGORIES = 20, {"region": 6, "channel": 3, "segment": 10}
CLASSES = ["alpha", "beta", "gamma"]
MIN_TRAIN_S, GOAL = 20.0, 1.05


def find_project(args, tmp: Path) -> Path:
    if args.project:
        return Path(args.project).resolve()
    from cookiecutter.main import cookiecutter

    template = Path(__file__).resolve().parent.parent
    return Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp), accept_hooks=False))


def synthetic_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """Numbers on different scales and categories that both carry the label, plus noise."""
    rng = np.random.default_rng(seed)
    scale, shift = rng.uniform(0.1, 100, NUMERIC), rng.normal(0, 50, NUMERIC)
    x = rng.normal(size=(rows, NUMERIC)) * scale + shift
    z = (x - x.mean(0)) / x.std(0)
    logits = np.tanh(z) @ rng.normal(size=(NUMERIC, len(CLASSES))) + rng.gumbel(size=(rows, 3))
    table = {f"x{i:02d}": x[:, i] for i in range(NUMERIC)}
    for name, levels in CATEGORIES.items():
        codes = rng.integers(0, levels, rows)
        logits += rng.normal(size=(levels, len(CLASSES)))[codes]
        table[name] = np.array([f"{name}_{i}" for i in range(levels)], dtype=object)[codes]
    df = pd.DataFrame(table)
    df = df.mask(rng.random(df.shape) < 0.01)  # missing cells, for the imputers
    df["label"] = np.array(CLASSES, dtype=object)[logits.argmax(1)]
    return df


def data_config(raw_path: str, base: dict) -> dict:
    """The synthetic table's data config, on top of the bundled one (keys this bench does not
    know keep their values there)."""
    return {
        **base,
        "name": "synthetic",
        "raw_path": raw_path,
        "target": "label",
        "task": "classification",
        "positive_class": None,
        "rename": {},
        "numeric": [f"x{i:02d}" for i in range(NUMERIC)],
        "categorical": list(CATEGORIES),
        "drop": [],
        "missing_values": [""],
        "synonyms": {},
        "split": {"test_size": 0.2, "val_size": 0.2},
    }


def copy_project(project: Path, dst: Path, rows: int) -> None:
    """conf/ (plus the synthetic data's config), src/, dvc.yaml and the data, in a git repo."""
    dst.mkdir(parents=True)
    for folder in ("conf", "src"):
        caches = shutil.ignore_patterns("__pycache__", "*.egg-info", "*_cache")
        shutil.copytree(project / folder, dst / folder, ignore=caches)
    shutil.copy(project / "dvc.yaml", dst / "dvc.yaml")
    raw = Path("data/raw/synthetic.parquet")
    (dst / raw.parent).mkdir(parents=True)
    synthetic_table(rows).to_parquet(dst / raw, index=False)
    bundled = dst / "conf" / "data" / "penguins.yaml"
    base = yaml.safe_load(bundled.read_text(encoding="utf-8")) if bundled.exists() else {}
    config = yaml.safe_dump(data_config(str(raw), base), sort_keys=False)
    (dst / "conf" / "data" / "synthetic.yaml").write_text(config, encoding="utf-8")
    (dst / ".gitignore").write_text("mlflow.db*\nmlartifacts/\nmlruns/\ndata/\nmodels/\nreports/\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    for step in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        subprocess.run(step, cwd=dst, env=env, check=True, capture_output=True)


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"bench: `{' '.join(cmd)}` failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--project", help="a baked project folder (default: bake one)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the synthetic table")
    parser.add_argument("--epochs", type=int, default=7, help="epochs the MLP trains")
    parser.add_argument("--rounds", type=int, default=3, help="tracked/untracked pairs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        tmp = Path(tmp)
        source = find_project(args, tmp / "baked")
        package = next(p.parent.name for p in (source / "src").glob("*/__init__.py"))
        work = tmp / "work"
        copy_project(source, work, args.rows)
        env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "PYTHONPATH")}
        env.update(
            {
                "PYTHONPATH": str(work / "src"),
                "MLFLOW_TRACKING_URI": f"sqlite:///{(tmp / 'mlflow.db').as_posix()}",
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]),
            }
        )
        py = sys.executable
        switch = f"{package.upper()}_TRACKING"
        tracked_env, untracked_env = {**env, switch: "1"}, {**env, switch: "0"}
        overrides = ["data=synthetic", "model=mlp", "evaluate.cv_folds=0", "trainer.patience=null"]

        def sync(epochs: int) -> None:  # params.yaml, as `dvc exp run -S ...` would write it
            extra = [f"trainer.max_epochs={epochs}"]
            timed([py, "-m", f"{package}.config", "sync", *overrides, *extra], work, env)

        sync(1)
        for stage in ("prepare", "featurize"):
            timed([py, "-m", f"{package}.{stage}"], work, env)
        split_rows = json.loads((work / "reports" / "cleaning.json").read_text())["split_rows"]
        timed([py, "-c", f"from {package}.tracking import client; client().search_experiments()"],
              work, env)  # fmt: skip
        imports = [timed([py, "-c", "import mlflow"], work, env) for _ in range(3)]
        # Warm-up, untimed: a 1-epoch model, then a tracked evaluate (creates the experiment).
        timed([py, "-m", f"{package}.train"], work, env)
        timed([py, "-m", f"{package}.evaluate"], work, tracked_env)
        sync(args.epochs)

        load = [os.getloadavg()[0]]
        runs: dict[str, list[tuple[float, float]]] = {"tracked": [], "untracked": []}
        fit_s = []
        for round_ in range(args.rounds):
            order = [("tracked", tracked_env), ("untracked", untracked_env)]
            for name, run_env in order[:: -1 if round_ % 2 else 1]:
                train = timed([py, "-m", f"{package}.train"], work, run_env)
                fit = json.loads((work / "reports" / "train.json").read_text())
                fit_s.append(fit["seconds"])
                evaluate = timed([py, "-m", f"{package}.evaluate"], work, run_env)
                runs[name].append((train, evaluate))
        load.append(os.getloadavg()[0])

    total = {name: [t + e for t, e in pairs] for name, pairs in runs.items()}
    ratios = [t / u for t, u in zip(total["tracked"], total["untracked"], strict=True)]
    pairs = list(zip(runs["tracked"], runs["untracked"], strict=True))
    results = {
        "tracking_overhead": round(statistics.median(ratios), 3),
        "tracking_tracked_s": round(statistics.median(total["tracked"]), 2),
        "tracking_untracked_s": round(statistics.median(total["untracked"]), 2),
        "tracking_train_s": round(statistics.median(fit_s), 2),
        "tracking_cost_s": round(statistics.median(t[1] - u[1] for t, u in pairs), 2),
        "mlflow_import_s": round(statistics.median(imports), 2),
    }
    shown = {n: [f"{t:.1f}+{e:.1f}" for t, e in r] for n, r in runs.items()}
    print(
        f"tracking: MLP ({fit.get('epochs_run')} epochs, {fit.get('device')}) on "
        f"{args.rows} synthetic rows (split {split_rows}), CV off; train+evaluate seconds "
        f"tracked {shown['tracked']}, untracked {shown['untracked']}; per-round ratios "
        f"{[round(r, 3) for r in ratios]}; "
        f"`import mlflow` {results['mlflow_import_s']} s; load average "
        f"{load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} cores"
    )
    if results["tracking_train_s"] < MIN_TRAIN_S:
        print(f"tracking: training took under {MIN_TRAIN_S:.0f} s: raise --epochs or --rows")
    verdict = "ok" if results["tracking_overhead"] <= GOAL else "ABOVE GOAL"
    print(f"tracking_overhead = {results['tracking_overhead']} (goal <= {GOAL}): {verdict}")
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

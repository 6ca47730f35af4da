"""Pipeline speed of the generated project: full, no-op and model-only `dvc repro`.

Usage (what `make bench` runs, with the Python of a baked, set-up project):

    python bench/bench_repro.py --json OUT.json [--project BAKED_PROJECT_DIR] [--repeats 3]

--project is a baked project that went through `make setup` (git and DVC started, raw data
tracked by DVC); run this with its .venv Python, which the pipeline's stages then use. Without
--project the template is baked with its default answers into a temporary folder and git + DVC
are started there (cookiecutter and dvc must then be importable). Nothing is changed in the
project: the work happens in a temporary copy of it (its .git, .dvc and data, without .venv),
tracked into a temporary SQLite MLflow store created before any timing.

Measured, on the bundled penguins data with the default config (conf/config.yaml: its data
config, model logreg), tracked as by default, in --repeats rounds (after one warm-up run), each
round:
- a full run: `dvc repro --force` (all five stages: prepare -> data/processed/*.parquet, eda,
  featurize -> models/featurizer.joblib, train -> models/model.joblib, evaluate -> reports/ and
  one MLflow run);
- a model change: params.yaml rewritten for `model=svm` (`python -m <package>.config sync
  model=svm`, what `dvc exp run -S model=svm` composes), then `dvc repro --no-run-cache`; it
  must re-run exactly train and evaluate (without the flag DVC would restore svm's outputs
  from its run cache from the second round on);
- back to the default config, untimed, again with `--no-run-cache`;
- a no-op: `dvc repro` with nothing changed (DVC checks hashes and runs nothing).
Written: repro_full_s (goal <= 15 s on a quiet machine), repro_model_change_s and repro_noop_s
(medians), repro_model_change_ratio (the median of the rounds' change/full ratios, goal <= 0.6),
repro_full_untracked_s (one full run with <PACKAGE>_TRACKING=0, for comparison) and
repro_metrics_identical (1 when reports/metrics.json is byte-identical across the forced runs,
tracked and untracked alike, else 0).
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

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def find_project(args, tmp: Path) -> Path:
    if args.project:
        return Path(args.project).resolve()
    from cookiecutter.main import cookiecutter

    template = Path(__file__).resolve().parent.parent
    return Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp)))


def copy_project(project: Path, dst: Path, env: dict) -> Path:
    ignore = shutil.ignore_patterns(  # what the project's .gitignore leaves out, and its store
        ".venv", "__pycache__", "*.egg-info", "*_cache", "mlflow.db*", "mlartifacts", "mlruns",
        "outputs", "multirun", ".scratch", "checkpoints",
    )  # fmt: skip
    shutil.copytree(project, dst, ignore=ignore, symlinks=True)
    if not (dst / ".dvc").exists():  # baked without the hooks' git/DVC (no identity, no dvc)
        for step in (
            ["git", "init", "-q"],
            [sys.executable, "-m", "dvc", "init", "-q"],
            [sys.executable, "-m", "dvc", "add", "-q", "data/raw/penguins-raw.csv"],
            ["git", "add", "-A"],
            ["git", "commit", "-qm", "bench", "--no-verify"],
        ):
            subprocess.run(step, cwd=dst, env=env, check=True, capture_output=True)
    return dst


def run(cmd: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"bench: `{' '.join(cmd)}` failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return seconds, result.stdout


def stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


STAGES = ["prepare", "eda", "featurize", "train", "evaluate"]
OUTPUTS = [
    *(f"data/processed/{split}.parquet" for split in ("train", "val", "test")),
    "models/featurizer.joblib",
    "models/model.joblib",
    "reports/metrics.json",
    "reports/train_history.csv",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--project", help="a baked, set-up project folder (default: bake one)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (full run, model change)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-repro-") as tmp:
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "PYTHONPATH")}
        env.update(GIT_IDENTITY)
        env.update(
            {
                "DVC_NO_ANALYTICS": "1",
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]),
            }
        )
        source = find_project(args, tmp / "baked")
        work = copy_project(source, tmp / "work", env)
        package = next(p.parent.name for p in (work / "src").glob("*/__init__.py"))
        env.update(
            {
                "PYTHONPATH": str(work / "src"),
                "MLFLOW_TRACKING_URI": f"sqlite:///{(tmp / 'store' / 'mlflow.db').as_posix()}",
            }
        )
        switch = f"{package.upper()}_TRACKING"
        dvc = [sys.executable, "-m", "dvc"]
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from {package}.tracking import client; client().search_experiments()",
            ],
            cwd=work,
            env=env,
            check=True,
        )

        def set_model(overrides: list[str]) -> None:  # params.yaml from conf/, as `-S` does
            run([sys.executable, "-m", f"{package}.config", "sync", *overrides], work, env)

        set_model([])  # the default config, whatever the project's params.yaml held
        full, change, noop, metrics, changed = [], [], [], set(), []
        run([*dvc, "repro"], work, env)  # warm-up: file caches, the experiment's creation
        for _ in range(args.repeats):
            seconds, out = run([*dvc, "repro", "--force"], work, env)
            if sorted(stages(out)) != sorted(STAGES):
                sys.exit(f"bench: the full run ran {stages(out)}, not {STAGES}:\n{out}")
            missing = [o for o in OUTPUTS if not (work / o).exists()]
            if missing:
                sys.exit(f"bench: the full run did not write {missing}")
            full.append(seconds)
            metrics.add((work / "reports" / "metrics.json").read_bytes())
            set_model(["model=svm"])
            seconds, out = run([*dvc, "repro", "--no-run-cache"], work, env)
            change.append(seconds)
            changed = stages(out)
            if changed != ["train", "evaluate"]:
                sys.exit(f"bench: model=svm re-ran {changed}, not only train and evaluate")
            set_model([])
            run([*dvc, "repro", "--no-run-cache"], work, env)
            seconds, out = run([*dvc, "repro"], work, env)
            if stages(out):
                sys.exit(f"bench: `dvc repro` with nothing changed ran {stages(out)}")
            noop.append(seconds)
        untracked, _ = run([*dvc, "repro", "--force"], work, {**env, switch: "0"})
        metrics.add((work / "reports" / "metrics.json").read_bytes())

    results = {
        "repro_full_s": round(statistics.median(full), 2),
        "repro_model_change_s": round(statistics.median(change), 2),
        "repro_model_change_ratio": round(
            statistics.median(c / f for c, f in zip(change, full, strict=True)), 3
        ),
        "repro_noop_s": round(statistics.median(noop), 2),
        "repro_full_untracked_s": round(untracked, 2),
        "repro_metrics_identical": 1 if len(metrics) == 1 else 0,
    }
    print(
        f"repro: full (tracked) {[round(s, 2) for s in full]} s, model=svm "
        f"{[round(s, 2) for s in change]} s re-running {changed}, no-op "
        f"{[round(s, 2) for s in noop]} s, "
        f"full untracked {untracked:.2f} s; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Tracking cost and sweep speed-up of the generated project (issue 4).

Usage (what `make bench` runs, with the Python of a baked, set-up project):

    python bench/bench_tracking.py --json OUT.json [--project BAKED_PROJECT_DIR]
                                   [--repeats 5] [--sweep-repeats 3] [--skip-sweep]

--project is a baked project (the folder holding pyproject.toml and src/<package>/); the
commands run with this interpreter (`python -m <package>.train`, `... .sweep`), so give it the
project's own .venv Python. Without --project the template this file sits in is baked with its
default answers into a temporary folder (cookiecutter must then be importable). Nothing is
written into the project: the work happens in a temporary copy, against a temporary SQLite
MLflow store that is created before any timing (creating a new store costs a few seconds once
per project; that is not counted).

Measured:
- tracking_overhead: wall time of the train stage for the PyTorch MLP (`python -m
  <package>.train` in a fresh interpreter: imports, training on the bundled penguins data with
  the project's default trainer settings, saving), tracked over untracked (<PACKAGE>_TRACKING=0).
  Tracked, the stage starts the pipeline run's logger process, which imports mlflow, opens
  the store and writes the run's params and tags while the stage trains; the stage streams
  the per-epoch curves to it and, once the model is saved, hands it over and exits. The
  logger then logs the model while evaluate computes (evaluate waits for the last writes:
  that wait is in bench_repro's numbers, not here). After each timed train, evaluate runs
  (untimed, tracked like train was) so that every pipeline run is complete and no logger is
  still working when the next round starts. Median of the per-round ratios of interleaved
  (tracked, untracked) pairs, after one warm-up pair.
- sweep_parallel_ratio: wall time of `python -m <package>.sweep` over the four models on 2
  joblib workers, over the same sweep with --jobs 1 (Hydra's basic launcher, one after the
  other in one process), both tracked. Best of --sweep-repeats rounds each. A time ends when
  the command's output closes, i.e. when every process it started has ended (on Linux the
  parallel sweep's workers are forks of a forkserver that outlives the sweep's process by a
  fraction of a second); the CPU times count those processes too.
Also written: the medians (train_untracked_s, train_tracked_s), mlflow_import_s, and the
sweep times (sweep_parallel_s, sweep_sequential_s).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def find_project(args, tmp: Path) -> Path:
    if args.project:
        return Path(args.project).resolve()
    from cookiecutter.main import cookiecutter

    template = Path(__file__).resolve().parent.parent
    return Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp), accept_hooks=False))


def copy_project(project: Path, dst: Path) -> Path:
    """conf/, src/, dvc.yaml, params.yaml and the raw data, in a git repository."""
    dst.mkdir(parents=True)
    for folder in ("conf", "src"):
        shutil.copytree(
            project / folder,
            dst / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        )
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(project / name, dst / name)
    (dst / "data" / "raw").mkdir(parents=True)
    for raw in (project / "data" / "raw").glob("*.csv"):
        shutil.copy(raw, dst / "data" / "raw" / raw.name)
    (dst / ".gitignore").write_text(
        "mlflow.db*\nmlartifacts/\n.scratch/\ndata/\nmodels/\nreports/\n"
    )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    for step in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        subprocess.run(step, cwd=dst, env=env, check=False, capture_output=True)
    return dst


CPU: list[float] = []  # CPU seconds (user + system) of each timed command and its children


def adopt_orphans() -> None:
    """Become the parent of this process's orphaned descendants (Linux), so that their CPU
    time is counted too: a parallel sweep's forkserver, and the workers it forked, outlive
    the sweep's own process by a fraction of a second."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_orphans() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def timed(cmd: list[str], cwd: Path, env: dict, *, reap: bool = False) -> float:
    """Wall time of `cmd`; its CPU time goes to CPU (with its orphans' when `reap`: not for
    a tracked train, whose MLflow logger outlives it by design and waits for evaluate)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if reap:
        reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        sys.exit(
            f"bench: `{' '.join(cmd)}` failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--project", help="a baked project folder (default: bake one)")
    parser.add_argument("--repeats", type=int, default=5, help="tracked/untracked pairs")
    parser.add_argument("--sweep-repeats", type=int, default=3, help="rounds of each sweep")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    adopt_orphans()

    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        tmp = Path(tmp)
        source = find_project(args, tmp / "baked")
        package = next(p.parent.name for p in (source / "src").glob("*/__init__.py"))
        work = copy_project(source, tmp / "work")
        store = f"sqlite:///{(tmp / 'store' / 'mlflow.db').as_posix()}"
        env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "PYTHONPATH")}
        env.update(
            {
                "PYTHONPATH": str(work / "src"),
                "MLFLOW_TRACKING_URI": store,
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]),
                "DVC_NO_ANALYTICS": "1",
            }
        )
        switch = f"{package.upper()}_TRACKING"
        py = sys.executable
        # The MLP config, the data it trains on, and the (untimed) creation of the store.
        code = (
            f"from {package}.config import compose, write_params; "
            f"cfg = compose(['model=mlp']); write_params(cfg)"
        )
        subprocess.run([py, "-c", code], cwd=work, env=env, check=True)
        for stage in ("prepare", "features"):
            timed([py, "-m", f"{package}.{stage}"], work, env)
        subprocess.run(
            [py, "-c", f"from {package}.tracking import client; client().search_experiments()"],
            cwd=work,
            env=env,
            check=True,
        )
        imports = [timed([py, "-c", "import mlflow"], work, env) for _ in range(3)]

        train = [py, "-m", f"{package}.train"]
        evaluate = [py, "-m", f"{package}.evaluate"]
        tracked_env, untracked_env = {**env, switch: "1"}, {**env, switch: "0"}

        def train_stage(run_env: dict) -> float:
            """Wall time of train; then evaluate (untimed) completes the pipeline run."""
            seconds = timed(train, work, run_env)
            subprocess.run(evaluate, cwd=work, env=run_env, capture_output=True, check=True)
            return seconds

        train_stage(tracked_env)  # warm-up: file caches, the experiment's creation
        train_stage(untracked_env)
        load = [os.getloadavg()[0]]
        tracked, untracked, ratios, cpu = [], [], [], {"tracked": [], "untracked": []}
        for round_ in range(args.repeats):
            pair = [("tracked", tracked_env), ("untracked", untracked_env)]
            if round_ % 2:
                pair.reverse()
            seconds = {}
            for name, run_env in pair:
                seconds[name] = train_stage(run_env)
                cpu[name].append(CPU[-1])
            tracked.append(seconds["tracked"])
            untracked.append(seconds["untracked"])
            ratios.append(seconds["tracked"] / seconds["untracked"])
        load.append(os.getloadavg()[0])
        results = {
            "tracking_overhead": round(statistics.median(ratios), 3),
            "train_untracked_s": round(statistics.median(untracked), 2),
            "train_tracked_s": round(statistics.median(tracked), 2),
            "train_untracked_cpu_s": round(statistics.median(cpu["untracked"]), 2),
            "train_tracked_cpu_s": round(statistics.median(cpu["tracked"]), 2),
            "mlflow_import_s": round(statistics.median(imports), 2),
        }
        print(
            f"tracking: train stage of the MLP ({package}.train in a fresh interpreter, "
            f"bundled data, default trainer settings): untracked "
            f"{[round(s, 2) for s in untracked]} s, tracked {[round(s, 2) for s in tracked]} s;"
            f" per-pair ratios {[round(r, 3) for r in ratios]}; CPU of the train process"
            f" (not of the logger, which outlives it) untracked "
            f"{results['train_untracked_cpu_s']} s, tracked {results['train_tracked_cpu_s']} s;"
            f" `import mlflow` alone {results['mlflow_import_s']} s; load average "
            f"{load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} cores"
        )

        if not args.skip_sweep:
            reap_orphans()  # the train rounds' loggers (ended with their evaluate): not sweep CPU
            sweep = [py, "-m", f"{package}.sweep"]
            parallel, sequential, cpu_par, cpu_seq = [], [], [], []
            load = [os.getloadavg()[0]]
            for round_ in range(args.sweep_repeats):
                order = [("parallel", "2"), ("sequential", "1")]
                if round_ % 2:
                    order.reverse()
                for name, jobs in order:
                    seconds = timed([*sweep, "--jobs", jobs], work, tracked_env, reap=True)
                    (parallel if name == "parallel" else sequential).append(seconds)
                    (cpu_par if name == "parallel" else cpu_seq).append(CPU[-1])
            load.append(os.getloadavg()[0])
            results.update(
                {
                    "sweep_parallel_ratio": round(min(parallel) / min(sequential), 3),
                    "sweep_parallel_s": round(min(parallel), 2),
                    "sweep_sequential_s": round(min(sequential), 2),
                    "sweep_parallel_cpu_s": round(min(cpu_par), 2),
                    "sweep_sequential_cpu_s": round(min(cpu_seq), 2),
                }
            )
            print(
                f"sweep: four models (mlp, svm, random_forest, logreg), tracked, models logged; "
                f"2 joblib workers {[round(s, 2) for s in parallel]} s "
                f"(CPU {[round(s, 2) for s in cpu_par]} s), one after the other in one process "
                f"{[round(s, 2) for s in sequential]} s (CPU {[round(s, 2) for s in cpu_seq]} s);"
                f" load average {load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} cores"
            )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Many runs: the parallel sweep (Hydra multirun + joblib) and the hyperparameter search."""

import ast
import subprocess
import sys

import pytest
from tracking_helpers import (
    PACKAGE,
    clean_env,
    copy_store,
    inside,
    make_project,
    store_runs,
    template_store,
)

from {{ cookiecutter.package_name }}.config import compose


@pytest.mark.slow
def test_eight_runs_on_two_workers_into_one_sqlite_store_all_finish(tmp_path):
    """2 models x 4 seeds, 2 joblib workers, one SQLite file: 8 FINISHED child runs."""
    project = make_project(tmp_path / "p")
    uri = copy_store(template_store(), tmp_path / "store")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            f"{PACKAGE}.sweep",
            "--models",
            "logreg,svm",
            "--seeds",
            "1,2,3,4",
            "--jobs",
            "2",
        ],
        cwd=project,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "8 child run(s), all FINISHED" in result.stdout
    runs = store_runs(uri)
    parents = [r for r in runs if r.data.tags.get("run.kind") == "sweep-parent"]
    children = [r for r in runs if r.data.tags.get("run.kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    assert len(children) == 8
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(run.data.metrics)
        assert run.data.tags["model.uri"].startswith("models:/")  # the model was logged too
    combos = {(r.data.tags["model"], r.data.tags["seed"]) for r in children}
    assert combos == {(m, s) for m in ("logreg", "svm") for s in ("1", "2", "3", "4")}
    # Each job's config is what `dvc exp run -S ...` with its overrides would compose.
    for run in children:
        overrides = run.data.tags["hydra.overrides"].split()
        assert (
            run.data.params["model.name"]
            == compose(overrides, conf_dir=project / "conf")["model"]["name"]
        )
    # The DVC workspace is untouched; each job wrote under .scratch/sweep/<parent>/<job>/.
    assert not (project / "models").exists() and not (project / "data" / "processed").exists()
    assert len(list((project / ".scratch" / "sweep" / parent).glob("*/reports/metrics.json"))) == 8


WORKER_PROBE = """
import gc, importlib.util, os, sys
from joblib import Parallel, delayed
from {package} import sweep, sweep_worker

def probe(_):
    installed = [m for m in sweep_worker.MODULES if importlib.util.find_spec(m.split(".")[0])]
    missing = [m for m in installed if m not in sys.modules]
    return os.getpid(), os.getppid(), gc.get_freeze_count() > 0, tuple(missing)

sweep.start_workers()
print(repr((os.getpid(), Parallel(n_jobs=2, batch_size=1)(delayed(probe)(i) for i in range(4)))))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forkserver workers: Linux")
def test_parallel_workers_are_forks_of_one_process_that_imported_what_a_job_needs(tmp_path):
    """`--jobs 2`: joblib's workers are not fresh interpreters that import pandas, scikit-learn
    and MLflow again; they are forks of one process that imported every module a job needs
    (sweep_worker.MODULES, a list that must not go stale: each installed one is imported) and
    froze them for the garbage collector."""
    result = subprocess.run(
        [sys.executable, "-c", WORKER_PROBE.format(package=PACKAGE)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_pid, probes = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    workers = {pid for pid, *_ in probes}
    forkservers = {ppid for _, ppid, *_ in probes}
    assert 1 <= len(workers) <= 2 and len(forkservers) == 1 and sweep_pid not in forkservers
    assert all(frozen and not missing for _, _, frozen, missing in probes), probes


@pytest.mark.slow
def test_tune_logs_child_trials_and_prints_the_dvc_command(tmp_path, capsys):
    from {{ cookiecutter.package_name }} import tune

    project = make_project(tmp_path / "p")
    uri = copy_store(template_store(), tmp_path / "store")
    with inside(project, uri):
        tune.main(["--model", "logreg", "--trials", "3"])
    out = capsys.readouterr().out
    command = next(line.strip() for line in out.splitlines() if line.strip().startswith("dvc exp"))
    assert command.startswith("dvc exp run -S model=logreg -S model.C=")
    runs = store_runs(uri)
    parent = next(r for r in runs if r.data.tags.get("run.kind") == "tune-parent")
    trials = [r for r in runs if r.data.tags.get("run.kind") == "tune"]
    assert len(trials) == 3 and all(r.info.status == "FINISHED" for r in trials)
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trials)
    assert parent.info.status == "FINISHED"
    best = next(
        r for r in trials if r.data.tags["tune.trial"] == parent.data.tags["tune.best_trial"]
    )
    assert best.data.metrics["val.f1"] == max(r.data.metrics["val.f1"] for r in trials)
    # The printed command composes exactly the best trial's model config.
    overrides = [part for part in command.split()[3:] if part != "-S"]
    composed = compose(overrides, conf_dir=project / "conf")
    assert str(composed["model"]["C"]) == best.data.params["model.C"]

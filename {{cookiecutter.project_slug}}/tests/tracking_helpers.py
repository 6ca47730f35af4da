"""Scratch projects and MLflow stores for the tracking tests (tests/test_tracking*.py).

A scratch project is a copy of this project's conf/, dvc.yaml, params.yaml, docs/ and bundled
raw data in a temporary folder; the package itself is imported from here (src/). Stores are
real SQLite MLflow stores: one empty store is built per session (MLflow's migrations take
seconds) and copied for each test.
"""

import atexit
import contextlib
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.config import Paths, compose, write_params

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "{{ cookiecutter.package_name }}"
SWITCH = f"{PACKAGE.upper()}_TRACKING"
RAW = Path("data/raw/penguins-raw.csv")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def make_project(dst: Path, *overrides: str) -> Path:
    """A runnable copy of this project under dst, params.yaml composed with `overrides`."""
    dst.mkdir(parents=True, exist_ok=True)
    for folder in ("conf", "docs", "src"):
        shutil.copytree(
            ROOT / folder,
            dst / folder,
            ignore=shutil.ignore_patterns("figures", "__pycache__", "*.egg-info"),
        )
    shutil.copy(ROOT / "dvc.yaml", dst / "dvc.yaml")
    (dst / RAW.parent).mkdir(parents=True)
    shutil.copy(ROOT / RAW, dst / RAW)
    write_params(compose(list(overrides), conf_dir=dst / "conf"), dst / "params.yaml")
    return dst


def set_params(project: Path, *overrides: str) -> dict:
    cfg = compose(list(overrides), conf_dir=project / "conf")
    write_params(cfg, project / "params.yaml")
    return cfg


def prepare_data(project: Path) -> None:
    """The prepare and featurize stages, in-process (what train and evaluate read)."""
    from {{ cookiecutter.package_name }}.features import featurize
    from {{ cookiecutter.package_name }}.prepare import prepare

    cfg = yaml.safe_load((project / "params.yaml").read_text())
    paths = Paths(project)
    prepare(cfg, project / RAW, paths.processed, paths.reports / "cleaning.json")
    featurize(cfg["data"], paths.processed, paths.features, paths.featurizer)


def empty_store(folder: Path) -> Path:
    """A new, empty MLflow SQLite store, built in a subprocess (so nothing stays open)."""
    db = folder / "template.db"
    code = (
        f"import sys; from {PACKAGE}.tracking import client; "
        "client('sqlite:///' + sys.argv[1]).search_experiments()"
    )
    subprocess.run([sys.executable, "-c", code, db.as_posix()], check=True, env=clean_env())
    return db


def copy_store(template: Path, folder: Path) -> str:
    """A copy of the template store (SQLite's backup API: consistent even in WAL mode)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "mlflow.db"
    with sqlite3.connect(template) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target.as_posix()}"


def clean_env(**extra: str) -> dict:
    """The environment for a subprocess: this package first on the path, tracking on."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DVC_ROOT", "MLFLOW_TRACKING_URI", SWITCH, "DVC_EXP_NAME")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra)
    return env


def run_module(
    module: str, *args: str, cwd: Path, env: dict, timeout: int = 300, check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.{module}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{module} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def git_commit_all(project: Path) -> None:
    """A git repository holding everything in `project`, committed."""
    env = {**clean_env(), **GIT_IDENTITY}
    for step in (
        ["git", "init", "--quiet", "--initial-branch=main"],
        ["git", "add", "--all"],
        ["git", "commit", "--quiet", "--no-verify", "-m", "start"],
    ):
        subprocess.run(step, cwd=project, env=env, check=True, capture_output=True)


def dvc_init(project: Path, *, scm: bool = True) -> None:
    """`dvc init` and `dvc add` of the raw data (when there is some), as `make setup` does.

    In subprocesses: DVC's logging, set up in-process, outlives pytest's captured streams.
    """
    dvc = f"{shlex.quote(sys.executable)} -m dvc"
    steps = [
        f"{dvc} init --quiet" + ("" if scm else " --no-scm"),
        f"{dvc} config core.autostage true",
    ]
    if (project / RAW).exists():
        steps.append(f"{dvc} add --quiet {RAW.as_posix()}")
    subprocess.run(
        " && ".join(steps),
        shell=True,
        cwd=project,
        env=clean_env(),
        check=True,
        capture_output=True,
    )


def git_init(project: Path) -> None:
    """git + DVC as `make setup` leaves them: raw data tracked by DVC, everything committed."""
    (project / ".gitignore").write_text("mlflow.db*\nmlartifacts/\n.scratch/\n")
    subprocess.run(
        ["git", "init", "--quiet", "--initial-branch=main"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    dvc_init(project)
    git_commit_all(project)


_CACHE: dict = {}


def _scratch(name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"tracking-tests-{name}-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def template_store() -> Path:
    """One empty store per test session, shared by every test module."""
    if "template" not in _CACHE:
        _CACHE["template"] = empty_store(_scratch("store"))
    return _CACHE["template"]


@contextlib.contextmanager
def inside(project: Path, uri: str | None, **env: str):
    """cwd = project, MLFLOW_TRACKING_URI = uri (or unset), tracking on; restored after."""
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    for key in ("DVC_ROOT", SWITCH, "MLFLOW_TRACKING_URI", "DVC_EXP_NAME"):
        os.environ.pop(key, None)
    if uri:
        os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.update(env)
    os.chdir(project)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def tracked_run() -> dict:
    """One tracked pipeline run of the default config (logreg) in a git + DVC scratch project,
    made once per session: {"project", "uri", "run_id"}."""
    if "tracked" not in _CACHE:
        from {{ cookiecutter.package_name }} import evaluate, train

        project = make_project(_scratch("tracked") / "project")
        git_init(project)
        uri = copy_store(template_store(), project.parent / "store")
        with inside(project, uri):
            prepare_data(project)
            train.main()
            evaluate.main()
        _CACHE["tracked"] = {"project": project, "uri": uri, "run_id": workspace_run(project, uri)}
    return _CACHE["tracked"]


def workspace_run(project: Path, uri: str) -> str:
    """The id of the MLflow run that models/model/run.json's token names."""
    from {{ cookiecutter.package_name }}.tracking import client, find_run, read_token

    cfg = yaml.safe_load((project / "params.yaml").read_text())
    run_id = find_run(client(uri), cfg, read_token(project / "models" / "model"))
    assert run_id, f"no run for {project / 'models' / 'model' / 'run.json'} in {uri}"
    return run_id


def store_runs(uri: str) -> list:
    """Every run in the store at `uri`, of every experiment, newest first."""
    from {{ cookiecutter.package_name }}.tracking import client

    mlflow_client = client(uri)
    return mlflow_client.search_runs([e.experiment_id for e in mlflow_client.search_experiments()])

"""Scratch projects with a real MLflow store, for the tests of the commands (tests/test_sweep.py,
test_predict_report.py, test_reproduce.py).

A scratch project is a copy of this project's code, conf/, tuning/, docs/, dvc.yaml and raw data
in a temporary folder, under git and DVC as `make setup` leaves a project; its MLflow store is
the SQLite file mlflow.db inside it. Commands run in subprocesses on the copy's own code (so
that MLflow records the copy's git commit), or in-process from this checkout.
"""

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from {{ cookiecutter.package_name }}.config import (
    compose,
    write_params,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "{{ cookiecutter.package_name }}"
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
IDENTITY |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
# The bundled default task. Tests about its columns name it, so that they keep working (and the
# suite stays green) when conf/config.yaml selects your own data.
BUNDLED_TASK = "penguins_island"
CACHES = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ruff_cache", "figures")


def store_uri(project: Path) -> str:
    return f"sqlite:///{(project / 'mlflow.db').as_posix()}"


def env(project: Path, **extra: str) -> dict:
    """A subprocess's environment: the copy's code, its store, this interpreter first on PATH."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    base.pop(f"{PACKAGE.upper()}_TRACKING", None)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {
        **base,
        **IDENTITY,
        "PATH": path,
        "PYTHONPATH": str(project / "src"),
        "MLFLOW_TRACKING_URI": store_uri(project),
        "DVC_NO_ANALYTICS": "1",
        **extra,
    }


def run(project: Path, *command: str, check: bool = True, **extra: str):
    """Run a command in the project; with check, fail the test showing its output."""
    result = subprocess.run(
        command, cwd=project, env=env(project, **extra), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def command(project: Path, name: str, *args: str, check: bool = True, **extra: str):
    """`python -m <package>.commands.<name> ARGS` in the project."""
    module = f"{PACKAGE}.commands.{name}"
    return run(project, sys.executable, "-m", module, *args, check=check, **extra)


def make_project(dst: Path, *, git: bool = True) -> Path:
    """A runnable copy of this project under dst (git + DVC as `make setup` leaves them)."""
    for folder in ("conf", "docs", "tuning", "src"):
        shutil.copytree(ROOT / folder, dst / folder, ignore=CACHES)
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, dst / name)
    # The commands' tests know the bundled table's columns: the copy runs the bundled task,
    # whatever data this project's conf/config.yaml selects.
    config = dst / "conf" / "config.yaml"
    config.write_text(re.sub(r"- data: \S+", f"- data: {BUNDLED_TASK}", config.read_text()))
    cfg = compose(conf_dir=dst / "conf")
    raw = Path(cfg["data"]["raw_path"])
    (dst / raw).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / raw, dst / raw)
    write_params(cfg, dst / "params.yaml")
    if git:
        python = sys.executable
        run(dst, "git", "init", "--quiet", "--initial-branch=main")
        run(dst, python, "-m", "dvc", "init", "--quiet")
        run(dst, python, "-m", "dvc", "add", "--quiet", raw.as_posix())
        run(dst, "git", "add", "--all")
        run(dst, "git", "commit", "--quiet", "--no-verify", "-m", "start")
    return dst


_tracked: dict = {}


def tracked_project() -> dict:
    """One project after `dvc repro` (the bundled task, logged to its store), made once per
    session: {"project", "uri", "run_id"}."""
    if not _tracked:
        folder = Path(tempfile.mkdtemp(prefix="tracked-"))
        atexit.register(shutil.rmtree, folder, True)
        project = make_project(folder / "project")
        run(project, sys.executable, "-m", "dvc", "repro", "--quiet")
        [only] = store_runs(store_uri(project))
        _tracked.update(project=project, uri=store_uri(project), run_id=only.info.run_id)
    return _tracked


def store_runs(uri: str) -> list:
    """Every run in the store at `uri`, of every experiment, newest first."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])

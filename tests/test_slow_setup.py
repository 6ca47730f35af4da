"""Slow tier: bake the defaults, `make setup`, then the project's pipeline.

The baked and set-up project is the session fixture `baked_project` (conftest.py),
shared with every other slow test, so the install happens once per session. The project's
own `make test` runs in tests/test_slow_own_data.py, on a project switched to another table:
its tests of the bundled task run there too, and it takes minutes, so it runs once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import bakery
import checks

pytestmark = pytest.mark.slow
METRICS = bakery.METRICS
RAW = bakery.RAW_DATA


def test_setup_leaves_a_clean_repository(baked_project):
    state = baked_project.after_setup
    assert state["branch"] == "main"
    assert "Start project from the ML experiment template" in state["log"]
    assert state["status"] == "", f"git status after setup:\n{state['status']}"
    tracked = state["files"].splitlines()
    for name in ("pyproject.toml", "Makefile", "conf/config.yaml", f"{RAW}.dvc", ".dvc/config"):
        assert name in tracked, f"{name} is not in git"
    assert RAW not in tracked, "the raw data must be tracked by DVC, not git"


def test_setup_tracks_the_raw_data_with_dvc(baked_project):
    assert (baked_project.path / ".dvc").is_dir()
    assert (baked_project.path / f"{RAW}.dvc").is_file()
    assert json.loads(baked_project.after_setup["dvc_status"]) == {}
    ignored = baked_project.run("git", "check-ignore", RAW, check=False)
    assert ignored.returncode == 0, "git must ignore the DVC-tracked raw data"


def test_setup_installs_the_package_editable_with_dev_tools(baked_project):
    package = next(p.name for p in (baked_project.path / "src").iterdir() if p.is_dir())
    found = baked_project.venv("python", "-c", f"import {package}; print({package}.__file__)")
    assert Path(found.stdout.strip()).is_relative_to(baked_project.path / "src")
    for tool in ("dvc", "mlflow", "pytest", "ruff", "pre-commit"):
        assert (baked_project.bin / tool).exists(), f".venv lacks {tool}"
    torch = baked_project.venv("python", "-c", "import torch; print(torch.__version__)")
    assert "+cu" not in torch.stdout, "a CUDA build of torch was installed"


def test_dependency_modules_list_is_current(baked_project):
    """The pre-generation hook refuses a package_name that a dependency's module already has
    (`tqdm`, `git`, ...) from a list generated from a set-up project's .venv: a dependency
    that brings a new module fails here, with the command that refreshes the list."""
    package = next(p.name for p in (baked_project.path / "src").iterdir() if p.is_dir())
    result = baked_project.run(
        sys.executable,
        bakery.ROOT / "scripts" / "dependency_modules.py",
        baked_project.python,
        "--check",
        "--own",
        package,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_setup_installs_the_pre_commit_hook(baked_project):
    hook = baked_project.path / ".git" / "hooks" / "pre-commit"
    assert hook.is_file()
    assert "pre-commit" in hook.read_text()


def test_setup_again_changes_nothing(baked_project):
    before = baked_project.run("git", "status", "--porcelain", "--untracked-files=all").stdout
    result = baked_project.make("setup")
    assert "installing" not in result.stdout, "a second setup reinstalled the environment"
    after = baked_project.run("git", "status", "--porcelain", "--untracked-files=all").stdout
    assert after == before


def test_setup_finishes_what_a_bake_without_dvc_skipped(baked_project, cookiecutter_only, tmp_path):
    """`uvx cookiecutter` (no DVC) then `make setup`: DVC is started, the data tracked, committed.

    To stay fast, the new project borrows the set-up project's .venv (same pyproject.toml, so
    setup sees it installed); every other step of `make setup` runs for real.
    """
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PATH": checks.path_without("dvc")}
    baked = bakery.cookiecutter_cli(
        ["--no-input", str(bakery.ROOT)], cwd=out, env=env, python=cookiecutter_only
    )
    assert "DVC initialisation (DVC is not installed" in baked.stdout, baked.stdout + baked.stderr
    path = out / bakery.default_slug()
    assert not (path / ".dvc").exists()
    (path / ".venv").symlink_to(baked_project.path / ".venv")
    with (path / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write(".venv\n")  # a link, which the project's `.venv/` pattern does not match
    project = bakery.Project(path, bakery.project_env(path))
    project.make("setup")
    log = project.run("git", "log", "--format=%s").stdout
    assert "Track the bundled raw data with DVC" in log
    assert project.run("git", "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert RAW not in project.run("git", "ls-files").stdout.split()
    status = project.venv("dvc", "status", "--json", f"{RAW}.dvc")
    assert json.loads(status.stdout) == {}
    assert (path / ".git" / "hooks" / "pre-commit").is_file()


def test_pipeline_reports_every_metric(reproduced_project):
    shown = reproduced_project.venv("dvc", "metrics", "show", "--json")
    metrics = bakery.metrics_of(json.loads(shown.stdout))
    assert metrics is not None, f"dvc metrics show lacks one of {METRICS}: {shown.stdout[:2000]}"
    for name in METRICS:
        assert 0.0 <= metrics[name] <= 1.0, f"{name}={metrics[name]}"


def test_pipeline_leaves_dvc_status_clean(reproduced_project):
    status = reproduced_project.after_repro["dvc_status"]
    assert json.loads(status) == {}, status

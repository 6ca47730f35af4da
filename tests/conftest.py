"""Fixtures of the template's test suite.

Fast tier: `bake` (a factory baking into a fresh folder), `cli` (the real
cookiecutter command line) and `cookiecutter_only` (the Python of a venv that
holds cookiecutter and nothing else, as `uvx cookiecutter` gives).

Slow tier (shared, built once per test session, reused by every slow test):
- `baked_project`: the default answers baked and `make setup` run, with this
  machine's CPU PyTorch. A `bakery.Project`: `.path`, `.env` (the environment
  to run its commands with: .venv activated, CPU torch for uv), `.run(...)`,
  `.venv("dvc", "status")`, `.make("test")`, `.python`. `.after_setup` holds
  what the project looked like right after setup (before any test changed it).
- `reproduced_project`: the same project after `make repro` (run once);
  `.after_repro` holds `dvc status` right after it.
- `teammate_project`: what a teammate gets from `baked_project`: a git clone, the raw
  data (as `dvc pull` brings it), and its own `make setup` from the committed uv.lock, with
  the `postgres` extra (`EXTRAS=postgres`: this teammate also runs the team MLflow server).
Both fail (not skip) when setup or the pipeline fails, with the output tail.
Tests that use them are kept on one xdist worker, so setup happens once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import bakery

SHARED = ("baked_project", "reproduced_project")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marks into groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep every test that shares the baked project on one xdist worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if set(SHARED) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("baked_project"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cookiecutter() -> None:
    """No ~/.cookiecutterrc defaults, no replay files in ~, no DVC analytics.

    On a machine where git has no identity (a fresh CI runner), the bakes get one
    through the environment, so that the hook's first commit happens; the test of
    the no-identity path removes it again.
    """
    os.environ["COOKIECUTTER_CONFIG"] = str(bakery.cookiecutter_config())
    os.environ["DVC_NO_ANALYTICS"] = "1"
    has_identity = all(
        subprocess.run(["git", "config", key], capture_output=True).returncode == 0
        for key in ("user.name", "user.email")
    )
    if not has_identity:
        for who in ("AUTHOR", "COMMITTER"):
            os.environ.setdefault(f"GIT_{who}_NAME", "Template Tests")
            os.environ.setdefault(f"GIT_{who}_EMAIL", "template-tests@example.com")


@pytest.fixture
def bake(tmp_path: Path) -> Callable[..., Path]:
    """bake(**answers) -> path of the project baked (hooks included) into tmp_path."""

    def _bake(accept_hooks: bool = True, **answers: str) -> Path:
        return bakery.bake(tmp_path / "out", answers, accept_hooks=accept_hooks)

    return _bake


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """cli(*args, input=None, env=None) runs `cookiecutter [options] <template> [key=value...]`
    in tmp_path/out (`cli.out`); args starting with '-' are options, the others answers."""
    out = tmp_path / "out"
    out.mkdir()

    def _cli(
        *args: str,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        python: str | None = None,
    ) -> subprocess.CompletedProcess:
        options = [a for a in args if a.startswith("-")]
        answers = [a for a in args if not a.startswith("-")]
        return bakery.cookiecutter_cli(
            [*options, str(bakery.ROOT), *answers], cwd=out, input=input, env=env, python=python
        )

    _cli.out = out  # type: ignore[attr-defined]
    return _cli


COOKIECUTTER = "cookiecutter==2.7.1"


@pytest.fixture(scope="session")
def cookiecutter_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Python of a fresh venv holding cookiecutter and its dependencies, nothing else
    (what `uvx cookiecutter` or `pipx run cookiecutter` give a user)."""
    venv = tmp_path_factory.mktemp("cookiecutter-only") / "venv"
    uv = Path(sys.executable).with_name("uv")
    if uv.exists():
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, venv], check=True)
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", COOKIECUTTER],
            check=True,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run(
            [venv / "bin" / "python", "-m", "pip", "install", "--quiet", COOKIECUTTER], check=True
        )
    return venv / "bin" / "python"


def _snapshot(project: bakery.Project) -> dict[str, str]:
    """The facts the setup test checks, taken before any other test touches the project."""

    def out(*cmd: str | Path) -> str:
        result = project.run(*cmd, check=False)
        return (result.stdout + result.stderr).strip()

    return {
        "branch": out("git", "branch", "--show-current"),
        "log": out("git", "log", "--format=%s"),
        "status": out("git", "status", "--porcelain", "--untracked-files=all"),
        "files": out("git", "ls-files"),
        # The raw data only: pipeline stages are "changed" until the first `dvc repro`.
        "dvc_status": out(project.bin / "dvc", "status", "--json", f"{bakery.RAW_DATA}.dvc"),
    }


@pytest.fixture(scope="session")
def baked_project(tmp_path_factory: pytest.TempPathFactory) -> bakery.Project:
    project = bakery.bake_project(tmp_path_factory.mktemp("baked"))
    result = bakery.set_up(project)
    if result.returncode != 0:
        pytest.fail(f"`make setup` failed:\n{(result.stdout + result.stderr)[-6000:]}")
    project.setup_output = result.stdout + result.stderr  # type: ignore[attr-defined]
    project.after_setup = _snapshot(project)  # type: ignore[attr-defined]
    return project


@pytest.fixture(scope="session")
def reproduced_project(baked_project: bakery.Project) -> bakery.Project:
    if not (baked_project.path / "dvc.yaml").exists():
        pytest.skip("this version of the template has no pipeline (dvc.yaml) yet")
    baked_project.make("repro")
    status = baked_project.venv("dvc", "status", "--json", check=False)
    baked_project.after_repro = {"dvc_status": (status.stdout + status.stderr).strip()}  # type: ignore[attr-defined]
    return baked_project


@pytest.fixture(scope="session")
def teammate_project(
    baked_project: bakery.Project, tmp_path_factory: pytest.TempPathFactory
) -> bakery.Project:
    path = tmp_path_factory.mktemp("teammate") / baked_project.path.name
    subprocess.run(["git", "clone", "--quiet", baked_project.path, path], check=True)
    shutil.copy2(baked_project.path / bakery.RAW_DATA, path / bakery.RAW_DATA)
    project = bakery.Project(path, bakery.project_env(path))
    result = project.make("setup", env={"EXTRAS": "postgres"}, check=False, timeout=900)
    if result.returncode != 0:
        pytest.fail(
            f"the teammate's `make setup` failed:\n{(result.stdout + result.stderr)[-6000:]}"
        )
    return project

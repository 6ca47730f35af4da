"""The generated project's uv.lock: shipped current, installed exactly, refused when stale.

Fast tier: the lock the template ships fits every bake (`uv lock --check`, offline), and the
setup replaces only PyTorch's GPU packages when TORCH_BACKEND asks for another build.
Slow tier: two setups from one lock install the same packages, at the versions the lock pins;
a dependency changed without `make lock` is refused with that command, which then fixes it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import bakery

UV = Path(sys.executable).with_name("uv")
# PyTorch's own dependencies that its CPU build needs too: never left out of a setup.
TORCH_PORTABLE = {"filelock", "fsspec", "jinja2", "networkx", "setuptools", "sympy"}


def uv_env() -> dict[str, str]:
    """This machine's environment less any UV_* setting (uv.lock must not depend on them)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("UV_")}


def uv_lock_check(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [UV, "lock", "--check", *args],
        cwd=project,
        env=uv_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def load_bootstrap(project: Path):
    spec = importlib.util.spec_from_file_location("bootstrap", project / "scripts" / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def locked_versions(project: Path) -> dict[str, set[str]]:
    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        versions.setdefault(package["name"], set()).add(package.get("version", ""))
    return versions


@pytest.mark.parametrize(
    "answers",
    [{}, {"project_name": "Odd_Name 2", "python_version": "3.13"}, {"python_version": "3.10"}],
    ids=["defaults", "odd-name-py313", "py310"],
)
def test_the_shipped_lock_fits_every_bake(bake, answers):
    """Satisfied without a network: the lock is current for the template's pyproject.toml.
    If this fails after a dependency change: make project-lock, and commit uv.lock."""
    project = bake(accept_hooks=False, **answers)
    result = uv_lock_check(project, "--offline")
    assert result.returncode == 0, (
        "the template's uv.lock is stale: run `make project-lock` and commit it\n"
        + result.stderr[-3000:]
    )
    name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    root = [
        p
        for p in tomllib.loads((project / "uv.lock").read_text())["package"]
        if p.get("source") == {"editable": "."}
    ]
    assert [re.sub(r"[-_.]+", "-", p["name"]) for p in root] == [re.sub(r"[-_.]+", "-", name)]


def test_torch_backend_replaces_only_pytorchs_gpu_packages(bake):
    project = bake(accept_hooks=False)
    bootstrap = load_bootstrap(project)
    version, replaced = bootstrap.locked_torch((project / "uv.lock").read_text())
    assert version in locked_versions(project)["torch"]
    assert "torch" in replaced and "triton" in replaced
    assert any(name.startswith("nvidia-") for name in replaced)
    others = set(replaced) - {"torch", "triton"}
    assert all(re.match(r"(nvidia|cuda)-", name) for name in others), others
    assert not TORCH_PORTABLE & set(replaced)
    assert not {"numpy", "mlflow", "dvc", "scikit-learn"} & set(replaced)


# ---------------------------------------------------------------- slow: real setups


def freeze(project: bakery.Project) -> list[str]:
    """`uv pip freeze` of the project's .venv, less its own editable line (a path)."""
    result = subprocess.run(
        [UV, "pip", "freeze", "--python", project.python],
        capture_output=True,
        text=True,
        check=True,
        env=uv_env(),
    )
    return sorted(line for line in result.stdout.splitlines() if not line.startswith("-e "))


@pytest.mark.slow
def test_two_setups_from_one_lock_install_the_same_packages(baked_project, teammate_project):
    # Less the `postgres` extra, which the teammate installed (to run the team server).
    mine, theirs = ([p for p in freeze(x) if not p.startswith("psycopg")]
                    for x in (baked_project, teammate_project))  # fmt: skip
    assert mine == theirs
    locked = locked_versions(teammate_project.path)
    for line in theirs:
        name, version = line.split("==")
        name = re.sub(r"[-_.]+", "-", name.lower())
        # TORCH_BACKEND's build of the locked version: 2.13.0+cpu for the lock's 2.13.0.
        assert version.split("+")[0] in locked.get(name, set()), f"{line} is not in uv.lock"
    assert any(line.startswith("torch==") and "+cpu" in line for line in theirs)
    assert not [line for line in theirs if re.match(r"(nvidia|cuda|triton)", line)]
    extra = [p for p in freeze(teammate_project) if p.startswith("psycopg")]
    assert sorted(p.split("==")[0] for p in extra) == ["psycopg", "psycopg-binary"]


@pytest.mark.slow
def test_a_dependency_change_without_a_new_lock_is_refused(bake):
    """`make setup` stops before installing anything and names `make lock`, which fixes it."""
    path = bake()
    project = bakery.Project(path, bakery.project_env(path))
    pyproject = path / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text.replace('    "tqdm>=4.66",\n', '    "tqdm>=4.66",\n    "six>=1.16",\n')
    )
    assert pyproject.read_text() != text
    refused = project.make("setup", check=False)
    assert refused.returncode != 0
    assert "make lock" in refused.stdout + refused.stderr
    assert not (path / ".venv").exists(), "nothing is installed from a stale lock"
    project.make("lock")
    assert uv_lock_check(path, "--offline").returncode == 0
    assert "six" in locked_versions(path)

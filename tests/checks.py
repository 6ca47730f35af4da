"""Checks on a baked project's files, shared by the fast-tier tests."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_UNDER = (".dvc/cache", ".dvc/tmp")
# Jinja left behind. `${{ ... }}` is GitHub Actions' own syntax, legitimately in workflows.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#")
BIN = Path(sys.executable).parent


def project_files(project: Path) -> list[Path]:
    """Every file of the baked project, except git's, DVC's cache and environments."""
    files = []
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if SKIP_DIRS & set(rel.parts) or rel.as_posix().startswith(SKIP_UNDER):
            continue
        if path.is_file():
            files.append(path)
    return files


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # binary


def unrendered(project: Path) -> list[str]:
    """`path:line: text` for every leftover Jinja tag in a path or a file."""
    found = []
    for path in project_files(project):
        rel = path.relative_to(project).as_posix()
        if UNRENDERED.search(rel):
            found.append(f"{rel}: unrendered path")
        text = read_text(path)
        for number, line in enumerate((text or "").splitlines(), 1):
            if UNRENDERED.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def parse_errors(project: Path) -> list[str]:
    """Every TOML/YAML/JSON/notebook/INI file must parse, every .py compile."""
    errors = []
    for path in project_files(project):
        rel = path.relative_to(project).as_posix()
        name = path.name
        try:
            if path.suffix == ".toml":
                tomllib.loads(path.read_text(encoding="utf-8"))
            elif path.suffix in (".yaml", ".yml") or name in (".yamllint", ".dvcignore.yaml"):
                list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            elif path.suffix in (".json", ".ipynb"):
                json.loads(path.read_text(encoding="utf-8"))
            elif path.suffix == ".py":
                compile(path.read_text(encoding="utf-8"), rel, "exec", dont_inherit=True)
            elif path.suffix in (".cfg", ".ini") or rel == ".dvc/config":
                configparser.ConfigParser(interpolation=None).read_string(
                    path.read_text(encoding="utf-8")
                )
            elif path.suffix in (".md", ".txt", ".csv", ".gitignore") and read_text(path) is None:
                errors.append(f"{rel}: not UTF-8 text")
        except Exception as exc:  # noqa: BLE001 - collect every failure with its file
            errors.append(f"{rel}: {type(exc).__name__}: {exc}")
    return errors


def ruff(project: Path, command: str, *args: str) -> subprocess.CompletedProcess:
    """ruff run from inside the project, so that it reads the project's pyproject.toml.

    `args` are options and then files (default: the whole project).
    """
    options = [a for a in args if a.startswith("-")]
    files = [a for a in args if not a.startswith("-")] or ["."]
    return subprocess.run(
        [str(BIN / "ruff"), command, "--no-cache", *options, *files],
        cwd=project,
        capture_output=True,
        text=True,
    )


def workflow_schema_errors(project: Path) -> str:
    """GitHub workflows validated against the schema check-jsonschema ships (no network)."""
    workflows = sorted((project / ".github" / "workflows").glob("*.y*ml"))
    if not workflows:
        return ""
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, workflows),
        ],
        capture_output=True,
        text=True,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def pyproject(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def git(project: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def path_without(*tools: str) -> str:
    """PATH minus every folder that holds one of these tools."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(
        d for d in folders if d and not any(Path(d, tool).exists() for tool in tools)
    )


# Files whose lint changes are expected failures (xfail) rather than failures: none. The
# package code and the project's tests keep their lines for names of 1 to 60 characters.
OWNED_ELSEWHERE: tuple[str, ...] = ()


def hooks_env(project: Path, env: dict | None = None) -> dict[str, str]:
    """Environment for the project's pre-commit hooks with the hooks' tools from this .venv
    (scripts/venv_run.py takes them from PATH where the project has no .venv) and a scratch
    PRE_COMMIT_HOME: every hook is local, nothing is fetched."""
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "PYTHONPATH": str(project / "src"),  # the params-sync hook imports the package
        "PRE_COMMIT_HOME": str(project.parent / "pre-commit-home"),
        **(env or {}),
    }


def pre_commit(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "pre-commit"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=hooks_env(project, env),
        timeout=300,
    )


def assert_lint_passes_unchanged(project: Path) -> None:
    """`make lint` on a fresh project passes and rewrites nothing (what it rewrote is undone)."""
    import pytest

    result = pre_commit(project, "run", "--all-files")
    changed = git(project, "status", "--porcelain").splitlines()
    git(project, "checkout", "--", ".")
    if result.returncode == 0 and not changed:
        return
    paths = [line[3:] for line in changed]
    if paths and all(path.startswith(OWNED_ELSEWHERE) for path in paths):
        pytest.xfail(f"only code owned by the redesign changed: {', '.join(paths)}")
    raise AssertionError(f"changed: {changed}\n{result.stdout[-4000:]}{result.stderr}")

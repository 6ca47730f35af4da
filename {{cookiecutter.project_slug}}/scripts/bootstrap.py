"""Set the project up: `python3 scripts/bootstrap.py` (what `make setup` runs).

Installs .venv from uv.lock, exactly (`uv sync --locked`: every package at the version the lock
pins, the package editable, the dev tools of [dependency-groups]), starts git and DVC where that
was not done yet, commits the start, and installs the pre-commit hooks. Safe to run again: each
step is skipped when already done. Standard library only, so it runs before any environment
exists, on Windows too. `python3 scripts/bootstrap.py lock [--upgrade]` (`make lock`) refreshes
uv.lock after a change to the dependencies in pyproject.toml.

Environment knobs (all optional):
  TORCH_BACKEND=cpu|cu126|auto  PyTorch's own build for this machine (uv's --torch-backend), at
                                the version uv.lock pins; every other package from the lock.
                                Unset: the lock's PyTorch from PyPI (CUDA on Linux, CPU elsewhere)
  TORCH_BACKEND=<folder>        the same from a folder of wheels, offline (no index asked)
  EXTRAS=postgres               optional dependencies too (the team server's, docs/tracking.md)
  PYTHON_VERSION=3.12           interpreter for .venv (default: .python-version)
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "uv.lock"
RAW_DATA = "data/raw/penguins-raw.csv"
STAMP = VENV / ".installed"
UV_TOOL = ROOT / ".uv"  # uv itself, when it is not on PATH (not in .venv: uv sync owns that)
REFRESH = "make lock (or: uv lock), commit uv.lock, then make setup again"


def run(*cmd: str | Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check, **kwargs)


def say(message: str) -> None:
    print(f"setup: {message}", flush=True)


def uv_command() -> list[str]:
    """uv from PATH, else installed with pip into .uv/ (uv installs ~10x faster than pip)."""
    if uv := shutil.which("uv"):
        return [uv]
    tool_bin = UV_TOOL / BIN.name
    uv = tool_bin / ("uv.exe" if os.name == "nt" else "uv")
    if not uv.exists():
        say("uv is not on PATH: installing it into .uv/ (pip install uv)")
        run(sys.executable, "-m", "venv", UV_TOOL)
        run(tool_bin / "python", "-m", "pip", "install", "--quiet", "uv")
    return [str(uv)]


def lock_graph(lock: str) -> tuple[str, dict[str, list[tuple[str, str]]]]:
    """(the project's name, {package: [(dependency, marker), ...]}) read from uv.lock's text
    (by pattern: tomllib needs Python 3.11, and this runs on 3.10)."""
    graph: dict[str, list[tuple[str, str]]] = {}
    project = ""
    for block in lock.split("\n[[package]]\n")[1:]:
        name = re.match(r'name = "([^"]+)"', block).group(1)
        body = block.split("\n[package.metadata")[0]  # requires-dist repeats the edges
        if 'source = { editable = "." }' in body or 'source = { virtual = "." }' in body:
            project = name
        for line in re.findall(r'^\s*\{ name = "[^\n]*', body, re.M):
            marker = re.search(r'marker = "([^"]*)"', line)
            dependency = re.match(r'\s*\{ name = "([^"]+)"', line).group(1)
            graph.setdefault(name, []).append((dependency, marker.group(1) if marker else ""))
    return project, graph


def locked_torch(lock: str) -> tuple[str, list[str]]:
    """(the version of torch that uv.lock pins, the packages that PyPI's Linux build brings
    along for its GPU: CUDA libraries, triton) - what TORCH_BACKEND replaces."""
    versions = re.findall(r'\[\[package\]\]\nname = "torch"\nversion = "([^"]+)"', lock)
    if len(versions) != 1:
        sys.exit(f"setup: uv.lock should pin one version of torch, it has {versions}")
    project, graph = lock_graph(lock)

    def accelerator(marker: str) -> bool:
        return "sys_platform == 'linux'" in marker or "platform_system == 'Linux'" in marker

    def reach(start: list[str], skip_accelerators: bool) -> set[str]:
        seen: set[str] = set()
        todo = list(start)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for dependency, marker in graph.get(name, []):
                if not (skip_accelerators and name == "torch" and accelerator(marker)):
                    todo.append(dependency)
        return seen

    kept = reach([project], skip_accelerators=True) - {"torch"}
    gpu = reach([d for d, m in graph.get("torch", []) if accelerator(m)], skip_accelerators=False)
    return versions[0], sorted({"torch"} | (gpu - kept))


def install_package() -> None:
    """.venv from uv.lock, exactly; bytecode compiled now so every stage starts fast."""
    backend = os.environ.get("TORCH_BACKEND", "").strip()
    extras = os.environ.get("EXTRAS", "").replace(",", " ").split()
    if not LOCK.exists():
        sys.exit(f"setup: uv.lock is missing: {REFRESH}")
    lock = LOCK.read_text(encoding="utf-8")
    # Reinstall when the dependencies, the lock, the PyTorch build or the extras change.
    knobs = "\0".join([backend, *extras, os.environ.get("PYTHON_VERSION", "")])
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + lock.encode() + knobs.encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    uv = uv_command()
    if run(*uv, "lock", "--check", "--quiet", check=False).returncode != 0:
        sys.exit(f"setup: uv.lock does not match the dependencies in pyproject.toml: {REFRESH}")
    say("installing the locked packages into .venv (uv sync; first time: a minute or two)")
    cmd = [*uv, "sync", "--locked", "--quiet", "--compile-bytecode"]
    if python := os.environ.get("PYTHON_VERSION"):
        cmd += ["--python", python]
    for extra in extras:
        cmd += ["--extra", extra]
    if backend:
        torch_version, replaced = locked_torch(lock)
        cmd += [f"--no-install-package={name}" for name in replaced]
    run(*cmd)
    if backend:
        say(f"installing torch=={torch_version} for TORCH_BACKEND={backend}")
        torch = [*uv, "pip", "install", "--quiet", "--compile-bytecode"]
        torch += ["--python", str(BIN / "python")]
        if Path(backend).is_dir():  # a folder of wheels: nothing is downloaded
            torch += ["--no-index", "--find-links", backend]
        else:
            torch += ["--torch-backend", backend]
        run(*torch, f"torch=={torch_version}")
    STAMP.write_text(digest)


def lock(upgrade: bool) -> None:
    """`make lock`: refresh uv.lock for pyproject.toml (keeping every pin it still allows)."""
    run(*uv_command(), "lock", *(["--upgrade"] if upgrade else []))
    say("uv.lock refreshed: commit it with pyproject.toml, then make setup")


def git(*args: str) -> subprocess.CompletedProcess:
    return run("git", *args, check=False, capture_output=True, text=True)


def init_git() -> None:
    if not (ROOT / ".git").exists():
        say("starting a git repository on branch main")
        run("git", "init", "--quiet", "--initial-branch=main")


def init_dvc() -> bool:
    """`dvc init` and track the bundled raw data; True when this run did it."""
    if (ROOT / ".dvc").exists():
        return False
    say("starting DVC and tracking the bundled raw data with it")
    dvc = BIN / "dvc"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    run(dvc, "init", "--quiet", env=env)
    for key, value in (
        ("core.analytics", "false"),
        ("core.autostage", "true"),
        ("hydra.enabled", "true"),
    ):
        run(dvc, "config", key, value, env=env)
    run(dvc, "add", "--quiet", RAW_DATA, env=env)
    return True


def commit(dvc_started: bool) -> None:
    has_history = git("rev-parse", "--verify", "--quiet", "HEAD").returncode == 0
    if has_history and not dvc_started:
        return
    if has_history:
        git("add", ".dvc", ".dvcignore", f"{RAW_DATA}.dvc", "data/raw/.gitignore")
        message = "Track the bundled raw data with DVC"
    else:
        git("add", "--all")
        message = "Start project from the ML experiment template"
    result = git("commit", "--quiet", "--no-verify", "-m", message)
    if result.returncode == 0:
        say(f"committed: {message}")
    elif "identity" in result.stderr or "user.email" in result.stderr:
        say(
            "not committed: git has no identity. Run: git config --global user.name 'Your Name' "
            "&& git config --global user.email you@example.com && make setup"
        )
    else:
        say(f"not committed: {result.stderr.strip()}")


def install_hooks() -> None:
    if (ROOT / ".git" / "hooks" / "pre-commit").exists():
        return
    say("installing the pre-commit hooks")
    run(BIN / "pre-commit", "install", "--install-hooks", stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> None:
    if argv[:1] == ["lock"]:
        lock(upgrade="--upgrade" in argv)
        return
    install_package()
    init_git()
    commit(init_dvc())
    install_hooks()
    say("done. Next: make repro (run the pipeline), then make ui (open MLflow)")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except subprocess.CalledProcessError as exc:
        sys.exit(
            f"setup: `{' '.join(map(str, exc.cmd))}` failed (exit {exc.returncode}); "
            "fix the error above and run `make setup` again"
        )

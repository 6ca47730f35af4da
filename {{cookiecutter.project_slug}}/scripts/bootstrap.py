"""Set the project up: `python3 scripts/bootstrap.py` (what `make setup` runs).

Creates .venv with the package (editable) and its dev tools, starts git and DVC
where that was not done yet, commits the start, and installs the pre-commit
hooks. Safe to run again: each step is skipped when already done. Standard
library only, so it runs before any environment exists, on Windows too.

Environment knobs (all optional):
  TORCH_BACKEND=cpu|cu126|auto  which PyTorch build uv installs (default: PyPI's)
  PYTHON_VERSION=3.11           interpreter for .venv (default: the project's)
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON_VERSION = os.environ.get("PYTHON_VERSION", "{{ cookiecutter.python_version }}")
RAW_DATA = "data/raw/penguins-raw.csv"
STAMP = VENV / ".installed"


def run(*cmd: str | Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check, **kwargs)


def say(message: str) -> None:
    print(f"setup: {message}", flush=True)


def uv_command() -> list[str]:
    """uv from PATH, else installed into .venv with pip (uv installs ~10x faster)."""
    if uv := shutil.which("uv"):
        return [uv]
    if not (BIN / "uv").exists() and not (BIN / "uv.exe").exists():
        run(BIN / "python", "-m", "pip", "install", "--quiet", "uv")
    return [str(BIN / "uv")]


def create_venv() -> None:
    if (BIN / "python").exists() or (BIN / "python.exe").exists():
        return
    say(f"creating .venv (Python {PYTHON_VERSION})")
    if uv := shutil.which("uv"):
        run(uv, "venv", "--quiet", "--python", PYTHON_VERSION, VENV)
    else:
        run(sys.executable, "-m", "venv", VENV)


def install_package() -> None:
    """Editable install with dev tools; bytecode compiled now so every stage starts fast."""
    # Reinstall when the dependencies or the chosen PyTorch build change.
    backend = os.environ.get("TORCH_BACKEND", "")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + backend.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    say("installing the package and its dev tools into .venv (first time: a minute or two)")
    cmd = [
        *uv_command(),
        "pip",
        "install",
        "--quiet",
        "--compile-bytecode",
        "--python",
        str(BIN / "python"),
        "-e",
        ".[dev]",
    ]
    if backend:
        cmd += ["--torch-backend", backend]
    run(*cmd)
    STAMP.write_text(digest)


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


def main() -> None:
    create_venv()
    install_package()
    init_git()
    commit(init_dvc())
    install_hooks()
    say("done. Next: make repro (run the pipeline), then make ui (open MLflow)")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(
            f"setup: `{' '.join(map(str, exc.cmd))}` failed (exit {exc.returncode}); "
            "fix the error above and run `make setup` again"
        )

#!/usr/bin/env python3
"""Run a tool from the project's .venv, activated or not: `python3 scripts/venv_run.py ruff check`.

The pre-commit hooks call their tools through this, so `git commit` works from any shell or
editor without activating .venv first, and every hook uses the versions the project installed
(never another ruff that happens to be on PATH). Where there is no .venv (a CI job that
installed the tools into its own Python), the tool is taken from PATH. Standard library only.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


def venv_bin() -> Path | None:
    for name in ("bin", "Scripts"):  # POSIX, Windows
        if (VENV / name).is_dir():
            return VENV / name
    return None


def find(tool: str, bin_dir: Path | None) -> str | None:
    if bin_dir is not None:
        for name in (tool, f"{tool}.exe"):
            if (bin_dir / name).is_file():
                return str(bin_dir / name)
        return None
    return shutil.which(tool)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python3 scripts/venv_run.py TOOL [ARGS...]", file=sys.stderr)
        return 2
    bin_dir = venv_bin()
    exe = find(argv[0], bin_dir)
    if exe is None:
        where = f"{bin_dir}" if bin_dir else "PATH (there is no .venv)"
        print(
            f"error: `{argv[0]}` not found in {where}: run `make setup` "
            "(or `python scripts/bootstrap.py`) to install the project's tools",
            file=sys.stderr,
        )
        return 1
    env = dict(os.environ)
    if bin_dir is not None:  # as if .venv were activated, for tools that start others
        env["VIRTUAL_ENV"] = str(VENV)
        env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
        env.pop("PYTHONHOME", None)
    return subprocess.run([exe, *argv[1:]], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

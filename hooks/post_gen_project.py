"""Finish the new project: drop unchosen options, start git and DVC, commit.

Nothing here may kill generation: a missing tool or git identity is reported
with the one command that finishes the job (`make setup` repeats every step
that was skipped), and the project is kept.
"""

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Rendered by cookiecutter through the `quoted` filter: free text cannot break out.
ANSWERS = {
    "project_name": {{ cookiecutter.project_name|quoted }},
    "license": {{ cookiecutter.license|quoted }},
    "github_actions": {{ cookiecutter.github_actions|quoted }},
}
RAW_DATA = Path("data/raw/penguins-raw.csv")


def remove_unchosen(answers: dict, root: Path) -> None:
    if answers["github_actions"] != "yes":
        shutil.rmtree(root / ".github", ignore_errors=True)
    if answers["license"] == "Proprietary":
        (root / "LICENSE").unlink(missing_ok=True)


def git(*args: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def init_git(root: Path) -> str | None:
    """Start a repository on `main`; return why it was skipped, if it was."""
    if shutil.which("git") is None:
        return "git is not installed"
    if not (root / ".git").exists():
        # `git init` then point HEAD at main: works with any git, whatever init.defaultBranch says.
        result = git("init", "--quiet", root=root)
        if result.returncode != 0:
            return f"`git init` failed: {one_line(result.stderr)}"
        git("symbolic-ref", "HEAD", "refs/heads/main", root=root)
    return None


def one_line(text: str) -> str:
    return " ".join(str(text).split()) or "no message"


def undo_dvc(root: Path) -> None:
    """Leave no half-initialised DVC behind: `make setup` redoes the whole step."""
    shutil.rmtree(root / ".dvc", ignore_errors=True)
    for name in (".dvcignore", f"{RAW_DATA}.dvc"):
        (root / name).unlink(missing_ok=True)


def init_dvc(root: Path) -> str | None:
    """`dvc init` + `dvc add` of the bundled data, in-process when DVC is importable.

    In-process saves a second interpreter start and DVC's import (about a second).
    """
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        from dvc.repo import Repo
    except Exception:  # noqa: BLE001 - not installed here (or broken): try the command line
        return init_dvc_cli(root, env)
    os.environ.update(env)
    # DVC's own hints ("git add ...", "enable auto staging") do not apply here: we commit next.
    logging.getLogger("dvc").setLevel(logging.ERROR)
    chatter = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
            Repo.init(os.fspath(root)) as repo,
        ):
            with repo.config.edit() as config:
                config["core"]["analytics"] = False
                config["core"]["autostage"] = True
                config["hydra"]["enabled"] = True
            repo.add(os.fspath(root / RAW_DATA))
    except Exception as exc:  # noqa: BLE001 - any DVC failure is reported, never fatal
        undo_dvc(root)
        return f"DVC failed: {one_line(exc)}"
    return None


def init_dvc_cli(root: Path, env: dict) -> str | None:
    if shutil.which("dvc") is None:
        return "DVC is not installed where cookiecutter runs"
    steps = [
        ["dvc", "init", "--quiet"],
        ["dvc", "config", "core.analytics", "false"],
        ["dvc", "config", "core.autostage", "true"],
        ["dvc", "config", "hydra.enabled", "true"],
        ["dvc", "add", "--quiet", str(RAW_DATA)],
    ]
    for step in steps:
        result = subprocess.run(step, cwd=root, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            undo_dvc(root)
            return f"`{' '.join(step)}` failed: {one_line(result.stderr)}"
    return None


NO_IDENTITY = "git has no identity (user.name and user.email)"


def first_commit(root: Path) -> str | None:
    git("add", "--all", root=root)
    result = git(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        "Start project from the ML experiment template",
        root=root,
    )
    if result.returncode == 0:
        return None
    if "user.email" in result.stderr or "identity" in result.stderr:
        return NO_IDENTITY
    return f"`git commit` failed: {one_line(result.stderr)}"


def main() -> None:
    root = Path.cwd()
    remove_unchosen(ANSWERS, root)
    skipped = []
    why = init_git(root)
    if why:
        skipped.append(f"git repository ({why})")
    else:
        why = init_dvc(root)
        if why:
            skipped.append(f"DVC initialisation ({why})")
        why = first_commit(root)
        if why:
            skipped.append(f"first commit ({why})")
    print(f"Created {ANSWERS['project_name']} in {root}")
    if not skipped:
        print(f"Next: cd {root.name} && make setup")
        return
    print("Skipped for now: " + "; ".join(skipped) + ".")
    finish = f"cd {root.name} && make setup"
    if any(NO_IDENTITY in step for step in skipped):
        finish = (
            f"cd {root.name} && git config --global user.name 'Your Name' && "
            "git config --global user.email you@example.com && make setup"
        )
    print(f"Finish with: {finish}   (make setup does the skipped steps)")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - generation must survive any tool failure
        print(
            f"warning: post-generation step failed ({exc}); "
            "run `make setup` in the project to finish.",
            file=sys.stderr,
        )

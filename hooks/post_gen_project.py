"""Finish the new project: drop unchosen options, start git and DVC, commit.

Nothing here may kill generation: a missing tool or git identity is reported
with the one command that finishes the job (`make setup` repeats every step
that was skipped), and the project is kept.

Nothing here touches what the template did not write: DVC is started only where
it was not, a failed start removes only what it created, and the first commit
holds the template's files and DVC's, named one by one (never `git add --all`),
through whatever git hooks the repository has (never `--no-verify`).
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
    "package_name": {{ cookiecutter.package_name|quoted }},
}
# The template's folder (cookiecutter says; cruft, which renders into an empty temporary
# folder, does not).
REPO_DIR = {{ cookiecutter._repo_dir|default("")|quoted }}
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


# What `dvc init` and `dvc add` of the bundled data write (data/raw/.gitignore is the template's).
DVC_FILES = (".dvc/config", ".dvc/.gitignore", ".dvcignore", f"{RAW_DATA}.dvc")


def undo_dvc(root: Path) -> None:
    """Leave no half-initialised DVC behind: `make setup` redoes the whole step.

    Called only when none of these existed before (init_dvc checks): it removes only
    what this run created, never a `.dvc/` (cache, remotes) that was here.
    """
    shutil.rmtree(root / ".dvc", ignore_errors=True)
    for name in (".dvcignore", f"{RAW_DATA}.dvc"):
        (root / name).unlink(missing_ok=True)


def dvc_present(root: Path) -> list[str]:
    return [name for name in (".dvc", ".dvcignore", f"{RAW_DATA}.dvc") if (root / name).exists()]


def init_dvc(root: Path) -> str | None:
    """`dvc init` + `dvc add` of the bundled data, in-process when DVC is importable.

    In-process saves a second interpreter start and DVC's import (about a second).
    """
    if existed := dvc_present(root):
        return f"{existed[0]} already exists, so DVC was left as it is"
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


def template_files(root: Path, repo_dir: str, package: str) -> set[str]:
    """The project's paths of the files the template holds (the package folder's name
    rendered), or, where the template's folder is unknown, every file in the new project
    but git's (the pre-generation hook refused a folder that held anything but .git)."""
    # A relative template path (`cookiecutter .`) is relative to where cookiecutter started,
    # not to this new project: then there is no template folder to read.
    folders = Path(repo_dir).iterdir() if repo_dir and Path(repo_dir).is_dir() else []
    source = next((p for p in folders if "cookiecutter.project_slug" in p.name), None)
    if source is not None:
        files = (p.relative_to(source) for p in source.rglob("*") if p.is_file())
        return {
            "/".join(package if "cookiecutter." in part else part for part in path.parts)
            for path in files
        }
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts[:1]
    }


def first_commit(root: Path, ours: set[str]) -> str | None:
    """Commit the files named in `ours` that git does not ignore, through the repository's hooks."""
    ignored = git("ls-files", "-z", "--others", "--ignored", "--exclude-standard", root=root)
    if ignored.returncode != 0:
        return f"`git ls-files` failed: {one_line(ignored.stderr)}"
    kept = ours - set(ignored.stdout.split("\0"))
    paths = sorted(path for path in kept if (root / path).exists())
    if not paths:
        return "no new file to commit"
    added = git("add", "--", *paths, root=root)
    if added.returncode != 0:
        return f"`git add` failed: {one_line(added.stderr)}"
    message = "Start project from the ML experiment template"
    result = git("commit", "--quiet", "-m", message, "--", *paths, root=root)
    if result.returncode == 0:
        return None
    if "user.email" in result.stderr or "identity" in result.stderr:
        return NO_IDENTITY
    return f"`git commit` failed: {one_line(result.stderr)}"


def main() -> None:
    root = Path.cwd()
    remove_unchosen(ANSWERS, root)
    ours = template_files(root, REPO_DIR, ANSWERS["package_name"])
    skipped = []
    why = init_git(root)
    if why:
        skipped.append(f"git repository ({why})")
    else:
        why = init_dvc(root)
        if why:
            skipped.append(f"DVC initialisation ({why})")
        else:
            ours |= set(DVC_FILES)
        why = first_commit(root, ours)
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

"""Fast tier: the bake needs nothing but cookiecutter, and never dies on a missing tool.

- From an isolated environment that has only cookiecutter (as `uvx cookiecutter`
  or `pipx run cookiecutter` give): no DVC anywhere, yet generation succeeds, git
  is started and committed, and the message says DVC waits for `make setup`.
- With no git identity: generation succeeds and says how to finish.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import checks


def test_bake_with_only_cookiecutter_skips_dvc_and_says_so(cli, cookiecutter_only):
    probe = subprocess.run([cookiecutter_only, "-c", "import dvc"], capture_output=True)
    assert probe.returncode != 0, "the isolated venv must not have DVC"
    env = {**os.environ, "PATH": checks.path_without("dvc")}
    assert shutil.which("dvc", path=env["PATH"]) is None
    result = cli("--no-input", env=env, python=str(cookiecutter_only))
    assert result.returncode == 0, result.stderr
    assert "DVC initialisation (DVC is not installed where cookiecutter runs)" in result.stdout
    assert "make setup" in result.stdout
    project = cli.out / "penguin-species-classifier"
    assert not (project / ".dvc").exists()
    assert (project / "data" / "raw" / "penguins-raw.csv").exists()
    assert checks.git(project, "branch", "--show-current").strip() == "main"
    assert checks.git(project, "log", "--format=%s").strip()  # the first commit is there
    assert checks.git(project, "status", "--porcelain", "--untracked-files=all") == ""
    assert "data/raw/penguins-raw.csv" not in checks.git(project, "ls-files").split()


def test_bake_without_git_identity_succeeds_and_says_how_to_finish(cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    config = home / ".gitconfig"
    config.write_text("[user]\n\tuseConfigOnly = true\n")  # never guess from user@hostname
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "EMAIL",
        )
    }
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(config), GIT_CONFIG_NOSYSTEM="1")
    result = cli("--no-input", env=env)
    assert result.returncode == 0, result.stderr
    assert "first commit (git has no identity (user.name and user.email))" in result.stdout
    assert "git config --global user.name" in result.stdout
    assert "make setup" in result.stdout
    project = cli.out / "penguin-species-classifier"
    head = subprocess.run(
        ["git", "symbolic-ref", "HEAD"], cwd=project, capture_output=True, text=True, env=env
    )
    assert head.stdout.strip() == "refs/heads/main"
    log = subprocess.run(["git", "log"], cwd=project, capture_output=True, text=True, env=env)
    assert log.returncode != 0  # nothing committed
    assert (project / ".dvc" / "config").exists()  # DVC did not need the identity

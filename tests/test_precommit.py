"""Fast tier: the generated project's pre-commit hooks, run for real on baked projects.

`make lint` (and the generated CI's lint step) is `pre-commit run --all-files`. Here it runs
in freshly baked projects with the hooks' tools from this template's .venv (the project's
hooks call them through scripts/venv_run.py, which takes them from PATH where the project
has no .venv yet) and PRE_COMMIT_HOME in a scratch folder: every hook is local, nothing is
fetched. A fresh project must pass unchanged whatever the length of its name, and the secret
guards must stop what they are there to stop.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import bakery
import checks

NAME = "Bird Songs Of The Antarctic Coast And The Southern Ocean Islands Survey"


def name_of_length(length: int) -> str:
    name = NAME[:length].rstrip()
    assert len(name) == length, "pick a cut that does not end on a space"
    return name


@pytest.mark.parametrize("length", [1, 10, 30, 60])
def test_lint_passes_unchanged_for_every_name_length(tmp_path, length):
    """Issue 14: `make lint` passed for some name lengths only; the README's own example
    `project_name="Bird Songs"` (10 characters) failed `ruff format`."""
    name = name_of_length(length)
    project = bakery.bake(tmp_path / "out", {"project_name": name})
    assert len(project.name) == length  # the folder and the package are as long
    checks.assert_lint_passes_unchanged(project)


# ------------------------------------------------------------------ secret guards


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> Path:
    """A baked project whose hooks are installed, as `make setup` leaves it."""
    project = bakery.bake(tmp_path_factory.mktemp("guarded"))
    result = checks.pre_commit(project, "install")
    assert result.returncode == 0, result.stdout + result.stderr
    return project


IDENTITY = {
    f"GIT_{who}_{key}": value
    for who in ("AUTHOR", "COMMITTER")
    for key, value in (("NAME", "Guard Test"), ("EMAIL", "guard@example.com"))
}


def commit(project: Path, path: str, text: str, env: dict | None = None) -> tuple[int, str]:
    """`git commit` of one new file through the installed hooks, then undone: (exit, output)."""
    (project / path).parent.mkdir(parents=True, exist_ok=True)
    (project / path).write_text(text)
    subprocess.run(["git", "add", "--force", path], cwd=project, check=True)
    head = checks.git(project, "rev-parse", "HEAD")
    result = subprocess.run(
        ["git", "commit", "--quiet", "-m", f"Add {path}"],
        cwd=project,
        capture_output=True,
        text=True,
        env=checks.hooks_env(project, {**IDENTITY, **(env or {})}),
        timeout=300,
    )
    committed = checks.git(project, "rev-parse", "HEAD") != head
    assert committed == (result.returncode == 0), result.stdout + result.stderr
    subprocess.run(["git", "reset", "--quiet", head.strip(), "--", path], cwd=project, check=True)
    subprocess.run(["git", "reset", "--quiet", "--soft", head.strip()], cwd=project, check=True)
    (project / path).unlink()
    return result.returncode, result.stdout + result.stderr


def test_env_files_are_git_ignored(guarded):
    for path in (".env", ".env.local", "conf/.env"):
        (guarded / path).write_text("TOKEN=s3cr3t\n")
    (guarded / ".env.example").write_text("TOKEN=\n")
    status = checks.git(guarded, "status", "--porcelain", "--untracked-files=all")
    assert status.splitlines() == ["?? .env.example"]
    for path in (".env", ".env.local", "conf/.env", ".env.example"):
        (guarded / path).unlink()


AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY9"  # AWS's documented example, reshaped


@pytest.mark.parametrize(
    "path",
    ["src/settings.py", ".env.production.example", "conf/credentials", "notes/keys.md"],
)
def test_your_aws_secret_key_is_refused_anywhere(guarded, path):
    env = {"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}
    text = f'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\nAWS_SECRET = "{AWS_SECRET}"\n'
    code, output = commit(guarded, path, text, env=env)
    assert code != 0
    assert f"AWS secret found in {path}" in output


def test_someone_elses_aws_access_key_id_is_refused(guarded, tmp_path):
    """A key id that is not in your ~/.aws (a teammate's, pasted from a chat) is caught too."""
    env = {"HOME": str(tmp_path), "AWS_SECRET_ACCESS_KEY": ""}
    code, output = commit(guarded, "src/upload.py", 'KEY = "AKIAQ3EGRIJY7EXAMPLE"\n', env=env)
    assert code != 0 and "src/upload.py" in output


def test_aws_credentials_file_keys_are_refused(guarded, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[default]\naws_secret_access_key = {AWS_SECRET}\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    code, output = commit(guarded, "conf/storage.yaml", f"secret: {AWS_SECRET}\n", env=env)
    assert code != 0
    assert "AWS secret found in conf/storage.yaml" in output


def test_no_aws_credentials_configured_is_not_an_error(guarded, tmp_path):
    env = {"HOME": str(tmp_path), "AWS_SECRET_ACCESS_KEY": ""}
    code, output = commit(guarded, "notes/plain.md", "nothing secret\n", env=env)
    assert code == 0, output


PRIVATE_KEYS = {
    "id_rsa": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n",
    "service-account.json": '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n"}\n',
    "deploy/key.pem": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH KEY-----\n",
}


@pytest.mark.parametrize("path", PRIVATE_KEYS)
def test_private_keys_are_refused(guarded, path):
    code, output = commit(guarded, path, PRIVATE_KEYS[path])
    assert code != 0
    assert f"Private key found: {path}" in output


def test_large_files_are_refused_with_the_dvc_way_out(guarded):
    big = "x," * 300_000  # 600 KB
    code, output = commit(guarded, "data/extra.csv", big)
    assert code != 0
    assert "data/extra.csv (586 KB) exceeds 500 KB" in output
    assert "dvc add" in output  # the hook's name says where data belongs
    assert commit(guarded, "data/small.csv", "a,b\n1,2\n")[0] == 0


def test_hooks_are_local_and_run_the_projects_tools():
    """No hook is fetched from git (offline), each runs a tool of the project's .venv (or is
    a pre-commit regex), and the guards are pre-commit-hooks' (not the project's own code)."""
    import yaml

    config = yaml.safe_load(
        (bakery.TEMPLATE_DIR / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    )
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    for hook in hooks.values():
        if hook["language"] == "pygrep":  # pre-commit's built-in regex search: no tool at all
            continue
        assert hook["entry"].startswith("python3 scripts/venv_run.py "), hook["id"]
        assert hook["language"] == "system", hook["id"]
    assert "--maxkb=500" in hooks["check-added-large-files"]["entry"]
    assert "--allow-missing-credentials" in hooks["detect-aws-credentials"]["entry"]
    assert "detect-private-key" in hooks
    assert not any(".checks" in hook["entry"] for hook in hooks.values())

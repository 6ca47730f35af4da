"""Generated projects follow their template with cruft (`.cruft.json` records where from).

Slow tier, end to end: the template as it is now is committed to a scratch git repository;
`cruft create` makes a project from it; `make setup` installs it (CPU PyTorch, as the
other slow tests). The intern commits an edit of their own (through the pre-commit hooks);
the template gets a commit (a rendered line that uses an answer, and a new experiment file);
`cruft check` reports the project behind; `cruft update -y` brings the change in with the
answers re-applied and the intern's edit kept; `cruft check` passes; the result commits
through the hooks; and the project's fast tests pass (`pytest -m "not slow"`, the new
experiment included: they compose every experiment file). The slow ones re-run the pipeline
and are covered by the other slow tests; the tests are run once, after the update (the
freshly baked project's own tests are the setup tests' job).

`README_COMMANDS` are the generated README's "Get template updates" commands, run here as
written; tests/test_readme_commands.py counts them as exercised.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bakery

README_COMMANDS = (
    "cruft check",
    "cruft update -y",
    "git status",
    "git diff HEAD",
    "cruft link <template url>",
)
SLUG = bakery.default_slug()
BUNDLED_DATA = "{{cookiecutter.project_slug}}/data/raw/penguins-raw.csv"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "template-test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "template-test@example.com",
}
NEW_EXPERIMENT = """\
# @package _global_
# Added by a template update: a logistic regression with a weaker penalty.
defaults:
  - override /model: logreg

model:
  C: 10.0
"""


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **IDENTITY}
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def test_template_repository_tracks_the_bundled_data():
    """The project's data/raw/.gitignore hides the CSV from the template's own git too: it
    must be force-added, or a clone of the template (cookiecutter gh:..., cruft) has no data."""
    if not (bakery.ROOT / ".git").exists():
        pytest.skip("the template is not a git checkout here")
    tracked = git("ls-files", "--", BUNDLED_DATA, cwd=bakery.ROOT).split()
    assert tracked == [BUNDLED_DATA], f"run: git add -f '{BUNDLED_DATA}'"


def copy_template(dest: Path) -> Path:
    """The template's working tree (tracked and new files, not ignored ones) as a git repo."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=bakery.ROOT)
    files = {f for f in listed.split("\0") if f and (bakery.ROOT / f).is_file()}
    files.add(BUNDLED_DATA)  # see test_template_repository_tracks_the_bundled_data
    for name in sorted(files):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(bakery.ROOT / name, target)
    git("init", "--quiet", cwd=dest)
    git("add", "--all", "--force", cwd=dest)
    git("commit", "--quiet", "--no-verify", "-m", "Template as tested", cwd=dest)
    return dest


def run(
    *cmd: str | Path, cwd: Path, env: dict[str, str], input: str = "", check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert result.returncode == 0, (
            f"`{' '.join(map(str, cmd))}` failed "
            f"({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


@pytest.mark.slow
def test_cruft_update_brings_template_changes_in(tmp_path):
    template = copy_template(tmp_path / "template")
    out = tmp_path / "projects"
    out.mkdir()
    bake_env = {**bakery.bake_env(), **IDENTITY}
    run(
        sys.executable,
        "-m",
        "cruft",
        "create",
        template,
        "--no-input",
        "--output-dir",
        out,
        cwd=tmp_path,
        env=bake_env,
    )
    path = out / SLUG
    assert '"template"' in (path / ".cruft.json").read_text()
    git("add", ".cruft.json", cwd=path)  # cruft writes it after the post-generation commit
    git("commit", "--quiet", "-m", "Record the template version", cwd=path)

    project = bakery.Project(path, {**bakery.project_env(path), **IDENTITY})
    bakery.set_up(project)

    # The intern's own edit, committed through the project's pre-commit hooks.
    card = path / "docs" / "dataset_card.md"
    card.write_text(card.read_text() + "\nOur own notes, kept across template updates.\n")
    project.run("git", "commit", "--quiet", "-am", "Notes on the data")

    # The template improves.
    project_dir = template / "{{cookiecutter.project_slug}}"
    readme = project_dir / "README.md"
    readme.write_text(
        readme.read_text() + "\n## Template news\n\nThis section reached "
        "{{ cookiecutter.project_name|one_line }} by `cruft update`.\n"
    )
    (project_dir / "conf" / "experiment" / "logreg_strong.yaml").write_text(NEW_EXPERIMENT)
    git("add", "--all", cwd=template)
    git("commit", "--quiet", "-m", "Template improvement", cwd=template)
    new_commit = git("rev-parse", "HEAD", cwd=template).strip()

    check, update, status, diff, _ = README_COMMANDS
    behind = project.run(*check.split(), check=False)
    assert behind.returncode != 0 and "out of date" in behind.stdout + behind.stderr
    project.run(*update.split())
    changed = project.run(*status.split()).stdout
    assert "README.md" in changed and "logreg_strong.yaml" in changed
    assert "This section reached Penguin Species Classifier" in project.run(*diff.split()).stdout
    assert (
        (path / "README.md")
        .read_text()
        .endswith("This section reached Penguin Species Classifier by `cruft update`.\n")
    )
    assert (path / "conf" / "experiment" / "logreg_strong.yaml").read_text() == NEW_EXPERIMENT
    assert "Our own notes, kept across template updates." in card.read_text()
    assert new_commit in (path / ".cruft.json").read_text()
    project.run(*check.split())

    project.run("git", "add", "--all")
    project.run("git", "commit", "--quiet", "-m", "Update from the template")
    project.venv("pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider")
    print("\n".join(project.log))


def test_cruft_link_for_a_project_made_with_plain_cookiecutter(tmp_path):
    template = copy_template(tmp_path / "template")
    path = bakery.bake(tmp_path / "out", template=template)
    link = README_COMMANDS[-1].replace("<template url>", str(template)).split()
    env = {**bakery.bake_env(), **IDENTITY}
    # It asks every answer again, then the commit: Enter keeps the defaults we baked with.
    run(sys.executable, "-m", *link, cwd=path, env=env, input="\n" * 40)
    assert (path / ".cruft.json").exists()
    run(sys.executable, "-m", "cruft", "check", cwd=path, env=env)

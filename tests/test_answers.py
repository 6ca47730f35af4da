"""Fast tier: hostile answers, through the real `cookiecutter` command line.

Bad answers stop generation with one line per problem (the field, the bad value,
a valid example), a non-zero exit and nothing written. Odd but valid free text
bakes into a project whose files all parse and say exactly what was typed.

Two paths reach the template: values typed at the prompt are used as typed;
values given on the command line (`key=value`, extra_context) are Jinja templates
to cookiecutter, which renders them first (`{{ 6 * 7 }}` becomes `42`).
"""

from __future__ import annotations

import ast
import contextlib
import os
import resource
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

import bakery
import checks
import local_extensions as ext

BAD = [
    ("project_name", "   "),
    ("project_name", "A very long name " * 4),
    ("project_name", "Escape \x1b[31m sequence"),
    ("project_name", "Delete \x7f char"),
    ("project_slug", "My Project"),
    ("project_slug", "1st-project"),
    ("project_slug", "-leading-dash"),
    ("project_slug", "UPPER"),
    ("project_slug", "a/b"),
    ("project_slug", "../escape"),
    ("project_slug", "semi;colon"),
    ("project_slug", "trailing-dash-"),
    ("project_slug", "trailing_underscore_"),
    ("project_slug", "con"),
    ("project_slug", "aux"),
    ("project_slug", "nul"),
    ("project_slug", "com1"),
    ("project_slug", "s" * 256),
    ("package_name", "test"),
    ("package_name", "tests"),
    ("package_name", "torch"),
    ("package_name", "mlflow"),
    ("package_name", "dvc"),
    ("package_name", "hydra"),
    ("package_name", "sklearn"),
    ("package_name", "numpy"),
    ("package_name", "os"),
    ("package_name", "class"),
    ("package_name", "match"),
    ("package_name", "2fast"),
    ("package_name", "my-package"),
    ("package_name", "MyPackage"),
    ("package_name", "naïve"),
    ("package_name", "src"),
    ("package_name", "tqdm"),
    ("package_name", "requests"),
    ("package_name", "click"),
    ("package_name", "rich"),
    ("package_name", "packaging"),
    ("package_name", "jinja2"),
    ("package_name", "sqlalchemy"),
    ("package_name", "flask"),
    ("package_name", "git"),
    ("package_name", "__pycache__"),
    ("package_name", "outputs"),
    ("package_name", "mlruns"),
    ("package_name", "lpt1"),
    ("package_name", "p" * 61),
    ("author_name", "Ada\nIntern"),
    ("author_name", "Ada \x1b Intern"),
    ("author_email", "🐧@example.com"),
    ("author_email", "a,b@example.com"),
    ("author_email", "a>@example.com"),
    ("author_email", "not-an-email"),
    ("author_email", "ada@localhost"),
    ("author_email", "ada lovelace@example.com"),
    ("author_email", ""),
    ("python_version", "2.7"),
    ("python_version", "3.9"),
    ("python_version", "3.14"),
    ("description", "Bell \x07 and escape \x1b"),
    ("description", "Delete \x7f"),
]

ODD = {
    "quotes": ('O\'Brien "The Penguin" Lab', 'Ada "Countess" O\'Lovelace', "Says \"hi\" and 'bye'"),
    "backslashes": ("C:\\new\\table \\\\server\\", "Back\\slash", "ends with a backslash \\"),
    "unicode": ("Manchots d'Adélie — 企鹅 🐧", "Zoë Ünal-Łukasiewicz", "Ωμέγα 👩‍🔬 ✨"),
    "rtl": ("פינגווינים \u200fمرحبا", "אדה", "نص من اليمين إلى اليسار"),
    "interpolation": ("${oc.env:HOME} ${x} \\${y}", "${USER}", "costs $5 or ${ 6 }"),
    "yaml_specials": ("# not a comment: really", "- dash: colon", "&anchor *alias !tag %p @a"),
    "leading_spaces": ("   Spaced Out", "  Ada  ", "  two  spaces  "),
    "keywords": ("yes", "null", "~"),
    "triple_quotes": ('"""Docstring""" breaker', "'''x'''", 'ends with quote"'),
    "markup": ("<script>alert(1)</script> *bold* | pipe", "[link](x)", "`tick` _em_"),
}


def assert_clean_failure(result, tmp_out: Path, field: str, value: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "no message"
    assert all(line.startswith("error: ") for line in lines), result.stderr
    assert any(
        line.startswith(f"error: {field} {value!r} ") and "e.g. '" in line for line in lines
    ), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert list(tmp_out.iterdir()) == [], "something was written"


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_bad_answer_fails_cleanly(cli, field, value):
    result = cli("--no-input", f"{field}={value}")
    assert_clean_failure(result, cli.out, field, value)


def test_bad_answer_typed_at_the_prompt_fails_cleanly(cli):
    # name, slug, package, author, email, description, python, licence, workflow
    typed = ["Penguins", "penguins", "torch", "", "", "", "", "", ""]
    result = cli(input="\n".join(typed) + "\n")
    assert_clean_failure(result, cli.out, "package_name", "torch")


def test_pre_gen_hook_catches_what_the_early_check_would(cli):
    """Without the early check (a replay, an older context), the hook still refuses."""
    result = cli("--no-input", "package_name=torch", "__answers_checked=skipped")
    assert result.returncode != 0
    assert "error: package_name 'torch' would shadow" in result.stderr
    assert list(cli.out.iterdir()) == []


def test_existing_folder_is_never_overwritten(cli):
    existing = cli.out / "penguin-species-classifier"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    result = cli("--no-input")
    assert result.returncode != 0
    assert "already exists" in result.stdout + result.stderr
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]
    assert (existing / "keep.txt").read_text() == "mine"


def test_existing_folder_survives_a_failed_overwrite(cli):
    existing = cli.out / "penguin-species-classifier"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    result = cli("--no-input", "--overwrite-if-exists", "author_email=nope")
    assert result.returncode != 0
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (git's own included) and its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def set_up_project(cli) -> Path:
    """A baked project as weeks of work leave it: a secret in .env, a DVC remote, its own
    data, and history of its own on top of the template's commit."""
    result = cli("--no-input")
    assert result.returncode == 0, result.stderr
    project = cli.out / "penguin-species-classifier"
    (project / ".env").write_text("MLFLOW_TRACKING_PASSWORD=hunter2\n")
    with (project / ".dvc" / "config").open("a") as config:
        config.write("['remote \"storage\"']\n    url = /srv/dvc-storage\n")
    (project / "data" / "raw" / "field-notes.csv").write_text("site,count\nA,3\n")
    (project / "README.md").write_text("# My own README\n")
    checks.git(project, "commit", "--quiet", "--no-verify", "-am", "My work")
    return project


@pytest.mark.parametrize("early_check", ["on", "skipped"])
def test_overwriting_a_set_up_project_is_refused_and_changes_nothing(cli, early_check):
    """Issue 14: `cookiecutter -f` over a set-up project deleted `.dvc/` and committed `.env`."""
    project = set_up_project(cli)
    before = tree(project)
    head = checks.git(project, "rev-parse", "HEAD")
    answers = ["__answers_checked=skipped"] if early_check == "skipped" else []
    result = cli("--no-input", "--overwrite-if-exists", *answers)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: project_slug 'penguin-species-classifier': the folder ")
    assert "already holds files" in errors[0] and "e.g. '" in errors[0]
    if early_check == "on":  # refused before cookiecutter starts: no traceback either
        assert result.stderr.strip() == errors[0]
        assert "Traceback" not in result.stdout + result.stderr
    assert tree(project) == before
    assert checks.git(project, "rev-parse", "HEAD") == head


def test_overwrite_into_an_empty_folder_or_a_fresh_clone_bakes(cli):
    """`-f` into an empty folder, or one holding only .git (a clone of an empty repository),
    is not an overwrite: the bake goes ahead."""
    for name, slug in (("Empty", "empty"), ("Cloned", "cloned")):
        (cli.out / slug).mkdir()
        if name == "Cloned":
            checks.git(cli.out / slug, "init", "--quiet")
        result = cli("--no-input", "-f", f"project_name={name}")
        assert result.returncode == 0, result.stderr
        assert checks.git(cli.out / slug, "log", "--format=%s").strip()
        assert checks.git(cli.out / slug, "status", "--porcelain") == ""


@pytest.mark.parametrize("field", ["project_name", "author_name", "description"])
def test_nul_in_free_text_fails_cleanly(tmp_path, capsys, field):
    """NUL cannot be passed on a command line; cookiecutter's Python API takes it."""
    value = "Pen\x00guins"
    with pytest.raises(SystemExit) as stop:
        bakery.bake(tmp_path / "out", {field: value})
    assert stop.value.code == 1
    assert capsys.readouterr().err.startswith(f"error: {field} {value!r} holds the control ")
    assert list((tmp_path / "out").iterdir()) == []


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """A small file system mounted at `folder` (root only; skips elsewhere)."""
    folder.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextlib.contextmanager
def read_only_folder(folder: Path):
    if os.geteuid() == 0:  # permissions do not stop root: a read-only file system does
        with tmpfs(folder, "ro,size=1m") as mounted:
            yield mounted
        return
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


def test_read_only_output_folder_fails_cleanly(cli, tmp_path):
    with read_only_folder(tmp_path / "read-only") as folder:
        result = cli("--no-input", f"--output-dir={folder / 'projects'}")
        assert result.returncode != 0
        assert result.stderr.startswith(f"error: output_dir '{folder}/projects' cannot be written")
        assert "e.g. '" in result.stderr and len(result.stderr.splitlines()) == 1
        assert "Traceback" not in result.stdout + result.stderr
        assert list(folder.iterdir()) == []


def test_full_output_folder_fails_cleanly(cli, tmp_path):
    with tmpfs(tmp_path / "full", "size=2m") as folder:
        result = cli("--no-input", f"--output-dir={folder}")
        assert result.returncode != 0
        assert result.stderr.startswith(f"error: output_dir '{folder}' has 2 MB free")
        assert "e.g. '" in result.stderr and len(result.stderr.splitlines()) == 1
        assert list(folder.iterdir()) == []


def test_disk_filling_up_while_writing_leaves_nothing(cli):
    """The write fails half-way (as when the disk fills up meanwhile): one line, no folder.
    Simulated with a file size limit, which any user may set: writes past it fail."""

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))  # the raw CSV is 53 KB

    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(bakery.ROOT)],
        cwd=cli.out,
        capture_output=True,
        text=True,
        env=bakery.bake_env(),
        preexec_fn=small_files,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("error: project_slug 'penguin-species-classifier': writing ")
    assert "File too large" in result.stderr and "nothing was left behind" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stdout
    assert list(cli.out.iterdir()) == []


def assert_says_what_was_typed(project: Path, name: str, author: str, description: str) -> None:
    assert checks.unrendered(project) == [] or "{" in name + author + description
    assert checks.parse_errors(project) == []
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["description"] == description
    assert meta["authors"][0]["name"] == author
    conf = OmegaConf.load(project / "conf" / "config.yaml")
    assert OmegaConf.to_container(conf, resolve=True)["tracking"]["experiment"] == name
    params = project / "params.yaml"
    if params.exists():
        assert yaml.safe_load(params.read_text(encoding="utf-8"))["tracking"]["experiment"] == name
    readme = project / "README.md"
    if readme.exists():
        assert ext.one_line(name) in readme.read_text(encoding="utf-8")
    package = next((project / "src").iterdir())
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text("utf-8")))
    assert docstring.startswith(ext.one_line(name))
    # The Python files holding the answers stay lint-clean (the whole project is linted
    # per combination in test_generation.py). Short answers ("yes") would match anything.
    forms = {
        f(text)
        for text in (name, author, description)
        if len(text.strip()) >= 8
        for f in (ext.docstring, ext.quoted, ext.hydra_quoted)
    }
    holders = {str((package / "__init__.py").relative_to(project))}
    holders |= {
        str(path.relative_to(project))
        for path in project.rglob("*.py")
        if any(f in path.read_text("utf-8") for f in forms)
    }
    for ruff_args in (("check",), ("format", "--check")):
        result = checks.ruff(project, *ruff_args, *sorted(holders))
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("kind", ODD)
def test_odd_free_text_bakes_and_reads_back(cli, kind):
    name, author, description = ODD[kind]
    result = cli(
        "--no-input",
        f"project_name={name}",
        f"author_name={author}",
        f"description={description}",
        "project_slug=odd-project",
        "package_name=odd_project",
    )
    assert result.returncode == 0, result.stderr
    assert "Skipped" not in result.stdout, result.stdout  # git, DVC and the commit all done
    assert_says_what_was_typed(cli.out / "odd-project", name, author, description)


def test_jinja_typed_at_the_prompt_is_kept_as_text(cli):
    name = "{{ cookiecutter.project_slug }} ${{ github.sha }} {% raw %}"
    author = "{# not a comment #} {{ 6 * 7 }}"
    description = "{%- if x %}{{ '}}' }}"
    typed = [name, "braces", "braces", author, "ada@example.com", description, "3.12", "2", "1"]
    result = cli(input="\n".join(typed) + "\n")
    assert result.returncode == 0, result.stderr
    project = cli.out / "braces"
    assert_says_what_was_typed(project, name, author, description)
    assert checks.pyproject(project)["project"]["license"] == "BSD-3-Clause"


def test_the_prompt_strips_surrounding_spaces(cli):
    """Cookiecutter's prompt trims what is typed; --no-input keeps it (see leading_spaces)."""
    typed = ["   Spaced Out  ", "spaced", "spaced", "  Ada", "", "  d  ", "", "", ""]
    result = cli(input="\n".join(typed) + "\n")
    assert result.returncode == 0, result.stderr
    assert_says_what_was_typed(cli.out / "spaced", "Spaced Out", "Ada", "d")


def test_command_line_values_are_jinja_templates_to_cookiecutter(cli):
    """`key=value` on the command line is rendered by cookiecutter before we see it."""
    result = cli(
        "--no-input",
        "project_name=Lab {{ 6 * 7 }}",
        "description={% raw %}{{ literal }}{% endraw %}",
    )
    assert result.returncode == 0, result.stderr
    project = cli.out / "lab-42"
    assert_says_what_was_typed(project, "Lab 42", "Ada Intern", "{{ literal }}")


def test_undefined_jinja_on_the_command_line_fails_without_output(cli):
    result = cli("--no-input", "project_name={{ nope }}")
    assert result.returncode != 0
    assert list(cli.out.iterdir()) == []


def test_code_injection_into_the_hooks_does_nothing(cli):
    evil = 'x"; import os; os.system("touch pwned"); y = "'  # the hooks run in the project
    result = cli(
        "--no-input",
        f"project_name={evil}",
        f"author_name={evil}",
        "project_slug=evil",
        "package_name=evil",
    )
    assert result.returncode == 0, result.stderr
    assert not list(cli.out.rglob("pwned"))
    assert_says_what_was_typed(cli.out / "evil", evil, evil, bakery.DEFAULTS["description"])


def test_multi_line_text_from_the_command_line(cli):
    name, description = "Two\nLines", "first line\nsecond line\n"
    result = cli(
        "--no-input",
        f"project_name={name}",
        f"description={description}",
        "project_slug=two-lines",
        "package_name=two_lines",
    )
    assert result.returncode == 0, result.stderr
    assert_says_what_was_typed(cli.out / "two-lines", name, "Ada Intern", description)

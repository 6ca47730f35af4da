"""Unit tests of the escaping filters and of the hooks' functions.

The hooks are Jinja templates: each test renders the real hook file with
cookiecutter's own Jinja environment and our extension, for the answers it
needs, and imports the result. That is the exact path cookiecutter takes, so
the escaping of the answers into the hook's Python is tested too.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest
import yaml
from cookiecutter.environment import StrictEnvironment
from omegaconf import OmegaConf

import bakery
import dependency_modules
import local_extensions as ext
import test_answers

HOOKS = bakery.ROOT / "hooks"
TRICKY = [
    "plain",
    "",
    "double \"quotes\" and 'single'",
    "back\\slash \\n \\u0041 \\\\ end\\",
    "unicode: Adélie, 企鹅, Ωμέγα, emoji 🐧🐧",
    "rtl: פינגווין مرحبا \u200f mark",
    "control: tab\there, bell\a, nul-free \x7f del, \u2028 line sep",
    "newline\nsecond line\r\nthird",
    "${oc.env:HOME} ${x} \\${y} $ { $",
    "# hash: colon, - dash, [list], {map}, &anchor *alias !tag %pct @at `tick`",
    "   leading and trailing spaces   ",
    "\"\"\"triple\"\"\" and '''triple'''",
    "{{ cookiecutter.project_slug }} {% raw %} {# c #}",
    'end with quote"',
    "yes",
    "null",
    "~",
    "1e3",
]


def jinja_env() -> StrictEnvironment:
    """Cookiecutter's own Jinja environment, with the template's extensions loaded."""
    extensions = {"cookiecutter": {"_extensions": bakery.ANSWERS["_extensions"]}}
    return StrictEnvironment(context=extensions, keep_trailing_newline=True)


def render_hook(name: str, **answers: str) -> types.ModuleType:
    """Render hooks/<name>.py for these answers (defaults for the rest) and import it."""
    context = {
        **bakery.DEFAULTS,
        "project_slug": bakery.default_slug(),
        "package_name": bakery.default_slug().replace("-", "_"),
        **answers,
    }
    source = (HOOKS / f"{name}.py").read_text(encoding="utf-8")
    code = jinja_env().from_string(source).render(cookiecutter=context)
    module = types.ModuleType(name)
    module.__file__ = str(HOOKS / f"{name}.py")
    exec(compile(code, module.__file__, "exec"), module.__dict__)  # noqa: S102
    return module


# ------------------------------------------------------------------ filters


@pytest.mark.parametrize("text", TRICKY)
def test_quoted_reads_back_in_toml_yaml_and_python(text):
    literal = ext.quoted(text)
    assert "\n" not in literal
    assert tomllib.loads(f"v = {literal}")["v"] == text
    assert yaml.safe_load(f"v: {literal}")["v"] == text
    assert ast.literal_eval(literal) == text


@pytest.mark.parametrize("text", TRICKY)
def test_hydra_quoted_reads_back_through_omegaconf(text):
    literal = ext.hydra_quoted(text)
    config = OmegaConf.create(f"v: {literal}\n")
    assert OmegaConf.to_container(config, resolve=True)["v"] == text


@pytest.mark.parametrize("text", TRICKY)
def test_json_quoted_reads_back(text):
    assert json.loads(ext.json_quoted(text)) == text


@pytest.mark.parametrize("text", TRICKY)
def test_docstring_reads_back_as_one_line(text):
    module = ast.parse(f'"""{ext.docstring(text)}: more."""\n')
    assert ast.get_docstring(module, clean=False) == f"{ext.one_line(text)}: more."


def test_one_line_folds_whitespace():
    assert ext.one_line("  a\nb\t c  ") == "a b c"


# ------------------------------------------------------------------ pre_gen_project

VALID = {
    "project_name": "Penguins",
    "project_slug": "penguins",
    "package_name": "penguins",
    "author_name": "Ada Intern",
    "author_email": "ada@example.com",
    "description": "Penguins, reproducibly.",
    "python_version": "3.11",
}


def test_pre_gen_accepts_the_defaults():
    hook = render_hook("pre_gen_project")
    assert hook.validate(hook.ANSWERS) == []


# Beside every hostile answer of the command-line matrix: those a command line cannot carry.
UNIT_ONLY = [
    ("project_name", "nul \x00"),
    ("author_name", "Ada\x00"),
    ("description", "nul \x00"),
    ("project_slug", ""),
    ("package_name", "json"),
    ("package_name", "tomllib"),  # 3.11+: refused when cookiecutter runs on 3.10 too
    ("package_name", "cgi"),  # removed in 3.13: refused when cookiecutter runs on 3.13 too
]


@pytest.mark.parametrize(("field", "value"), [*UNIT_ONLY, *test_answers.BAD])
def test_pre_gen_rejects_with_one_line_naming_field_value_and_example(field, value):
    hook = render_hook("pre_gen_project")
    errors = hook.validate({**VALID, field: value})
    assert len(errors) == 1
    (error,) = errors
    assert "\n" not in error
    assert error.startswith(f"{field} {value!r} ")
    assert "e.g. '" in error


@pytest.mark.parametrize("value", ["penguins", "penguin_species", "p2", "_private"])
def test_pre_gen_accepts_good_package_names(value):
    assert render_hook("pre_gen_project").check_package_name(value) is None


@pytest.mark.parametrize("value", ["Zoë Ünal-Łukasiewicz", 'O\'Brien "Lab"', "Ada, Countess"])
def test_pre_gen_accepts_author_names_package_metadata_accepts(value):
    assert render_hook("pre_gen_project").check_author_name(value) is None


AUTHORS = [
    ("Ada Intern", "ada.intern@example.com"),
    ("Zoë Ünal-Łukasiewicz", "zoe+ml@example.co.uk"),
    ('O\'Brien "Lab", Ada <x>', "o_brien@sub.example.org"),
    ("Ada\nIntern", "ada@example.com"),
    ("Ada\rIntern", "ada@example.com"),
    ("Ada", "🐧@example.com"),
    ("Ada", "a,b@example.com"),
    ("Ada", "a>@example.com"),
    ("Ada", "a<b@example.com"),
    ("Ada", "a@b@example.com"),
    ("Ada", "a b@example.com"),
    ("Ada", "a;b@example.com"),
    ("Ada", "ada@exa mple.com"),
    ("Ada", ".ada@example.com"),
    ("Ada", "ada.@example.com"),
    ("Ada", "a..b@example.com"),
]


@pytest.mark.parametrize(("name", "email"), AUTHORS)
def test_pre_gen_refuses_every_author_the_build_backend_refuses(name, email):
    """Issue 14: names and e-mails the build backend (hatchling) rejects at `make setup`
    baked fine. The hook refuses first what the backend would (and accepts what it would)."""
    from hatchling.metadata.core import ProjectMetadata

    project = {"name": "p", "version": "1", "authors": [{"name": name, "email": email}]}
    try:
        ProjectMetadata(".", None, {"project": project}).core.authors_data  # noqa: B018
    except Exception:  # noqa: BLE001 - any refusal of the backend
        backend_accepts = False
    else:
        backend_accepts = True
    hook = render_hook("pre_gen_project")
    hook_accepts = not hook.check_author_name(name) and not hook.check_author_email(email)
    assert hook_accepts == backend_accepts  # the hook is stricter elsewhere: ada@localhost


def test_pre_gen_refuses_every_name_the_generated_gitignore_ignores():
    """A package folder named like an unanchored .gitignore pattern would never reach git."""
    hook = render_hook("pre_gen_project")
    gitignore = (bakery.TEMPLATE_DIR / ".gitignore").read_text(encoding="utf-8")
    samples = []
    for line in gitignore.splitlines():
        pattern = line.strip().rstrip("/")
        if not pattern or pattern[0] in "#!" or "/" in pattern:
            continue  # comments, exceptions, and patterns anchored to one path
        sample = pattern.replace("*", "x")
        if re.fullmatch(r"[a-z_][a-z0-9_]*", sample):
            samples.append(sample)
    assert {"__pycache__", "outputs", "multirun"} <= set(samples)
    for sample in samples:
        assert "gitignore" in (hook.check_package_name(sample) or ""), sample


def test_dependency_modules_cover_the_direct_dependencies_and_the_reported_names():
    """The list is generated (scripts/dependency_modules.py); the slow tier checks it against
    a set-up project's .venv. Here: it is there, in the generated form, and names the
    modules of every direct dependency and each name the hostile-answer report found."""
    hook = render_hook("pre_gen_project")
    text = (HOOKS / "pre_gen_project.py").read_text(encoding="utf-8")
    listed = dependency_modules.listed_modules(text)
    assert listed == set(hook.DEPENDENCY_MODULES)
    start = text.index(dependency_modules.BEGIN)
    assert text[start:].startswith(dependency_modules.block(listed)), "edited by hand?"
    direct = {"dvc", "hydra", "matplotlib", "mlflow", "numpy", "optuna", "pandas", "yaml"}
    direct |= {"ruamel", "sklearn", "threadpoolctl", "torch", "tqdm", "jupytext", "pytest"}
    reported = {"requests", "click", "rich", "packaging", "jinja2", "sqlalchemy", "flask", "git"}
    assert direct | reported <= listed


def test_pre_gen_answers_survive_escaping_and_cannot_inject(tmp_path):
    marker = tmp_path / "pwned"
    evil = f'x", "y": __import__("os").system("touch {marker}"), "z": "'
    hook = render_hook("pre_gen_project", project_name=evil, author_email=evil)
    assert hook.ANSWERS["project_name"] == evil
    assert hook.ANSWERS["author_email"] == evil
    assert not marker.exists()


@pytest.mark.parametrize("text", TRICKY)
def test_post_gen_answers_read_back_exactly(text):
    assert render_hook("post_gen_project", project_name=text).ANSWERS["project_name"] == text


def test_check_answers_filter_runs_the_hook_checks(capsys):
    env = jinja_env()
    answers = {**bakery.DEFAULTS, **VALID}
    assert env.from_string("{{ cookiecutter|check_answers }}").render(cookiecutter=answers) == "yes"
    with pytest.raises(SystemExit) as exit_:
        env.from_string("{{ cookiecutter|check_answers }}").render(
            cookiecutter={**answers, "package_name": "mlflow"}
        )
    assert exit_.value.code == 1
    assert capsys.readouterr().err.startswith("error: package_name 'mlflow' would shadow")


def test_write_failure_hook_leaves_other_errors_and_folders_alone(tmp_path, monkeypatch):
    """Only a write that fails inside cookiecutter's generate_files removes the new folder: an
    OSError after the bake (a script that bakes, then fails) must never delete the project."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    shown = []
    project = tmp_path / "project"
    project.mkdir()
    ext.report_write_failures(project, existed=False)
    assert sys.excepthook is ext.write_failure_hook
    monkeypatch.setitem(ext.WRITING, "previous", lambda *error: shown.append(error))
    try:
        raise OSError(28, "No space left on device")
    except OSError as error:
        ext.write_failure_hook(OSError, error, error.__traceback__)
    assert project.is_dir() and len(shown) == 1


# ------------------------------------------------------------------ post_gen_project


@pytest.fixture
def post_hook():
    return render_hook("post_gen_project")


@pytest.fixture
def project_tree(tmp_path) -> Path:
    root = tmp_path / "proj"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (root / "LICENSE").write_text("MIT\n")
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "penguins-raw.csv").write_text("a,b\n1,2\n")
    (raw / ".gitignore").write_text("/penguins-raw.csv\n")
    (root / "README.md").write_text("# p\n")
    return root


@pytest.mark.parametrize(("license_", "actions"), [("MIT", "yes"), ("Proprietary", "no")])
def test_remove_unchosen(post_hook, project_tree, license_, actions):
    post_hook.remove_unchosen({"license": license_, "github_actions": actions}, project_tree)
    assert (project_tree / "LICENSE").exists() == (license_ != "Proprietary")
    assert (project_tree / ".github").exists() == (actions == "yes")


def test_init_git_starts_main_whatever_the_default_branch(
    post_hook, project_tree, monkeypatch, tmp_path
):
    config = tmp_path / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = trunk\n[user]\n\tname = T\n\temail = t@x.org\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    assert post_hook.init_git(project_tree) is None
    head = subprocess.run(
        ["git", "symbolic-ref", "HEAD"], cwd=project_tree, capture_output=True, text=True
    ).stdout.strip()
    assert head == "refs/heads/main"


def test_init_dvc_tracks_the_raw_data(post_hook, project_tree, monkeypatch):
    monkeypatch.chdir(project_tree)
    assert post_hook.init_git(project_tree) is None
    assert post_hook.init_dvc(project_tree) is None
    assert (project_tree / ".dvc" / "config").exists()
    dvc_file = yaml.safe_load((project_tree / "data/raw/penguins-raw.csv.dvc").read_text())
    assert dvc_file["outs"][0]["path"] == "penguins-raw.csv"
    config = (project_tree / ".dvc" / "config").read_text()
    assert "autostage = True" in config and "enabled = True" in config


def test_init_dvc_failure_is_reported_and_undone(post_hook, project_tree, monkeypatch):
    monkeypatch.chdir(project_tree)
    (project_tree / "data/raw/penguins-raw.csv").unlink()  # `dvc add` must fail
    assert post_hook.init_git(project_tree) is None
    why = post_hook.init_dvc(project_tree)
    assert why and why.startswith("DVC failed: ") and "\n" not in why
    assert not (project_tree / ".dvc").exists()
    assert not (project_tree / ".dvcignore").exists()


def test_first_commit_without_identity_says_so(post_hook, project_tree, monkeypatch, tmp_path):
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tuseConfigOnly = true\n")
    for var in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    assert post_hook.init_git(project_tree) is None
    assert post_hook.first_commit(project_tree, {"README.md"}) == post_hook.NO_IDENTITY


def test_main_survives_a_missing_git(post_hook, project_tree, monkeypatch, capsys):
    monkeypatch.chdir(project_tree)
    monkeypatch.setenv("PATH", os.fspath(project_tree))  # no git, no dvc
    post_hook.main()
    out = capsys.readouterr().out
    assert "Skipped for now: git repository (git is not installed)" in out
    assert "make setup" in out
    assert not (project_tree / ".git").exists()


@pytest.fixture
def identity(monkeypatch):
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Hook Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "hook-test@example.com")


def committed(root: Path) -> list[str]:
    return subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()


def test_main_keeps_a_dvc_setup_it_finds(post_hook, project_tree, monkeypatch, capsys, identity):
    """Issue 14: the hook deleted `.dvc/` (cache, remote), `.dvcignore` and the data's .dvc file
    when `dvc init` found them. What it did not create, it leaves alone."""
    monkeypatch.chdir(project_tree)
    (project_tree / ".dvc" / "cache").mkdir(parents=True)
    found = {
        ".dvc/config": "[core]\n    remote = storage\n['remote \"storage\"']\n    url = /srv/dvc\n",
        ".dvc/cache/blob": "cached data",
        ".dvcignore": "# mine\n",
        "data/raw/penguins-raw.csv.dvc": "outs:\n- md5: 0\n  path: penguins-raw.csv\n",
    }
    for path, text in found.items():
        (project_tree / path).write_text(text)
    post_hook.main()
    assert "DVC initialisation (.dvc already exists, so DVC was left as it is)" in (
        capsys.readouterr().out
    )
    for path, text in found.items():
        assert (project_tree / path).read_text() == text, path


def test_failed_dvc_start_removes_only_its_own_files(post_hook, project_tree, monkeypatch):
    monkeypatch.chdir(project_tree)
    (project_tree / "data/raw/penguins-raw.csv").unlink()  # `dvc add` must fail
    (project_tree / "data/raw/mine.csv").write_text("a\n1\n")
    assert post_hook.init_git(project_tree) is None
    assert post_hook.init_dvc(project_tree).startswith("DVC failed: ")
    assert (project_tree / "data/raw/mine.csv").read_text() == "a\n1\n"
    assert (project_tree / "data/raw/.gitignore").exists()  # the template's, not DVC's


def test_first_commit_holds_only_the_template_files(post_hook, project_tree, identity):
    """Issue 14: `git add --all` committed a `.env` holding a secret and a CSV DVC tracks."""
    (project_tree / ".env").write_text("SECRET=hunter2\n")
    (project_tree / "notes").mkdir()
    (project_tree / "notes" / "mine.csv").write_text("a\n")
    kept = {"README.md", "LICENSE", ".github/workflows/ci.yml", "data/raw/.gitignore"}
    left_out = {"data/raw/penguins-raw.csv", "gone.txt"}  # ignored by git / removed since
    assert post_hook.init_git(project_tree) is None
    assert post_hook.first_commit(project_tree, kept | left_out) is None
    assert sorted(committed(project_tree)) == sorted(kept)
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project_tree, capture_output=True, text=True
    ).stdout
    assert "?? .env" in status and "?? notes/" in status


def test_first_commit_goes_through_the_git_hooks(post_hook, project_tree, identity):
    """No `--no-verify`: a repository's pre-commit hook runs, and its refusal is reported."""
    assert post_hook.init_git(project_tree) is None
    hook = project_tree / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'refused by the project hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    why = post_hook.first_commit(project_tree, {"README.md"})
    assert why and "refused by the project hook" in why and "\n" not in why
    assert committed(project_tree) == ["README.md"]  # staged, for the user to commit


def test_template_files_are_the_templates_paths_rendered(post_hook, tmp_path):
    files = post_hook.template_files(tmp_path, str(bakery.ROOT), "birds")
    assert {"README.md", "pyproject.toml", "src/birds/__init__.py", ".gitignore"} <= files
    assert not [f for f in files if "{" in f or "cookiecutter" in f]
    (tmp_path / "stray.txt").write_text("x")  # without the template's folder: what is there
    assert post_hook.template_files(tmp_path, "", "birds") == {"stray.txt"}


@pytest.mark.parametrize("name", ["pre_gen_project", "post_gen_project"])
def test_rendered_hooks_are_lint_clean(name, tmp_path):
    """The hooks run on the user's Python (3.10+): ruff-clean once rendered."""
    context = {**bakery.DEFAULTS, "project_slug": "p", "package_name": "p"}
    source = (HOOKS / f"{name}.py").read_text(encoding="utf-8")
    rendered = tmp_path / f"{name}.py"
    rendered.write_text(jinja_env().from_string(source).render(cookiecutter=context))
    ruff = [str(Path(sys.executable).with_name("ruff"))]
    options = ["--isolated", "--no-cache", "--line-length", "100", "--target-version", "py310"]
    check = subprocess.run(
        [*ruff, "check", *options, "--select", "E,F,W,I,B,UP,SIM", str(rendered)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [*ruff, "format", "--check", "--diff", *options, str(rendered)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout


def test_a_relative_template_path_still_gets_the_first_commit(tmp_path):
    """`cookiecutter .` from the template's folder: its path is relative to where cookiecutter
    started, not to the new project, and the first commit must still be made."""
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    result = subprocess.run(
        [str(cookiecutter), "--no-input", "-o", str(tmp_path), "."],
        cwd=bakery.ROOT,
        capture_output=True,
        text=True,
    )  # (the session's git identity comes from conftest.py)
    assert result.returncode == 0 and "failed" not in result.stderr, result.stderr
    project = tmp_path / bakery.default_slug()
    log = subprocess.run(["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True)
    assert log.stdout.strip(), "no first commit"

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
import local_extensions as ext

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
    "author_email": "ada@example.com",
    "python_version": "3.11",
}


def test_pre_gen_accepts_the_defaults():
    hook = render_hook("pre_gen_project")
    assert hook.validate(hook.ANSWERS) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project_name", "  "),
        ("project_name", "x" * 81),
        ("project_slug", "Penguins"),
        ("project_slug", "1st"),
        ("project_slug", "a/b"),
        ("project_slug", "../up"),
        ("project_slug", ""),
        ("project_slug", "-x"),
        ("package_name", "my-pkg"),
        ("package_name", "9lives"),
        ("package_name", "class"),
        ("package_name", "match"),
        ("package_name", "torch"),
        ("package_name", "test"),
        ("package_name", "json"),
        ("package_name", "Penguins"),
        ("author_email", "ada"),
        ("author_email", "ada@example"),
        ("author_email", "a b@x.org"),
        ("python_version", "3.9"),
        ("python_version", "3.14"),
        ("python_version", "3"),
    ],
)
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
    assert post_hook.first_commit(project_tree) == post_hook.NO_IDENTITY


def test_main_survives_a_missing_git(post_hook, project_tree, monkeypatch, capsys):
    monkeypatch.chdir(project_tree)
    monkeypatch.setenv("PATH", os.fspath(project_tree))  # no git, no dvc
    post_hook.main()
    out = capsys.readouterr().out
    assert "Skipped for now: git repository (git is not installed)" in out
    assert "make setup" in out
    assert not (project_tree / ".git").exists()


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

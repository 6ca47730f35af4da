"""Fast tier: every supported combination of choices bakes into a clean project.

The combinations are curated (as cookiecutter-django does), not the full product:
every licence, every Python version and both workflow answers appear at least once,
and each pair of (python_version, license) that changes a file is covered.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import bakery
import checks

COMBINATIONS = [
    {},  # the defaults: 3.11, MIT, workflow
    {"python_version": "3.10", "license": "BSD-3-Clause", "github_actions": "no"},
    {"python_version": "3.12", "license": "Apache-2.0", "github_actions": "yes"},
    {"python_version": "3.13", "license": "Proprietary", "github_actions": "no"},
    {"python_version": "3.10", "license": "Proprietary", "github_actions": "yes"},
    {"python_version": "3.13", "license": "MIT", "github_actions": "yes"},
    {"python_version": "3.12", "license": "BSD-3-Clause", "github_actions": "no"},
    {"python_version": "3.11", "license": "Apache-2.0", "github_actions": "no"},
]
FREE_TEXT = ("project_name", "author_name", "author_email", "description")
ESCAPING_FILTERS = ("quoted", "hydra_quoted", "json_quoted", "docstring", "one_line", "tojson")


def combo_id(answers: dict) -> str:
    return "-".join(answers.values()) or "defaults"


@pytest.fixture(scope="module", params=COMBINATIONS, ids=combo_id)
def combo(request, tmp_path_factory) -> tuple[dict, Path]:
    answers = request.param
    return answers, bakery.bake(tmp_path_factory.mktemp("combo"), answers)


def test_curated_list_covers_every_choice():
    for key, choices in bakery.CHOICES.items():
        used = {combo.get(key, bakery.DEFAULTS[key]) for combo in COMBINATIONS}
        assert used == set(choices), f"{key}: {set(choices) - used} never baked"


def test_no_unrendered_jinja(combo):
    _, project = combo
    assert checks.unrendered(project) == []


def test_every_file_parses(combo):
    _, project = combo
    assert checks.parse_errors(project) == []


def test_ruff_check_passes(combo):
    _, project = combo
    result = checks.ruff(project, "check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_check_passes(combo):
    _, project = combo
    result = checks.ruff(project, "format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_makefile_parses_and_help_lists_targets(combo):
    _, project = combo
    result = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for target in ("setup", "repro", "test", "ui", "compare"):
        assert re.search(rf"make {target}\b", result.stdout), f"`make help` lacks {target}"


def test_choices_shape_the_project(combo):
    answers, project = combo
    license_ = answers.get("license", bakery.DEFAULTS["license"])
    python = answers.get("python_version", bakery.DEFAULTS["python_version"])
    meta = checks.pyproject(project)["project"]
    # One range for every answer (so one uv.lock fits all); the answer picks the interpreter.
    assert meta["requires-python"] == ">=3.10"
    assert (project / ".python-version").read_text() == f"{python}\n"
    assert (project / "LICENSE").exists() == (license_ != "Proprietary")
    assert meta.get("license") == (None if license_ == "Proprietary" else license_)
    workflows = project / ".github" / "workflows"
    assert workflows.exists() == (answers.get("github_actions", "yes") == "yes")
    assert (
        f'target-version = "py{python.replace(".", "")}"'
        in (project / "pyproject.toml").read_text()
    )


def test_github_workflows_match_schema(combo):
    _, project = combo
    assert checks.workflow_schema_errors(project) == ""


def test_post_gen_hook_committed_everything(combo):
    _, project = combo
    assert checks.git(project, "branch", "--show-current").strip() == "main"
    assert checks.git(project, "status", "--porcelain", "--untracked-files=all") == ""
    tracked = checks.git(project, "ls-files").split()
    assert "data/raw/penguins-raw.csv.dvc" in tracked
    assert "data/raw/penguins-raw.csv" not in tracked
    assert (project / ".dvc" / "config").exists()


def test_raw_data_copied_byte_for_byte(bake):
    project = bake(accept_hooks=False)
    source = bakery.TEMPLATE_DIR / "data" / "raw" / "penguins-raw.csv"
    assert (project / "data" / "raw" / "penguins-raw.csv").read_bytes() == source.read_bytes()


def test_free_text_is_never_pasted_raw():
    """Every use of a free-text answer in the template goes through an escaping filter."""
    use = re.compile(r"cookiecutter\.(" + "|".join(FREE_TEXT) + r")\b\s*(\|\s*(\w+))?")
    raw = []
    for path in [*bakery.TEMPLATE_DIR.rglob("*"), *(bakery.ROOT / "hooks").glob("*.py")]:
        text = checks.read_text(path) if path.is_file() else None
        for number, line in enumerate((text or "").splitlines(), 1):
            for match in use.finditer(line):
                if match.group(3) not in ESCAPING_FILTERS:
                    raw.append(f"{path.relative_to(bakery.ROOT)}:{number}: {line.strip()}")
    assert raw == []


def test_conf_yaml_uses_the_hydra_filter():
    """conf/ is read by OmegaConf, where `${` is an interpolation: `quoted` is not enough."""
    plain = []
    for path in (bakery.TEMPLATE_DIR / "conf").rglob("*.yaml"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\|\s*quoted\b", line):
                plain.append(f"{path.relative_to(bakery.ROOT)}:{number}: {line.strip()}")
    assert plain == []


def test_params_yaml_uses_the_plain_filter():
    """params.yaml is conf/ *resolved* (what `make params` and `dvc exp run -S` write), read
    with plain YAML: a typed `${x}` must appear there as `${x}`, so `quoted`, never
    `hydra_quoted` (whose backslash would become part of the MLflow experiment name)."""
    text = (bakery.TEMPLATE_DIR / "params.yaml").read_text(encoding="utf-8")
    assert "hydra_quoted" not in text


def test_pre_commit_passes_unchanged(combo):
    """`make lint`, the generated CI's first step, on the fresh project (issue 14)."""
    _, project = combo
    checks.assert_lint_passes_unchanged(project)

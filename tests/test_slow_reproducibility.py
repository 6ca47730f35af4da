"""Slow tier: the DVC contract of the generated project, run for real.

A teammate clones the repository, pulls the data from a DVC remote (a local
folder here) and reproduces the same numbers bit for bit; `dvc exp run -S`
composes variations from conf/ and re-runs only the stages they touch (the queue runs in
tests/test_readme_commands.py's "Run a sweep"). All of it happens in the teammate's clone,
so the shared `reproduced_project` is left as it was (but for a remote in .dvc/config.local).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bakery

pytestmark = pytest.mark.slow
METRICS = Path("reports/metrics.json")
UPSTREAM = ("prepare", "eda", "featurize")


@pytest.fixture(scope="module")
def remote(reproduced_project: bakery.Project, tmp_path_factory) -> Path:
    """A local-folder DVC remote holding the project's data (like `dvc push` to S3)."""
    folder = tmp_path_factory.mktemp("dvc-remote")
    reproduced_project.venv("dvc", "remote", "add", "--local", "--force", "-d", "shared", folder)
    reproduced_project.venv("dvc", "push")
    return folder


def clone(project: bakery.Project, source: Path, target: Path, remote: Path) -> Path:
    project.run("git", "clone", "--quiet", source, target)
    project.venv("dvc", "remote", "add", "--force", "-d", "shared", remote, cwd=target)
    return target


@pytest.fixture(scope="module")
def teammate(reproduced_project: bakery.Project, remote: Path, tmp_path_factory) -> Path:
    """A clone of the freshly set-up project (no results committed yet): the raw data
    comes from the remote and the whole pipeline runs from scratch."""
    mate = clone(
        reproduced_project,
        reproduced_project.path,
        tmp_path_factory.mktemp("teammate") / "clone",
        remote,
    )
    reproduced_project.venv("dvc", "pull", f"{bakery.RAW_DATA}.dvc", cwd=mate)
    reproduced_project.venv("dvc", "repro", cwd=mate)
    return mate


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_teammate_gets_the_same_metrics_bit_for_bit(reproduced_project, teammate):
    assert (teammate / METRICS).read_bytes() == (reproduced_project.path / METRICS).read_bytes()


def test_committed_results_pull_and_reproduce(reproduced_project, teammate, remote, tmp_path):
    """After the author commits dvc.lock and pushes, `git clone && dvc pull && dvc repro`."""
    run = reproduced_project.run
    run("git", "add", "--all", cwd=teammate)
    run(
        "git",
        "-c",
        "user.name=Ada",
        "-c",
        "user.email=ada@example.com",
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        "Results of the first run",
        cwd=teammate,
    )
    reproduced_project.venv("dvc", "push", cwd=teammate)
    second = clone(reproduced_project, teammate, tmp_path / "second", remote)
    reproduced_project.venv("dvc", "pull", cwd=second)
    assert json.loads(reproduced_project.venv("dvc", "status", "--json", cwd=second).stdout) == {}
    assert stages_run(reproduced_project.venv("dvc", "repro", cwd=second).stdout) == set()
    assert (second / METRICS).read_bytes() == (teammate / METRICS).read_bytes()


def test_forced_repro_twice_gives_identical_metrics_files(reproduced_project, teammate):
    runs = []
    for _ in range(2):
        reproduced_project.venv("dvc", "repro", "--force", cwd=teammate)
        runs.append((teammate / METRICS).read_bytes())
    assert runs[0] == runs[1]
    assert json.loads(runs[0]).keys() >= {"accuracy", "precision", "recall", "f1", "roc_auc"}


def test_noop_repro_runs_nothing(reproduced_project, teammate):
    result = reproduced_project.venv("dvc", "repro", cwd=teammate)
    assert stages_run(result.stdout) == set(), result.stdout


def test_model_choice_reruns_only_train_and_evaluate(reproduced_project, teammate):
    result = reproduced_project.venv("dvc", "exp", "run", "-S", "model=random_forest", cwd=teammate)
    assert stages_run(result.stdout) == {"train", "evaluate"}, result.stdout
    params = (teammate / "params.yaml").read_text()
    assert "name: random_forest" in params and "n_estimators" in params


def experiments(project: bakery.Project, clone: Path) -> list[dict]:
    """Each experiment of `dvc exp show --json`: its name, model params and test metrics."""
    found = []
    for commit in json.loads(project.venv("dvc", "exp", "show", "--json", cwd=clone).stdout):
        for exp in commit.get("experiments") or []:
            data = exp["revs"][0]["data"]
            found.append(
                {
                    "name": exp["revs"][0].get("name"),
                    "model": data["params"]["params.yaml"]["data"]["model"],
                    "metrics": (data.get("metrics") or {}).get(str(METRICS), {}).get("data", {}),
                }
            )
    return found


def test_model_parameter_override_reaches_the_run(reproduced_project, teammate):
    run = reproduced_project.venv(
        "dvc", "exp", "run", "-S", "model=logreg", "-S", "model.C=0.05", cwd=teammate
    )
    assert stages_run(run.stdout) == {"train", "evaluate"}, run.stdout
    models = [e["model"] for e in experiments(reproduced_project, teammate)]
    assert any(m["name"] == "logreg" and m["C"] == 0.05 for m in models), models

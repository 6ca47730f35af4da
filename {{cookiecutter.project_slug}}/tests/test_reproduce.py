"""`make reproduce RUN=<id>`: re-run a tracked run from what it recorded, compare every metric."""

import json
import subprocess

import pytest
import yaml

from {{ cookiecutter.package_name }}.commands.reproduce import (
    reproduce,
)
from {{ cookiecutter.package_name }}.errors import PipelineError


def git(project, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.slow
def test_a_clean_run_reproduces_every_metric_exactly(tracked):
    project = tracked["project"]
    before = git(project, "status", "--porcelain")
    rows = reproduce(tracked["run_id"][:8])
    assert rows and all(same for *_, same in rows), [r for r in rows if not r[3]]
    assert {"accuracy", "f1", "roc_auc", "train.f1", "lift.f1", "gap.f1"} <= {r[0] for r in rows}
    assert git(project, "status", "--porcelain") == before  # the user's tree is untouched
    assert len(git(project, "worktree", "list").splitlines()) == 1  # the scratch tree is gone


def fake_run(tracked, **tags: str) -> str:
    """A run with what a pipeline run records (no need to train)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracked["uri"])
    project = tracked["project"]
    config = yaml.safe_load((project / "params.yaml").read_text())
    tags = {
        "mlflow.source.git.commit": git(project, "rev-parse", "HEAD").strip(),
        "git.dirty": "false",
        "data.raw.path": config["data"]["raw_path"],
        "data.raw.md5": "0" * 32,
        **tags,
    }
    experiment = client.get_experiment_by_name("reproduce-test")
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment("reproduce-test")
    )
    run_id = client.create_run(experiment_id, tags=tags).info.run_id
    client.log_dict(run_id, config, "config/params.yaml")
    client.log_text(run_id, json.dumps({"f1": 1.0}), "reports/metrics.json")
    client.set_terminated(run_id)
    return run_id


def test_a_run_from_a_dirty_tree_is_refused_with_the_fix(tracked):
    run_id = fake_run(tracked, **{"git.dirty": "true", "git.dirty_files": "src/pkg/train.py"})
    with pytest.raises(PipelineError) as error:
        reproduce(run_id)
    message = str(error.value)
    assert "uncommitted changes (src/pkg/train.py)" in message
    assert "commit" in message and "dvc exp run" in message and "--allow-dirty" in message


def test_missing_data_is_explained_and_leaves_no_worktree(tracked):
    run_id = fake_run(tracked)  # a data hash this project never had
    with pytest.raises(PipelineError) as error:
        reproduce(run_id)
    assert "0" * 32 in str(error.value) and "dvc pull" in str(error.value)
    assert len(git(tracked["project"], "worktree", "list").splitlines()) == 1


def test_an_unknown_commit_or_run_is_named(tracked):
    run_id = fake_run(tracked, **{"mlflow.source.git.commit": "f" * 40})
    with pytest.raises(PipelineError, match="not in this repository"):
        reproduce(run_id)
    with pytest.raises(PipelineError, match="no run"):
        reproduce("nope42")

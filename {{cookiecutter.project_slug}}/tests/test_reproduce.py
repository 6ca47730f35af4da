"""`make reproduce RUN=<id>`: re-run a tracked run from its tags and compare every metric."""

import subprocess

import pytest
import yaml
from tracking_helpers import copy_store, inside, template_store, tracked_run

from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.reproduce import reproduce


def client(uri):
    from {{ cookiecutter.package_name }}.tracking import client as make_client

    return make_client(uri)


@pytest.mark.slow
def test_a_clean_run_reproduces_every_metric_exactly():
    tracked = tracked_run()
    project = tracked["project"]
    before = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    with inside(project, tracked["uri"]):
        rows = reproduce(tracked["run_id"], quiet=True)
    assert rows and all(same for _, _, _, same in rows), [r for r in rows if not r[3]]
    assert {"accuracy", "f1", "roc_auc", "train.f1", "lift.f1", "gap.f1"} <= {r[0] for r in rows}
    after = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    assert before == after  # the user's tree is untouched
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    assert len(worktrees.splitlines()) == 1  # the scratch worktree is gone


def fake_run(uri: str, project, **tags) -> str:
    """A run with the tags and config a pipeline run would have (no need to train)."""
    from {{ cookiecutter.package_name }}.tracking import experiment_id, log_batch, log_config

    mlflow_client = client(uri)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    run_id = mlflow_client.create_run(experiment_id(mlflow_client, "reproduce-test")).info.run_id
    base = {
        "git.commit": commit,
        "git.dirty": "false",
        "data.raw.path": "data/raw/penguins-raw.csv",
        "data.raw.md5": "0" * 32,
    }
    log_batch(mlflow_client, run_id, tags={**base, **tags})
    log_config(mlflow_client, run_id, yaml.safe_load((project / "params.yaml").read_text()))
    mlflow_client.set_terminated(run_id)
    return run_id


def test_a_run_from_a_dirty_tree_is_refused_with_the_fix(tmp_path):
    project = tracked_run()["project"]
    uri = copy_store(template_store(), tmp_path / "store")
    with inside(project, uri):
        run_id = fake_run(
            uri, project, **{"git.dirty": "true", "git.dirty_files": "src/pkg/train.py"}
        )
        with pytest.raises(PipelineError) as error:
            reproduce(run_id, quiet=True)
    message = str(error.value)
    assert "uncommitted changes (src/pkg/train.py)" in message
    assert "commit" in message and "dvc exp run" in message and "--allow-dirty" in message


def test_missing_data_is_explained(tmp_path):
    project = tracked_run()["project"]
    uri = copy_store(template_store(), tmp_path / "store")
    with inside(project, uri):
        run_id = fake_run(uri, project)  # a data hash this project never had
        with pytest.raises(PipelineError) as error:
            reproduce(run_id, quiet=True)
    assert "0" * 32 in str(error.value) and "dvc pull" in str(error.value)
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    assert len(worktrees.splitlines()) == 1


def test_an_unknown_run_is_named(tmp_path):
    project = tracked_run()["project"]
    uri = copy_store(template_store(), tmp_path / "store")
    with inside(project, uri), pytest.raises(PipelineError, match="no run 'nope'"):
        reproduce("nope", quiet=True)

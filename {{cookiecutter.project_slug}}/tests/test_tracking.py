"""Tracking: one MLflow run per evaluated model, with its config, code, data and model.

A real copy of this project (git, DVC, `dvc repro`) logging into a real SQLite store, a real
`mlflow server` on 127.0.0.1, real processes killed with SIGKILL.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tracking_helpers import BUNDLED_TASK

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.config import (
    Paths,
    compose,
)
from {{ cookiecutter.package_name }}.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "{{ cookiecutter.package_name }}"
BIN = Path(sys.executable).parent
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
IDENTITY |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def sh(cwd: Path, *cmd: str, **env: str) -> str:
    full_env = {**os.environ, **IDENTITY, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    result = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def runs(uri: str) -> list:
    from mlflow import MlflowClient

    found = MlflowClient(uri).search_runs(
        [e.experiment_id for e in MlflowClient(uri).search_experiments()],
        order_by=["attributes.start_time ASC"],
    )
    return list(found)


def evaluate(project: dict, uri: str) -> None:
    """The evaluate stage of the project, as `dvc repro` runs it, logging to `uri`."""
    sh(project["root"], sys.executable, "-m", f"{PACKAGE}.evaluate", MLFLOW_TRACKING_URI=uri)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """A copy of the session's tracked project (git, DVC, one `dvc repro` into its own store),
    so that these tests may add runs and edit files."""
    from tracking_helpers import store_uri, tracked_project

    tracked = tracked_project()
    dst = tmp_path_factory.mktemp("tracked") / "project"
    shutil.copytree(tracked["project"], dst, symlinks=True)
    uri = store_uri(dst)
    # Tests of the commands may have added runs to the shared project first: name ours.
    [run] = [r for r in runs(uri) if r.info.run_id == tracked["run_id"]]
    return {"root": dst, "uri": uri, "run": run, "before": {r.info.run_id for r in runs(uri)}}


def test_params_are_the_chosen_config_only():
    params = tracking.run_params(compose(["model=svm", "data=penguins"], conf_dir=ROOT / "conf"))
    assert params["model.estimator.C"] == "1.0" and params["model.name"] == "svm"
    assert not any(k.startswith(("trainer", "tracking")) for k in params)  # not what svm used
    mlp = tracking.run_params(compose(["model=mlp", "data=penguins"], conf_dir=ROOT / "conf"))
    assert mlp["model.trainer.lr"] and json.loads(mlp["model.hidden_sizes"])
    # Maps whose keys MLflow refuses (raw headers with parentheses) travel as one JSON value.
    assert "Body Mass (g)" in json.loads(params["data.rename"])


def test_metric_names_are_those_of_dvc_metrics_show():
    flat = tracking.flatten({"f1": 0.9, "train": {"f1": 1.0}, "cv": {"folds": 5}})
    assert flat == {"f1": 0.9, "train.f1": 1.0, "cv.folds": 5}


def test_tracking_switch(monkeypatch):
    cfg = compose(conf_dir=ROOT / "conf")
    assert tracking.enabled(cfg)
    monkeypatch.setenv(tracking.SWITCH, "0")
    assert not tracking.enabled(cfg)


def test_store_default_is_sqlite_in_the_project_root(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    queued = tmp_path / ".dvc" / "tmp" / "exps" / "tmpab12cd"  # where `dvc queue start` runs
    queued.mkdir(parents=True)
    monkeypatch.chdir(queued)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_dirty_means_a_changed_input_not_an_output(project):
    root = project["root"]
    assert tracking.git_tags(root)["git.dirty"] == "false"  # after dvc repro: outputs only
    (root / "conf" / "model" / "logreg.yaml").write_text("name: changed\n")
    try:
        tags = tracking.git_tags(root)
        assert tags["git.dirty"] == "true" and "conf/model/logreg.yaml" in tags["git.dirty_files"]
    finally:
        sh(root, "git", "checkout", "--", "conf")


def test_dvc_repro_logs_one_finished_run_with_code_and_data(project):
    run, root = project["run"], project["root"]
    assert run.info.status == "FINISHED" and run.data.tags["run.kind"] == "pipeline"
    data = yaml.safe_load((root / "params.yaml").read_text())["data"]
    assert run.info.run_name.startswith(f"logreg-{data['name']}-")
    tags, params = run.data.tags, run.data.params
    head = sh(root, "git", "rev-parse", "HEAD").strip()
    assert tags["mlflow.source.git.commit"] == head and tags["git.dirty"] == "false"
    raw_record = yaml.safe_load((root / "data/raw/penguins-raw.csv.dvc").read_text())
    assert tags["data.raw.md5"] == raw_record["outs"][0]["md5"]
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["prepare"]["outs"]
    assert tags["data.processed.md5"] == next(
        o["md5"] for o in lock if o["path"] == "data/processed"
    )
    assert params["model.C"] == "1.0" and params["data.target"] == data["target"]
    assert "make reproduce RUN=" in tags["mlflow.note.content"]
    assert run.inputs.dataset_inputs[0].dataset.name == f"{data['name']} (test split)"


def test_the_run_holds_every_metric_the_reports_and_a_model_that_predicts(project):
    import mlflow
    from mlflow import MlflowClient

    run, root = project["run"], project["root"]
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert run.data.metrics == pytest.approx(tracking.flatten(metrics))
    client = MlflowClient(project["uri"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "reports")}
    assert {"reports/metrics.json", "reports/importance.csv", "reports/figures"} <= artifacts
    model_id = run.outputs.model_outputs[0].model_id
    assert client.get_logged_model(model_id).metrics  # the metrics are linked to the model
    mlflow.set_tracking_uri(project["uri"])
    model = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    raw = pd.read_csv(root / "data/raw/penguins-raw.csv", dtype=str, keep_default_na=False)
    predicted = model.predict(raw.head(20))  # raw rows: the model cleans them itself
    assert len(predicted) == 20 and set(predicted) <= set(model.classes_)


def test_evaluate_again_is_a_new_run_and_the_old_one_is_unchanged(project):
    evaluate(project, project["uri"])
    [first] = [r for r in runs(project["uri"]) if r.info.run_id == project["run"].info.run_id]
    assert first.data.metrics == project["run"].data.metrics  # never overwritten
    [second] = [r for r in runs(project["uri"]) if r.info.run_id not in project["before"]]
    assert second.info.status == "FINISHED"


def test_a_run_whose_process_was_killed_ends_killed(project):
    """kill -9 while a run is open (an OOM kill, a power cut): the next run marks it KILLED."""
    code = (
        "import os, signal\n"
        f"from {PACKAGE}.config import load_params\n"
        f"from {PACKAGE}.tracking import parent_run\n"
        "with parent_run(load_params(), kind='sweep-parent', name='doomed'):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": project["uri"]}
    killed = subprocess.run([sys.executable, "-c", code], cwd=project["root"], env=env)
    assert killed.returncode == -signal.SIGKILL
    doomed = [r for r in runs(project["uri"]) if r.info.run_name == "doomed"]
    assert doomed[0].info.status == "RUNNING"
    evaluate(project, project["uri"])
    doomed = [r for r in runs(project["uri"]) if r.info.run_name == "doomed"]
    assert doomed[0].info.status == "KILLED"


def test_untracked_stages_never_import_mlflow(project):
    code = (
        "import runpy, sys\n"
        f"runpy.run_module('{PACKAGE}.evaluate', run_name='__main__')\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
    )
    env = {tracking.SWITCH: "0", "MLFLOW_TRACKING_URI": project["uri"]}
    sh(project["root"], sys.executable, "-c", code, **env)


def test_mlp_run_has_per_epoch_curves(tmp_path, monkeypatch):
    cfg = compose(
        ["model=mlp", f"data={BUNDLED_TASK}", "trainer.max_epochs=4", "evaluate.cv_folds=0"],
        conf_dir=ROOT / "conf",
    )
    cfg["trainer"]["checkpoint_dir"] = cfg["model"]["trainer"]["checkpoint_dir"] = None
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    paths = Paths(tmp_path)
    metrics = run_pipeline(cfg, paths, raw_path=ROOT / "data/raw/penguins-raw.csv")
    run_id = tracking.log_run(cfg, paths, metrics)
    from mlflow import MlflowClient

    history = MlflowClient(uri).get_metric_history(run_id, "epoch.val_loss")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert "model.trainer.lr" in MlflowClient(uri).get_run(run_id).data.params


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_a_real_mlflow_server_on_localhost(project, tmp_path):
    """The same stage logs to `mlflow server` when MLFLOW_TRACKING_URI points at it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert time.time() < deadline and server.poll() is None, (
                    "mlflow server did not start"
                )
                time.sleep(0.5)
        evaluate(project, url)
        (run,) = runs(url)
        assert run.info.status == "FINISHED" and run.data.metrics["f1"] > 0.5
        assert any((tmp_path / "artifacts").rglob("MLmodel"))  # the server stored the model
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("damage", ["garbage header", "truncated"])
def test_a_damaged_store_is_one_line_naming_it_and_the_fix(project, tmp_path, monkeypatch, damage):
    store = tmp_path / "mlflow.db"
    original = (project["root"] / "mlflow.db").read_bytes()
    store.write_bytes(
        b"not a database" * 100 if damage == "garbage header" else original[: len(original) // 2]
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    from {{ cookiecutter.package_name }}.errors import PipelineError

    cfg = compose(conf_dir=ROOT / "conf")
    with (
        pytest.raises(PipelineError, match=r"mlflow\.db.*mlflow\.db\.broken"),
        tracking.parent_run(cfg, kind="sweep-parent", name="x"),
    ):
        pass

"""Tracking: one MLflow run per pipeline run, with its config, data version, commit and model.

Real SQLite stores in temporary folders, real runs (the train and evaluate stages' main()).
"""

import hashlib
import json
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
from tracking_helpers import (
    PACKAGE,
    ROOT,
    SWITCH,
    clean_env,
    copy_store,
    dvc_init,
    git_commit_all,
    make_project,
    prepare_data,
    store_runs,
    template_store,
    tracked_run,
    workspace_run,
)

from {{ cookiecutter.package_name }} import evaluate as evaluate_stage
from {{ cookiecutter.package_name }} import train as train_stage
from {{ cookiecutter.package_name }}.config import compose
from {{ cookiecutter.package_name }}.tracking import (
    derived_overrides,
    dvc_md5,
    enabled,
    flatten_metrics,
    flatten_params,
    git_state,
    override_value,
)

# ---- what a run records (no store) ---------------------------------------------------------


def test_params_are_the_flattened_config_without_tracking():
    cfg = compose(["model=mlp"], conf_dir=ROOT / "conf")
    params = flatten_params(cfg)
    assert params["model.name"] == "mlp"
    assert json.loads(params["model.hidden_sizes"]) == cfg["model"]["hidden_sizes"]
    assert params["trainer.lr"] == str(cfg["trainer"]["lr"])
    assert not any(k.startswith("tracking") for k in params)
    # Maps whose keys MLflow refuses (spaces in parentheses) travel as one JSON value.
    assert json.loads(params["data.rename"]) == cfg["data"]["rename"]
    assert all(len(v) <= 6000 for v in params.values())


def test_metrics_use_the_names_of_dvc_metrics_show():
    flat = flatten_metrics({"f1": 0.9, "train": {"f1": 1.0}, "cv": {"folds": 5}, "note": "x"})
    assert flat == {"f1": 0.9, "train.f1": 1.0, "cv.folds": 5.0}


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["model=svm"],
        ["model=svm", "model.C=0.5"],
        ["+experiment=svm_rbf_tuned"],
        ["model=mlp", "model.hidden_sizes=[8,4]", "seed=3", "trainer.lr=0.01"],
        ["data.split.test_size=0.3"],
    ],
)
def test_overrides_are_rebuilt_from_params_and_compose_back(overrides):
    """DVC does not pass `-S` to stages: the overrides are rebuilt and verified."""
    conf = ROOT / "conf"
    cfg = compose(overrides, conf_dir=conf)
    rebuilt, verified = derived_overrides(cfg, conf)
    assert verified
    assert compose(rebuilt, conf_dir=conf) == cfg
    assert len(rebuilt) <= len(overrides)


def test_override_values_survive_hydra_grammar():
    assert override_value([64, 32]) == "[64,32]"
    assert override_value(None) == "null"
    assert override_value("scale") == "scale"
    assert override_value("a b") == "'a b'"
    assert override_value("true") == "'true'"  # the string, not the boolean


def test_tracking_switch(monkeypatch):
    monkeypatch.delenv(SWITCH, raising=False)
    assert enabled({"tracking": {"enabled": True}})
    assert not enabled({"tracking": {"enabled": False}})
    monkeypatch.setenv(SWITCH, "0")
    assert not enabled({"tracking": {"enabled": True}})
    monkeypatch.setenv(SWITCH, "1")
    assert enabled({"tracking": {"enabled": False}})


def test_dvc_hash_is_the_one_dvc_records(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "sub" / "b.csv").write_text("z\n3\n")
    dvc_init(tmp_path, scm=False)
    subprocess.run(
        [sys.executable, "-m", "dvc", "add", "--quiet", "data"],
        cwd=tmp_path,
        env=clean_env(),
        check=True,
    )
    recorded = yaml.safe_load((tmp_path / "data.dvc").read_text())["outs"][0]["md5"]
    assert dvc_md5(data) == recorded
    assert dvc_md5(data / "a.csv") == hashlib.md5(b"x,y\n1,2\n").hexdigest()


def test_dirty_means_a_changed_input_not_an_output(tmp_path):
    project = make_project(tmp_path / "p")
    git_commit_all(project)
    (project / "reports").mkdir()
    (project / "reports" / "metrics.json").write_text("{}")  # a pipeline output
    (project / "params.yaml").write_text((project / "params.yaml").read_text() + "\n")
    (project / "mlflow.db-wal").write_text("")
    assert git_state(project)["git.dirty"] == "false"
    (project / "conf" / "model" / "svm.yaml").write_text("name: svm\nC: 2.0\n")
    state = git_state(project)
    assert state["git.dirty"] == "true"
    assert "conf/model/svm.yaml" in state["git.dirty_files"]
    assert len(state["git.commit"]) == 40


# ---- a real pipeline run in a real store ----------------------------------------------------


@pytest.fixture(scope="session")
def store_template() -> Path:
    return template_store()


@pytest.fixture
def store(store_template, tmp_path, monkeypatch) -> str:
    uri = copy_store(store_template, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv(SWITCH, raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    return uri


@pytest.fixture(scope="session")
def tracked() -> dict:
    """One tracked pipeline run (logreg): prepare + featurize, then train.main, evaluate.main."""
    return tracked_run()


def get_run(uri: str, run_id: str):
    from {{ cookiecutter.package_name }}.tracking import client

    return client(uri).get_run(run_id)


def test_train_and_evaluate_write_one_finished_run(tracked):
    from {{ cookiecutter.package_name }}.tracking import client

    mlflow_client = client(tracked["uri"])
    name = compose(conf_dir=ROOT / "conf")["tracking"]["experiment"]
    exp = mlflow_client.get_experiment_by_name(name)
    runs = mlflow_client.search_runs([exp.experiment_id])
    assert [r.info.run_id for r in runs] == [tracked["run_id"]]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"logreg-{tracked['run_id'][:7]}"


def test_the_run_has_config_metrics_and_tags(tracked):
    run = get_run(tracked["uri"], tracked["run_id"])
    project = tracked["project"]
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    cfg = yaml.safe_load((project / "params.yaml").read_text())
    assert params == flatten_params(cfg)
    saved = json.loads((project / "reports" / "metrics.json").read_text())
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert metrics[name] == saved[name]
        assert metrics[f"train.{name}"] == saved["train"][name]
        assert metrics[f"lift.{name}"] == saved["lift"][name]
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert tags["git.commit"] == commit and tags["git.dirty"] == "false"
    lock = yaml.safe_load((project / "data" / "raw" / "penguins-raw.csv.dvc").read_text())
    assert tags["data.raw.md5"] == lock["outs"][0]["md5"]
    assert tags["data.raw.dvc"] == "tracked"
    assert tags["data.processed.md5"] == dvc_md5(project / "data" / "processed")
    assert tags["hydra.overrides"] == "" and tags["reproduce.command"] == "dvc exp run"
    assert tags["seed"] == "42" and tags["device"] == "cpu" and tags["model"] == "logreg"
    for package in ("python", "torch", "sklearn", "mlflow"):
        assert tags[f"version.{package}"]


def test_the_run_has_its_reports_and_a_pyfunc_model(tracked):
    import mlflow

    from {{ cookiecutter.package_name }}.tracking import client

    mlflow_client = client(tracked["uri"])
    run_id = tracked["run_id"]
    names = {a.path for a in mlflow_client.list_artifacts(run_id, "reports")}
    assert {
        "reports/metrics.json",
        "reports/per_class.json",
        "reports/cleaning.json",
        "reports/plots",
        "reports/figures",
    } <= names
    config = [a.path for a in mlflow_client.list_artifacts(run_id, "config")]
    assert config == ["config/params.yaml"]
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    schema = model.metadata.get_input_schema()
    cfg = yaml.safe_load((tracked["project"] / "params.yaml").read_text())["data"]
    assert schema.input_names() == cfg["numeric"] + cfg["categorical"]
    assert model.metadata.saved_input_example_info is not None
    # Raw values (spellings, missing values, duplicates) under the config's column names:
    # the model cleans them as prepare did, one prediction per row, in order.
    rows = pd.DataFrame(
        {
            "culmen_length_mm": [39.1, 39.1, None],
            "culmen_depth_mm": [18.7, 18.7, 14.0],
            "flipper_length_mm": [181.0, 181.0, 215.0],
            "body_mass_g": [3750.0, 3750.0, 5500.0],
            "delta_15n": [8.9, 8.9, 8.2],
            "delta_13c": [-24.7, -24.7, -26.0],
            "island": [" torgersen", " torgersen", "BISCOE"],
            "sex": ["MALE", "MALE", None],
            "clutch_completion": ["Yes", "Yes", "Yes"],
        }
    )
    out = model.predict(rows)
    assert list(out["predicted_species"]) == ["Adelie", "Adelie", "Gentoo"]
    assert out.filter(like="proba_").sum(axis=1).round(6).eq(1).all()


def test_metrics_json_holds_no_run_id(tracked):
    text = (tracked["project"] / "reports" / "metrics.json").read_text()
    assert tracked["run_id"] not in text


def test_a_failing_stage_ends_its_run_failed(store, tmp_path, monkeypatch):

    project = make_project(tmp_path / "p")
    prepare_data(project)
    monkeypatch.chdir(project)

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(train_stage, "train", broken)
    with pytest.raises(ValueError, match="boom"):
        train_stage.main()
    runs = store_runs(store)
    assert [r.info.status for r in runs] == ["FAILED"]
    assert not (project / "models" / "model" / "run.json").exists()


def test_ctrl_c_ends_the_run_killed_with_exit_130(store, tmp_path, monkeypatch):
    from {{ cookiecutter.package_name }}.tracking import exit_on_interrupt

    project = make_project(tmp_path / "p")
    prepare_data(project)
    monkeypatch.chdir(project)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("stopped")

    monkeypatch.setattr(train_stage, "train", interrupted)
    with pytest.raises(SystemExit) as stop:
        exit_on_interrupt(train_stage.main)
    assert stop.value.code == 130
    runs = store_runs(store)
    assert [r.info.status for r in runs] == ["KILLED"]


def run_stage(project: Path, stage: str, store: str, timeout: float):
    """`python -m <package>.<stage>` in `project`, its output captured, as DVC runs it."""
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.{stage}"],
        cwd=project,
        env=clean_env(MLFLOW_TRACKING_URI=store),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_train_leaves_its_logger_running_without_holding_its_output(store, tmp_path):
    """Train hands the run to the logger process and exits; the logger keeps none of train's
    pipes (DVC, or anyone capturing train's output, would otherwise wait for it)."""
    project = make_project(tmp_path / "p")
    prepare_data(project)
    started = time.monotonic()
    # The logger waits 60 s for evaluate: holding the pipes would time out.
    run_stage(project, "train", store, timeout=50)
    assert time.monotonic() - started < 40
    # evaluate, in another process, joins that logger: one run, ended by evaluate.
    result = run_stage(project, "evaluate", store, timeout=120)
    runs = store_runs(store)
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert runs[0].info.run_id == workspace_run(project, store)
    assert runs[0].info.run_id in result.stdout
    assert runs[0].data.tags["model.uri"] and "f1" in runs[0].data.metrics
    assert not list((project / ".scratch" / "tracking").glob("*"))  # the snapshot is gone


def test_evaluate_again_reopens_the_same_run_and_logs_the_model_once(store, tmp_path, monkeypatch):
    """`dvc repro` after a change to evaluate only: train's logger is long gone; evaluate
    finds the run by models/model/run.json's token and logs into it again."""
    from {{ cookiecutter.package_name }}.tracking import client

    project = make_project(tmp_path / "p")
    prepare_data(project)
    monkeypatch.chdir(project)
    train_stage.main()
    evaluate_stage.main()
    evaluate_stage.main()  # nothing attaches to the ended logger: a new one reopens the run
    mlflow_client = client(store)
    runs = store_runs(store)
    assert [r.info.status for r in runs] == ["FINISHED"]
    logged = mlflow_client.search_logged_models([runs[0].info.experiment_id])
    assert [m.source_run_id for m in logged] == [runs[0].info.run_id]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGKILL, -signal.SIGKILL)]
)
def test_a_stopped_training_process_ends_its_run_killed(store, tmp_path, stop, exit_code):
    """SIGTERM: the PyTorch trainer saves a checkpoint and raises, the stage exits 143.
    SIGKILL: the stage just dies; the logger sees it go and ends the run. KILLED either way."""
    from {{ cookiecutter.package_name }}.tracking import client

    checkpoints = tmp_path / "checkpoints"
    project = make_project(
        tmp_path / "p",
        "model=mlp",
        "trainer.max_epochs=100000",
        "trainer.patience=null",
        f"trainer.checkpoint_dir={checkpoints}",
    )
    prepare_data(project)
    mlflow_client = client(store)
    proc = subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.train"],
        cwd=project,
        env=clean_env(MLFLOW_TRACKING_URI=store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # the run exists and an epoch has been checkpointed
            runs = mlflow_client.search_runs(
                [e.experiment_id for e in mlflow_client.search_experiments()]
            )
            if runs and list(checkpoints.glob("*.pt")):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.3)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == exit_code, err
    deadline = time.time() + 30  # after SIGKILL the logger ends the run on its own
    while (run := mlflow_client.get_run(runs[0].info.run_id)).info.status == "RUNNING":
        assert time.time() < deadline, "the run was left RUNNING"
        time.sleep(0.3)
    assert run.info.status == "KILLED"
    # The buffered curves were sent before the run ended.
    assert len(mlflow_client.get_metric_history(run.info.run_id, "epoch.train_loss")) >= 1


def test_untracked_stages_never_import_mlflow(tmp_path):
    project = make_project(tmp_path / "p")
    prepare_data(project)
    code = (
        f"import sys\nfrom {PACKAGE} import train, evaluate\ntrain.main()\n"
        "evaluate.main()\nassert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        env=clean_env(**{SWITCH: "0"}),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not (project / "mlflow.db").exists()
    assert not (project / "models" / "model" / "run.json").exists()


def test_evaluate_alone_starts_a_run_when_trains_run_is_elsewhere(store, tmp_path, monkeypatch):
    """A teammate's models/model/run.json names a run of another store: a new run, complete."""

    project = make_project(tmp_path / "p")
    prepare_data(project)
    monkeypatch.chdir(project)
    monkeypatch.setenv(SWITCH, "0")
    train_stage.main()
    (project / "models" / "model" / "run.json").write_text(json.dumps({"token": "0" * 32}))
    monkeypatch.setenv(SWITCH, "1")
    evaluate_stage.main()
    runs = store_runs(store)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.tags["model"] == "logreg" and "f1" in runs[0].data.metrics


# ---- a team server ------------------------------------------------------------------------------

SERVER_TEST = "test_a_real_mlflow_server_on_localhost"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def mlflow_server(request, store_template, tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, own artifact folder), started as
    soon as the session begins when the server test is selected: it takes a while to start."""
    if not any(item.name == SERVER_TEST for item in request.session.items):
        yield None
        return
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            copy_store(store_template, folder),
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--workers",
            "1",
        ],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield {"url": f"http://127.0.0.1:{port}", "process": server, "artifacts": folder / "artifacts"}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.mark.slow
def test_a_real_mlflow_server_on_localhost(mlflow_server, tmp_path, monkeypatch):
    """The same stages log to `mlflow server` when MLFLOW_TRACKING_URI points at it."""
    url, server = mlflow_server["url"], mlflow_server["process"]
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert server.poll() is None, server.communicate()[1][-3000:]
        assert time.time() < deadline, "mlflow server did not start in 180 s"
        time.sleep(0.5)
    project = make_project(tmp_path / "p")
    prepare_data(project)
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.delenv(SWITCH, raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    train_stage.main()
    evaluate_stage.main()
    run_id = workspace_run(project, url)
    from mlflow.tracking import MlflowClient

    remote = MlflowClient(url)
    run = remote.get_run(run_id)
    saved = json.loads((project / "reports" / "metrics.json").read_text())
    assert run.info.status == "FINISHED"
    assert run.data.metrics["f1"] == saved["f1"]
    assert run.data.params["model.name"] == "logreg"
    assert not (project / "mlflow.db").exists()  # nothing went to a local store
    local = Path(remote.download_artifacts(run_id, "reports/metrics.json", str(tmp_path)))
    assert json.loads(local.read_text()) == saved
    assert list(mlflow_server["artifacts"].rglob("metrics.json"))  # stored by the server


def test_store_default_is_sqlite_in_the_project_root(monkeypatch, tmp_path):
    from {{ cookiecutter.package_name }}.tracking import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve().as_posix()}/mlflow.db"
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))  # dvc exp run --temp: the real repo
    assert tracking_uri() == f"sqlite:///{(tmp_path / 'repo').resolve().as_posix()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"

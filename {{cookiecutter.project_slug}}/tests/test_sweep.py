"""Many runs: the parallel sweep (Hydra multirun + joblib) and the hyperparameter search."""

import pytest
from tracking_helpers import ROOT, command, make_project, store_runs, store_uri

from {{ cookiecutter.package_name }}.commands import tune
from {{ cookiecutter.package_name }}.config import compose
from {{ cookiecutter.package_name }}.errors import PipelineError

QUICK = ["evaluate.cv_folds=2", "trainer.max_epochs=3"]  # the numbers do not matter here


def sweep_runs(project):
    runs = store_runs(store_uri(project))
    [parent] = [r for r in runs if r.data.tags.get("run.kind") == "sweep-parent"]
    children = [r for r in runs if r.data.tags.get("run.kind") == "sweep"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    return parent, children


@pytest.mark.slow
def test_the_default_sweep_runs_every_model_file_in_two_workers(tmp_path):
    """A model added as one YAML file is swept too; jobs write in Hydra's folders only."""
    project = make_project(tmp_path / "p", git=False)
    (project / "conf" / "model" / "knn.yaml").write_text(
        "name: knn\n_target_: sklearn.neighbors.KNeighborsClassifier\nn_neighbors: 5\n"
    )
    result = command(project, "sweep", "hydra.launcher.n_jobs=2", *QUICK)
    parent, children = sweep_runs(project)
    assert parent.info.status == "FINISHED"
    models = {p.stem for p in (project / "conf" / "model").glob("*.yaml")}
    assert {r.data.tags["model"] for r in children} == models and len(children) == len(models)
    for run in children:
        assert run.info.status == "FINISHED"
        assert {"accuracy", "f1", "roc_auc", "val.f1", "lift.f1"} <= set(run.data.metrics)
        assert run.outputs.model_outputs  # the model was logged too
    assert parent.info.run_id in result.stdout and "lift.f1" in result.stdout  # compare's table
    # The DVC workspace is untouched; each job wrote in multirun/<date>/<time>/<job>/.
    assert not (project / "models").exists() and not (project / "data" / "processed").exists()
    assert len(list(project.glob("multirun/*/*/*/reports/metrics.json"))) == len(models)


@pytest.mark.slow
def test_seeds_data_and_a_failed_job(tmp_path):
    """model=a,b seed=1,2 data=...: one job per combination. A failing job leaves the others
    running; the parent run ends FAILED and the command exits 1 with one line naming it."""
    project = make_project(tmp_path / "p", git=False)
    (project / "conf" / "model" / "broken.yaml").write_text(
        "name: broken\n_target_: sklearn.linear_model.LogisticRegression\nC: -1.0\n"
    )
    data = compose(conf_dir=project / "conf")["data"]["name"]
    overrides = ["model=logreg,broken", "seed=1,2", f"data={data}", *QUICK]
    result = command(project, "sweep", *overrides, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 2 sweep job(s) failed") and "model=broken" in last
    parent, children = sweep_runs(project)
    assert parent.info.status == "FAILED"
    combos = {(r.data.tags["model"], r.data.params["seed"]) for r in children}
    assert combos == {("logreg", "1"), ("logreg", "2")}
    assert all(r.info.status == "FINISHED" for r in children)


def test_every_search_space_names_keys_of_its_model():
    """A key that is not in the model's config would fail every trial (Hydra: not in struct)."""
    from omegaconf import OmegaConf

    for space in sorted((ROOT / "tuning").glob("*.yaml")):
        composed = OmegaConf.create(compose([f"model={space.stem}"], conf_dir=ROOT / "conf"))
        for key in tune.load_space(space.stem, ROOT / "tuning")["space"]:
            assert OmegaConf.select(composed, key) is not None, f"{space.name}: {key}"


def test_tune_names_the_known_search_spaces(tmp_path, monkeypatch):
    monkeypatch.chdir(make_project(tmp_path / "p", git=False))
    with pytest.raises(PipelineError, match="spaces exist for: .*logreg"):
        tune.load_space("nope")


@pytest.mark.slow
def test_tune_logs_child_trials_and_prints_the_dvc_command(tmp_path, monkeypatch, capsys):
    project = make_project(tmp_path / "p", git=False)
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri(project))
    tune.main(["--model", "logreg", "--trials", "3", "evaluate.cv_folds=2"])
    out = capsys.readouterr().out
    command_line = next(line.strip() for line in out.splitlines() if "dvc exp run" in line)
    assert command_line.startswith("dvc exp run -S model=logreg -S evaluate.cv_folds=2 -S model.C=")
    runs = store_runs(store_uri(project))
    [parent] = [r for r in runs if r.data.tags.get("run.kind") == "tune-parent"]
    trials = [r for r in runs if r.data.tags.get("run.kind") == "tune"]
    assert parent.info.status == "FINISHED"
    assert len(trials) == 3 and all(r.info.status == "FINISHED" for r in trials)
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trials)
    [best] = [r for r in trials if r.info.run_id == parent.data.tags["tune.best_run"]]
    assert best.data.metrics["val.f1"] == max(r.data.metrics["val.f1"] for r in trials)
    # The printed command composes exactly the best trial's model config.
    overrides = [part for part in command_line.split()[3:] if part != "-S"]
    composed = compose(overrides, conf_dir=project / "conf")
    assert str(composed["model"]["C"]) == best.data.params["model.C"]

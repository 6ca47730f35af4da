"""Slow tier: an intern's own table on the first try, through every command.

A fresh bake is switched to a second real table, scikit-learn's bundled diabetes data (442
patients, 10 measurements, a number to predict: a regression), saved as a semicolon CSV as
spreadsheets in many countries write it. `make data-config` writes its data config; the
intern makes it the default and commits. Then everything the README promises must work on
it: the project's own `make test` and `make lint`, `dvc repro`, `dvc exp run -S model=...` for
every model, `make sweep`, `make compare` and `make report` (scoped to this dataset: a run
on the penguins stays in its own experiment), `make predict`, `make reproduce`, `make ui`.

Its own project (not the shared `baked_project`), so that it runs beside the shared tests.
This is where the project's own `make test` runs in the template's suite: its tests of the
bundled task (named by their data config) run on the penguins whatever data is active, and
the others on the diabetes table, so one run covers both.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml

import bakery

# One worker runs them in order: they share the module's project.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("own_data")]

MODELS = ("logreg", "random_forest", "svm", "mlp")
WRITE_CSV = (
    "from sklearn.datasets import load_diabetes\n"
    "table = load_diabetes(as_frame=True, scaled=False).frame\n"
    "table.to_csv('data/raw/diabetes.csv', sep=';', index=False)\n"
    "table.drop(columns='target').head(5).to_csv('new_patients.csv', sep=';', index=False)\n"
)


@pytest.fixture(scope="module")
def own(tmp_path_factory) -> bakery.Project:
    """A set-up project whose default data is the diabetes table, committed."""
    project = bakery.bake_project(tmp_path_factory.mktemp("own-data"))
    result = bakery.set_up(project)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    project.run(project.python, "-c", WRITE_CSV)
    made = project.make("data-config", "CSV=data/raw/diabetes.csv", "TARGET=target")
    assert "next: git add data/raw/diabetes.csv.dvc" in made.stdout, made.stdout
    config = project.path / "conf" / "config.yaml"
    config.write_text(re.sub(r"- data: \w+", "- data: diabetes", config.read_text()))
    project.make("params")
    project.run("git", "add", "-A")
    project.run("git", "commit", "--quiet", "-m", "Use the diabetes table")  # hooks run
    return project


def test_the_generated_config_explains_each_choice(own):
    text = (own.path / "conf" / "data" / "diabetes.yaml").read_text()
    data = yaml.safe_load(text)
    assert (data["sep"], data["task"], data["target"]) == (";", "regression", "target")
    assert data["categorical"] == ["sex"] and len(data["numeric"]) == 9 and data["drop"] == []
    assert "  - sex  # whole numbers with 2 values" in text
    assert "task: regression  # numbers from 25 to 346" in text


def test_the_project_own_tests_and_hooks_pass_on_the_new_data(own):
    own.make("lint")
    assert own.run("git", "status", "--porcelain").stdout == "", "make lint changed files"
    own.make("test", timeout=1200)


def test_every_model_runs_the_pipeline_on_the_new_data(own):
    own.make("repro")
    for model in MODELS[1:]:
        own.venv("dvc", "exp", "run", "-S", f"model={model}")
        metrics = json.loads((own.path / "reports" / "metrics.json").read_text())
        assert {"mae", "rmse", "r2"} <= set(metrics) and metrics["r2"] > 0.2, (model, metrics)
        assert metrics["r2"] > metrics["baseline"]["r2"], model


def compare(own, *args: str) -> str:
    return own.make("compare", *args).stdout


def test_sweep_compare_report_predict_and_reproduce(own):
    own.make("sweep")
    own.make("sweep", "DATA=penguins_island", "MODELS=logreg")  # another dataset's run
    table = compare(own)
    assert "Runs on data 'diabetes'" in table and "Sorted by test r2" in table, table
    assert table.count("-diabetes-") >= 8 and "penguins_island" not in table.split("\n", 1)[1]
    assert "logreg-penguins_island" in compare(own, "DATA=penguins_island")

    report = own.make("report").stdout
    name = f"{bakery.default_slug().replace('-', '_')}-diabetes"
    assert f"champion moved to `{name}`" in report, report
    card = (own.path / "docs" / "model_card.md").read_text()
    assert "| r2" in card and "diabetes" in card, card[:3000]

    predicted = own.make("predict", "INPUT=new_patients.csv").stdout
    assert f"models:/{name}@champion" in predicted, predicted
    rows = (own.path / "new_patients.predictions.csv").read_text().splitlines()
    assert len(rows) == 6 and "predicted_target" in rows[0], rows

    best = re.search(r"make reproduce RUN=(\w+)", table).group(1)
    assert len(best) == 8  # the short id `make compare` prints is accepted
    own.make("reproduce", f"RUN={best}")


def test_ui_opens_on_the_datasets_runs_table(own):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        ["make", "ui", f"PORT={port}"],
        cwd=own.path,
        env=own.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        first = ""
        while "ui: open" not in first and server.poll() is None:
            first = server.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/\S*)", first).group(1)
        find = (
            "import mlflow\n"
            "found = mlflow.search_experiments(filter_string=\"name LIKE '% / diabetes'\")\n"
            "print(found[0].experiment_id)\n"
        )
        store = {"MLFLOW_TRACKING_URI": f"sqlite:///{own.path / 'mlflow.db'}"}
        experiment = own.run(own.python, "-c", find, env=store).stdout.strip()
        runs_table = f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs"
        assert url == f"{runs_table}?orderByKey=metrics.%60r2%60&orderByAsc=false", first
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("make ui did not answer on 127.0.0.1")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

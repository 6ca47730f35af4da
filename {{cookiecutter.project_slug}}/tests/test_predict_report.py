"""From runs to use: the comparison table, run ids by prefix, the report and model card, the
champion, predict."""

import re

import pandas as pd
import pytest
from tracking_helpers import make_project, store_uri

from {{ cookiecutter.package_name }}.commands import (
    compare,
    predict,
    report,
)
from {{ cookiecutter.package_name }}.config import load_params
from {{ cookiecutter.package_name }}.errors import PipelineError


def raw_name(data: dict, column: str) -> str:
    """A column's name in the raw file (before data.rename)."""
    return next((k for k, v in (data.get("rename") or {}).items() if v == column), column)


def new_rows(project, path, drop=(), extra=None, rows=6) -> pd.DataFrame:
    """Raw rows as a user would send them: raw headers and spellings, no target column."""
    data = load_params(project / "params.yaml")["data"]
    raw = pd.read_csv(project / data["raw_path"], dtype=str, keep_default_na=False).head(rows)
    raw = raw.drop(columns=[raw_name(data, data["target"]), *drop])
    raw = pd.concat([raw, raw.head(1)])  # a duplicate row: still predicted
    if extra:
        raw[extra] = "x"
    raw.to_csv(path, index=False)
    return raw


def test_predict_with_a_run_prefix_gives_one_row_per_input_row(tracked, tmp_path, capsys):
    sent = new_rows(tracked["project"], tmp_path / "new.csv", extra="Weather")
    out = tmp_path / "o.csv"
    predict.main([str(tmp_path / "new.csv"), "--run", tracked["run_id"][:8], "--output", str(out)])
    result = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(result) == len(sent)
    assert list(result.columns[: len(sent.columns)]) == list(sent.columns)  # the input's names
    predicted = result[f"predicted_{load_params()['data']['target']}"]
    classes = {c.removeprefix("proba_") for c in result.columns if c.startswith("proba_")}
    assert len(classes) >= 2 and set(predicted) <= classes
    assert predicted.iloc[0] == predicted.iloc[-1]  # the duplicate row
    err = capsys.readouterr().err
    assert "Weather" in err and "ignoring" in err
    # The workspace's model (dvc repro's models/model.joblib) is the same model.
    predict.main([str(tmp_path / "new.csv"), "--workspace", "--output", str(tmp_path / "w.csv")])
    assert pd.read_csv(tmp_path / "w.csv").equals(pd.read_csv(out))


def test_a_missing_column_is_named(tracked, tmp_path):
    data = load_params()["data"]
    column = [*data["categorical"], *data["numeric"]][0]
    new_rows(tracked["project"], tmp_path / "bad.csv", drop=[raw_name(data, column)])
    with pytest.raises(PipelineError, match=f"'{column}'"):
        predict.main([str(tmp_path / "bad.csv"), "--run", tracked["run_id"]])


def test_run_ids_by_prefix(tracked):
    run_id = tracked["run_id"]
    assert compare.resolve_run_id(run_id[:6]) == run_id
    assert compare.resolve_run_id(run_id.upper()) == run_id
    with pytest.raises(PipelineError, match="no run .* 6 or more"):
        compare.resolve_run_id(run_id[:5])
    with pytest.raises(PipelineError, match="no run .*make compare"):
        compare.resolve_run_id("000000")


def test_no_champion_or_an_unknown_run_says_what_to_do(tmp_path, monkeypatch):
    project = make_project(tmp_path / "p", git=False)
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri(project))
    new_rows(project, tmp_path / "new.csv")
    with pytest.raises(PipelineError, match="make report"):
        predict.main([str(tmp_path / "new.csv")])
    with pytest.raises(PipelineError, match="make compare"):
        predict.main([str(tmp_path / "new.csv"), "--run", "0123456789abcdef"])


def test_fill_rewrites_only_auto_blocks():
    text = (
        "mine\n<!-- auto:begin a -->\nold\n<!-- auto:end a -->\nalso mine\n"
        "<!-- auto:begin b -->\n<!-- auto:end b -->\n"
    )
    filled, missing = report.fill(text, {"a": "new", "b": "B\n", "c": "C"})
    assert filled == (
        "mine\n<!-- auto:begin a -->\nnew\n<!-- auto:end a -->\nalso mine\n"
        "<!-- auto:begin b -->\nB\n<!-- auto:end b -->\n"
    )
    assert missing == ["c"]
    assert report.fill(filled, {"a": "new", "b": "B\n"})[0] == filled  # idempotent


def test_report_fills_the_docs_keeps_findings_and_registers_the_champion(tracked, tmp_path):
    project, run_id = tracked["project"], tracked["run_id"]
    log, card = project / "docs" / "experiment_log.md", project / "docs" / "model_card.md"
    log.write_text(log.read_text().replace("- **Expected:**", "- **Expected:** penguins are easy"))
    card.write_text(card.read_text() + "\nMy own note about limits.\n")
    first, second = report.report(), report.report()
    assert first["moved"] and not second["moved"]  # the alias moves only when the best changes
    text = log.read_text()
    assert text.count("penguins are easy") == 1
    assert run_id[:8] in text and f"make reproduce RUN={run_id[:8]}" in text
    assert "lift.f1" in text and "gap.f1" in text
    assert "(figures/confusion_matrix.png)" in text
    assert (project / "docs" / "figures" / "confusion_matrix.png").exists()
    card_text = card.read_text()
    assert "My own note about limits." in card_text
    assert "alias `champion`" in card_text and "| test " in card_text
    # What drives the predictions: the run's permutation importance, strongest first.
    ranked = pd.read_csv(project / "reports" / "importance.csv")
    assert re.search(rf"\| `{re.escape(ranked['feature'][0])}` +\|", card_text)
    for doc in (text, card_text):  # the docs are committed: no path of this machine in them
        assert str(project) not in doc and "sqlite" not in doc
    from mlflow import MlflowClient

    params = load_params()  # one registered model per dataset: <registered_model>-<data name>
    name = f"{params['tracking']['registered_model']}-{params['data']['name']}"
    champion = MlflowClient(tracked["uri"]).get_model_version_by_alias(name, "champion")
    assert champion.run_id == run_id
    new_rows(project, tmp_path / "new.csv")  # predict without --run uses the champion
    predict.main([str(tmp_path / "new.csv"), "--output", str(tmp_path / "champion.csv")])
    assert len(pd.read_csv(tmp_path / "champion.csv")) == 7


def finished_runs(uri: str, experiment: str, rows: dict) -> None:
    """Runs named as the keys of `rows`, with the values' metrics (no training needed)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment_id = client.create_experiment(experiment)
    for name, metrics in rows.items():
        run_id = client.create_run(experiment_id, run_name=name, tags={"model": name}).info.run_id
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        client.set_terminated(run_id)


def test_compare_sorts_by_the_chosen_metric_and_shows_lift_and_gap(tracked):
    rows = {
        name: {"f1": f1, "roc_auc": auc, "lift.f1": f1 - 0.2, "gap.f1": 1 - f1}
        for name, f1, auc in (("a", 0.80, 0.99), ("b", 0.95, 0.90), ("c", 0.90, 0.97))
    }
    finished_runs(tracked["uri"], "compare-test", rows)
    runs = compare.latest_runs("f1", experiment="compare-test")
    assert [r.info.run_name for r in compare.ranked(runs, "f1")] == ["b", "c", "a"]
    assert [r.info.run_name for r in compare.ranked(runs, "roc_auc")] == ["a", "c", "b"]
    table = compare.format_table(compare.ranked(runs, "f1"), "f1")
    assert "lift.f1" in table and "gap.f1" in table and "+0.750" in table


def test_compare_ranks_regression_errors_smallest_first(tracked):
    rows = {"a": {"mae": 3.0, "rmse": 4.0, "r2": 0.5}, "b": {"mae": 2.0, "rmse": 5.0, "r2": 0.4}}
    finished_runs(tracked["uri"], "compare-regression", rows)
    runs = compare.latest_runs("rmse", experiment="compare-regression")
    assert [r.info.run_name for r in compare.ranked(runs, "mae")] == ["b", "a"]
    assert [r.info.run_name for r in compare.ranked(runs, "rmse")] == ["a", "b"]
    assert [r.info.run_name for r in compare.ranked(runs, "r2")] == ["a", "b"]
    header = compare.format_table(runs, "r2").splitlines()[0].replace("|", " ").split()
    assert header[3:] == ["mae", "rmse", "r2", "lift.r2", "gap.r2"]
    assert compare.latest_runs("f1", experiment="compare-regression") == []


def test_runs_of_each_dataset_are_compared_apart(tracked, capsys):
    """Each dataset has its experiment: the active one's runs by default, DATA= for another."""
    params = load_params()
    active, other = params["data"]["name"], "penguins_mass"
    assert active != other
    prefix = params["tracking"]["experiment"]
    finished_runs(tracked["uri"], f"{prefix} / {other}", {"other-run": {"r2": 0.5, "mae": 1.0}})
    assert "other-run" not in [r.info.run_name for r in compare.latest_runs("r2")]
    assert [r.info.run_name for r in compare.latest_runs("r2", data=other)] == ["other-run"]
    compare.main(["--data", other])
    out = capsys.readouterr().out
    assert f"Runs on data {other!r}" in out and "Sorted by test r2" in out  # its task's metric
    assert "other-run" in out and tracked["run_id"][:8] not in out
    with pytest.raises(
        PipelineError, match=r"DATA=nope: there is no conf/data/nope.yaml \(known: "
    ):
        compare.main(["--data", "nope"])

"""From runs to use: the comparison table, the report and model card, the champion, predict."""

import time

import pandas as pd
import pytest
from tracking_helpers import ROOT, copy_store, inside, make_project, template_store, tracked_run

from {{ cookiecutter.package_name }} import predict, report
from {{ cookiecutter.package_name }}.compare import format_table, rows_for
from {{ cookiecutter.package_name }}.errors import PipelineError

RAW = ROOT / "data" / "raw" / "penguins-raw.csv"


def client(uri):
    from {{ cookiecutter.package_name }}.tracking import client as make_client

    return make_client(uri)


def new_rows(path, drop=(), extra=None, rows=6):
    """Raw rows as a user would send them: raw headers and spellings, no target column."""
    raw = pd.read_csv(RAW, dtype=str, keep_default_na=False).head(rows)
    raw = raw.drop(columns=["Species", *drop])
    raw.loc[0, "Sex"] = "."  # a missing-value token
    raw = pd.concat([raw, raw.head(1)])  # a duplicate row: still predicted
    if extra:
        raw[extra] = "x"
    raw.to_csv(path, index=False)
    return raw


def test_predict_with_a_run_gives_one_row_per_input_row(tmp_path, capsys):
    tracked = tracked_run()
    source = tmp_path / "new.csv"
    sent = new_rows(source, extra="Weather")
    with inside(tracked["project"], tracked["uri"]):
        predict.main([str(source), "--run", tracked["run_id"], "--output", str(tmp_path / "o.csv")])
    out = pd.read_csv(tmp_path / "o.csv")
    assert len(out) == len(sent)
    assert list(out.columns[: len(sent.columns)]) == list(sent.columns)  # the input's own names
    assert set(out["predicted_species"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert out["predicted_species"].iloc[0] == out["predicted_species"].iloc[-1]  # duplicate
    err = capsys.readouterr().err
    assert "Weather" in err and "ignoring" in err


def test_a_missing_column_is_named(tmp_path):
    tracked = tracked_run()
    source = tmp_path / "bad.csv"
    new_rows(source, drop=["Island"])
    with inside(tracked["project"], tracked["uri"]), pytest.raises(PipelineError) as error:
        predict.main([str(source), "--run", tracked["run_id"]])
    assert "'island'" in str(error.value) and "'Island'" in str(error.value)


def test_an_unknown_run_or_no_champion_says_what_to_do(tmp_path):
    project = make_project(tmp_path / "p")
    uri = copy_store(template_store(), tmp_path / "store")
    source = tmp_path / "new.csv"
    new_rows(source)
    with inside(project, uri):
        with pytest.raises(PipelineError, match="make report"):
            predict.main([str(source)])
        with pytest.raises(PipelineError, match="make compare"):
            predict.main([str(source), "--run", "0123456789abcdef0123456789abcdef"])


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


def test_report_fills_the_docs_keeps_findings_and_registers_the_champion(tmp_path):
    tracked = tracked_run()
    project = tracked["project"]
    log, card = project / "docs" / "experiment_log.md", project / "docs" / "model_card.md"
    log.write_text(log.read_text().replace("- **Expected:**", "- **Expected:** penguins are easy"))
    card.write_text(card.read_text() + "\nMy own note about limits.\n")
    with inside(project, tracked["uri"]):
        first = report.report()
        second = report.report()
    assert first["moved"] and not second["moved"]  # the alias moves only when the best changes
    text = log.read_text()
    assert "penguins are easy" in text and text.count("penguins are easy") == 1
    assert tracked["run_id"][:8] in text and f"make reproduce RUN={tracked['run_id']}" in text
    assert "lift.f1" in text and "gap.f1" in text
    assert "(figures/confusion_matrix.png)" in text
    assert (project / "docs" / "figures" / "confusion_matrix.png").exists()
    card_text = card.read_text()
    assert "My own note about limits." in card_text
    assert "alias `champion`" in card_text and "| test |" in card_text
    version = client(tracked["uri"]).get_model_version_by_alias(
        "{{ cookiecutter.package_name }}", "champion"
    )
    assert version.run_id == tracked["run_id"]
    # predict without --run now uses the champion
    source = tmp_path / "new.csv"
    new_rows(source)
    with inside(project, tracked["uri"]):
        predict.main([str(source), "--output", str(tmp_path / "champion.csv")])
    assert len(pd.read_csv(tmp_path / "champion.csv")) == 7


def test_compare_sorts_by_the_chosen_metric_and_shows_lift_and_gap(tmp_path):
    from {{ cookiecutter.package_name }}.tracking import experiment_id, log_batch

    uri = copy_store(template_store(), tmp_path / "store")
    mlflow_client = client(uri)
    exp = experiment_id(mlflow_client, "compare-test")
    for name, f1, auc in (("a", 0.80, 0.99), ("b", 0.95, 0.90), ("c", 0.90, 0.97)):
        run_id = mlflow_client.create_run(exp, run_name=name).info.run_id
        log_batch(
            mlflow_client,
            run_id,
            tags={"model": name},
            metrics={
                "accuracy": f1,
                "precision": f1,
                "recall": f1,
                "f1": f1,
                "roc_auc": auc,
                "lift.f1": f1 - 0.2,
                "gap.f1": 1 - f1,
                "lift.roc_auc": auc - 0.5,
                "gap.roc_auc": 0.01,
            },
        )
        mlflow_client.set_terminated(run_id)
        time.sleep(0.01)
    from {{ cookiecutter.package_name }}.compare import latest_runs

    runs = latest_runs(mlflow_client, "compare-test")
    assert [r["name"] for r in rows_for(runs, "f1")] == ["b", "c", "a"]
    assert [r["name"] for r in rows_for(runs, "roc_auc")] == ["a", "c", "b"]
    table = format_table(rows_for(runs, "f1"), "f1")
    assert "lift.f1" in table and "gap.f1" in table and "+0.750" in table

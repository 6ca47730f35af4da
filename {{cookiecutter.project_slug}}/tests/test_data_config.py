"""`make data-config`: a data config written from the table itself runs the whole pipeline."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.commands.data_config import (
    write_data_config,
)
from {{ cookiecutter.package_name }}.config import Paths
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.pipeline import run_pipeline


def generated(csv: Path, target: str, conf: Path) -> dict:
    (conf / "data").mkdir(parents=True, exist_ok=True)
    return yaml.safe_load(write_data_config(csv, target, conf=conf).read_text(encoding="utf-8"))


def messy_survey(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Every kind of column the generator must tell apart, with a label that depends on two."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows).astype(float)
    region = rng.choice(["Oslo og Viken", "Trøndelag", "Nordland"], rows)
    answer = np.where((age > 45) | (region == "Nordland"), "Ja", "Nei")
    return pd.DataFrame(
        {
            "Respondent ID": np.arange(1000, 1000 + rows),  # unique numbers: an identifier
            "Alder (år)": np.where(rng.random(rows) < 0.05, np.nan, age),  # numbers, missing
            "Région": region,  # a category with spaces and non-ASCII text
            "Has Car": rng.integers(0, 2, rows),  # a 0/1 flag: a category
            "Interview date": pd.date_range("2024-01-01", periods=rows, freq="D").astype(str),
            "Comment": [f"answer number {i} was given by phone" for i in range(rows)],
            "Wave": "2024",  # constant
            "Answer": answer,
        }
    )


def test_a_messy_table_gets_a_config_with_reasons_that_runs(tmp_path, cfg):
    csv = tmp_path / "survey.csv"
    messy_survey().to_csv(csv, sep=";", index=False, encoding="cp1252")
    data_cfg = generated(csv, "Answer", tmp_path / "conf")
    assert (data_cfg["sep"], data_cfg["encoding"], data_cfg["task"]) == (
        ";",
        "cp1252",
        "classification",
    )
    assert data_cfg["target"] == "answer" and data_cfg["rename"]["Alder (år)"] == "alder_år"
    assert data_cfg["numeric"] == ["alder_år"]
    assert data_cfg["categorical"] == ["région", "has_car"]
    assert data_cfg["drop"] == ["respondent_id", "interview_date", "comment", "wave"]
    text = (tmp_path / "conf" / "data" / "survey.yaml").read_text(encoding="utf-8")
    assert "  - has_car  # whole numbers with 2 values" in text  # every choice has its reason
    metrics = run_pipeline({**cfg, "data": data_cfg}, Paths(tmp_path / "out"), with_eda=False)
    assert metrics["accuracy"] > 0.9, "the answer follows age and region: a model finds it"
    cleaning = json.loads((tmp_path / "out" / "reports" / "cleaning.json").read_text())
    assert cleaning["columns_ignored"] == []  # each column is in a list
    labels = pd.read_parquet(tmp_path / "out" / "data" / "processed" / "test.parquet")
    assert set(labels["answer"]) == {"Ja", "Nei"} and "Oslo og Viken".lower() in set(
        labels["région"]
    )


def test_a_binary_0_1_target_headlines_the_rarer_class(tmp_path, cfg):
    """An intern's own CSV: scikit-learn's bundled breast-cancer table (0 = malignant)."""
    from sklearn.datasets import load_breast_cancer

    csv = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(csv, index=False)
    data_cfg = generated(csv, "target", tmp_path / "conf")
    assert data_cfg["task"] == "classification" and len(data_cfg["numeric"]) == 30
    metrics = run_pipeline({**cfg, "data": data_cfg}, Paths(tmp_path / "out"), with_eda=True)
    assert metrics["roc_auc"] > 0.9 and metrics["baseline"]["roc_auc"] == 0.5
    # The headline is about the rarer class (0, malignant), not whichever label sorts last.
    per_class = json.loads((tmp_path / "out" / "reports" / "plots" / "per_class.json").read_text())
    assert metrics["f1"] == pytest.approx(per_class["0"]["f1-score"], abs=1e-6)
    assert metrics["baseline"]["f1"] == 0.0  # "always benign" never finds a malignant case
    assert (tmp_path / "out" / "reports" / "eda" / "correlation.png").exists()


def test_a_numeric_target_with_many_values_is_a_regression(tmp_path, cfg):
    """scikit-learn's bundled diabetes table: a number to predict from ten measurements."""
    from sklearn.datasets import load_diabetes

    csv = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True, scaled=False).frame.to_csv(csv, index=False)
    data_cfg = generated(csv, "target", tmp_path / "conf")
    assert data_cfg["task"] == "regression" and data_cfg["categorical"] == ["sex"]
    metrics = run_pipeline({**cfg, "data": data_cfg}, Paths(tmp_path / "out"))
    assert 0.2 < metrics["r2"] < 0.8 and metrics["r2"] > metrics["baseline"]["r2"] + 0.2


def test_mistakes_are_one_line_errors(tmp_path):
    csv = tmp_path / "table.csv"
    pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]}).to_csv(csv, index=False)
    conf = tmp_path / "conf"
    with pytest.raises(
        PipelineError, match=r"TARGET='Y' is not a column of .*table.csv \(columns: x, y\)"
    ):
        generated(csv, "Y", conf)
    generated(csv, "y", conf)
    with pytest.raises(PipelineError, match=r"table.yaml exists: choose another NAME=, or FORCE=1"):
        generated(csv, "y", conf)
    with pytest.raises(
        PipelineError, match=r"missing.csv not found: copy your table into data/raw/"
    ):
        generated(tmp_path / "missing.csv", "y", conf)

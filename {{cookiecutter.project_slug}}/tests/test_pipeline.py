"""The pipeline's stage functions on small data: cleaning, splitting, features, metrics."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tracking_helpers import BUNDLED_TASK

from {{ cookiecutter.package_name }}.config import (
    Paths,
    compose,
    differences,
    load_params,
)
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.featurize import build_featurizer
from {{ cookiecutter.package_name }}.metrics import (
    METRICS,
    classification_metrics,
    majority_baseline,
)
from {{ cookiecutter.package_name }}.pipeline import run_pipeline
from {{ cookiecutter.package_name }}.prepare import (
    clean,
    clean_rows,
    load_raw,
    prepare,
    split,
)

ROOT = Path(__file__).resolve().parent.parent


def messy_frame() -> pd.DataFrame:
    """Raw-shaped rows with the usual problems: case, spaces, synonyms, duplicates, '.'."""
    row = {
        "studyName": "PAL0708",
        "Sample Number": "1",
        "Region": "Anvers",
        "Stage": "Adult",
        "Individual ID": "N1A1",
        "Date Egg": "2007-11-11",
        "Comments": "",
        "Clutch Completion": "Yes",
        "Culmen Length (mm)": "39.1",
        "Culmen Depth (mm)": "18.7",
        "Flipper Length (mm)": "181",
        "Body Mass (g)": "3750",
        "Delta 15 N (o/oo)": "8.9",
        "Delta 13 C (o/oo)": "-24.7",
        "Island": "Torgersen",
        "Sex": "MALE",
        "Species": "Adelie Penguin (Pygoscelis adeliae)",
    }
    rows = [
        row,
        row,  # an exact duplicate
        {
            **row,
            "Individual ID": "N1A2",
            "Species": "  adelie PENGUIN  (Pygoscelis adeliae) ",
            "Sex": "F",
            "Island": " torgersen",
        },
        {
            **row,
            "Individual ID": "N2A1",
            "Species": "Gentoo penguin (Pygoscelis papua)",
            "Sex": ".",
            "Body Mass (g)": "NA",
        },
        {**row, "Individual ID": "N2A2", "Species": ""},  # no label: dropped
    ]
    return pd.DataFrame(rows)


def test_clean_fixes_categories_duplicates_and_missing_tokens(tmp_path, data_cfg):
    path = tmp_path / "messy.csv"
    messy_frame().to_csv(path, index=False)
    df, summary = clean(load_raw(path, data_cfg), data_cfg)
    assert sorted(df["species"].unique()) == ["Adelie", "Gentoo"]
    assert df["island"].unique().tolist() == ["torgersen"]
    assert sorted(df["sex"].dropna().unique()) == ["female", "male"]
    assert summary["rows_in"] == 5 and summary["rows_out"] == 3
    assert summary["rows_dropped"] == {"missing_target": 1, "duplicates": 1}
    assert summary["missing_values"]["sex"] == 1 and summary["missing_values"]["body_mass_g"] == 1
    assert "individual_id" not in df.columns and "comments" not in df.columns
    assert df["body_mass_g"].dtype == np.float64


def test_raw_file_is_never_modified(tmp_path, data_cfg, tiny_raw):
    before = tiny_raw.read_bytes()
    prepare({"data": data_cfg, "seed": 0}, Paths(tmp_path), tiny_raw)
    assert tiny_raw.read_bytes() == before
    assert {p.name for p in Paths(tmp_path).processed.iterdir()} == {
        "train.parquet",
        "val.parquet",
        "test.parquet",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns=["Island"]), "'island' missing"),
        (lambda df: df.rename(columns={"Body Mass (g)": "Mass"}), "'body_mass_g' missing"),
        (lambda df: df.assign(**{"Delta 15 N (o/oo)": "NA"}), "'delta_15n' hold no values"),
        (
            lambda df: df.assign(**{"Body Mass (g)": "heavy"}),
            "'body_mass_g' is listed in data.numeric",
        ),
    ],
    ids=["missing column", "renamed column", "all-empty column", "text in a numeric column"],
)
def test_schema_errors_name_the_column(tmp_path, data_cfg, tiny_raw, change, message):
    path = tmp_path / "bad.csv"
    change(pd.read_csv(tiny_raw, dtype=str, keep_default_na=False)).to_csv(path, index=False)
    with pytest.raises(PipelineError, match=message):
        clean(load_raw(path, data_cfg), data_cfg)


def test_missing_raw_file_suggests_dvc_pull(tmp_path, data_cfg):
    with pytest.raises(PipelineError, match="dvc pull"):
        load_raw(tmp_path / "nope.csv", data_cfg)


def test_single_class_and_too_small_data_are_clear_errors(data_cfg):
    one_class = pd.DataFrame({data_cfg["target"]: ["Adelie"] * 10})
    with pytest.raises(PipelineError, match="single class"):
        split(one_class, data_cfg, seed=0)
    tiny = pd.DataFrame({data_cfg["target"]: ["Adelie"] * 5 + ["Gentoo"] * 2})
    with pytest.raises(PipelineError, match="too little data"):
        split(tiny, data_cfg, seed=0)


def test_split_is_stratified_disjoint_and_seeded(tmp_path, data_cfg, tiny_raw):
    df, _ = clean(load_raw(tiny_raw, data_cfg), data_cfg)
    df = df.assign(row=range(len(df)))
    parts = split(df, data_cfg, seed=7)
    rows = [set(p["row"]) for p in parts.values()]
    assert sum(map(len, rows)) == len(df) and not (rows[0] & rows[1] or rows[0] & rows[2])
    overall = df["species"].value_counts(normalize=True)
    for part in parts.values():  # every class in every split, in the overall proportion
        share = part["species"].value_counts(normalize=True)
        assert (share - overall).abs().max() < 0.05
    again = split(df, data_cfg, seed=7)
    assert all(parts[k]["row"].tolist() == again[k]["row"].tolist() for k in parts)


def test_featurizer_learns_from_train_only(data_cfg):
    train = pd.DataFrame(
        {c: [1.0, 2.0, 3.0, np.nan] for c in data_cfg["numeric"]}
        | {c: ["a", "b", "a", None] for c in data_cfg["categorical"]}
    )
    featurizer = build_featurizer(data_cfg).fit(train)
    x = featurizer.transform(train)
    n_num = len(data_cfg["numeric"])
    assert x.dtype == np.float64 or x.dtype == np.float32
    assert np.allclose(x[:, :n_num].mean(axis=0), 0, atol=1e-6)  # scaled with train stats
    unseen = train.assign(**{c: ["zzz"] * 4 for c in data_cfg["categorical"]})
    assert not featurizer.transform(unseen)[:, n_num:].any()  # unknown category: all zeros


def test_new_rows_are_cleaned_like_the_training_rows(tmp_path, data_cfg):
    """The deployable model's first step: raw headers, spellings and missing tokens."""
    rows = clean_rows(messy_frame(), data_cfg)
    assert list(rows.columns) == data_cfg["numeric"] + data_cfg["categorical"]
    assert rows["sex"].tolist() == ["male", "male", "female", None] or rows["sex"].isna().iloc[3]
    assert rows["island"].tolist()[:3] == ["torgersen"] * 3
    assert np.isnan(rows["body_mass_g"].iloc[3])


def test_labels_keep_the_spelling_people_typed(data_cfg):
    cfg = {**data_cfg, "synonyms": {}}
    labels = ["Oslo og Viken", " OSLO  og viken", "Oslo og Viken", "Yes", "Yes", "yes"]
    df = pd.DataFrame(
        {c: [str(i) for i in range(6)] for c in cfg["numeric"]}
        | {c: ["a"] * 6 for c in cfg["categorical"]}
        | {cfg["target"]: labels}
    )
    table, _ = clean(df, cfg)
    assert sorted(set(table[cfg["target"]])) == ["Oslo og Viken", "Yes"]


def test_the_target_listed_as_a_feature_is_refused(data_cfg):
    cfg = {**data_cfg, "categorical": [*data_cfg["categorical"], data_cfg["target"]]}
    with pytest.raises(PipelineError, match="also listed as a feature"):
        clean(messy_frame().rename(columns=data_cfg["rename"]), cfg)


def test_metrics_names_and_known_values():
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3)[y]
    assert classification_metrics(y, perfect) == dict.fromkeys(METRICS, 1.0)
    assert METRICS == ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
    baseline = classification_metrics(y, majority_baseline(np.array([0, 0, 1]), 6, 3))
    assert baseline["roc_auc"] == 0.5 and baseline["accuracy"] == round(2 / 6, 6)
    binary = classification_metrics(
        np.array([0, 1, 1, 0]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    )
    assert binary == {
        "accuracy": 0.75,
        "precision": 1.0,
        "recall": 0.5,
        "f1": round(2 / 3, 6),
        "roc_auc": 1.0,
        "pr_auc": 1.0,
    }


@pytest.mark.parametrize("model", ["logreg", "random_forest", "svm"])
def test_every_stage_runs_on_a_tiny_copy(tmp_path, tiny_raw, model):
    run_cfg = compose([f"model={model}", f"data={BUNDLED_TASK}"], conf_dir=ROOT / "conf")
    metrics = run_pipeline(run_cfg, Paths(tmp_path), raw_path=tiny_raw, with_eda=model == "svm")
    assert set(METRICS) <= set(metrics) and metrics["f1"] > metrics["baseline"]["f1"]
    for split_name in ("train", "val", "baseline", "lift", "gap"):
        assert set(metrics[split_name]) == set(METRICS)
    assert metrics["cv"]["folds"] == 5
    saved = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert saved == metrics
    for name in ("plots/confusion.csv", "plots/roc", "importance.csv", "mistakes.csv"):
        assert (tmp_path / "reports" / name).exists()
    importance = pd.read_csv(tmp_path / "reports" / "importance.csv")
    data = run_cfg["data"]
    assert set(importance["feature"]) == set(data["numeric"] + data["categorical"])


def test_same_seed_gives_byte_identical_metrics(tmp_path, bundled_cfg, tiny_raw):
    outputs = []
    for attempt in ("a", "b"):
        run_pipeline(bundled_cfg, Paths(tmp_path / attempt), raw_path=tiny_raw, with_eda=False)
        outputs.append((tmp_path / attempt / "reports" / "metrics.json").read_bytes())
    assert outputs[0] == outputs[1]


def test_params_yaml_matches_conf(cfg):
    changed = differences(cfg, load_params(ROOT / "params.yaml"))
    assert not changed, f"params.yaml differs from conf/ at {changed}: run `make params`"


def test_each_stage_lists_only_the_params_it_reads():
    """A model change must re-run train and evaluate only."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("prepare", "eda", "featurize"):
        params = [str(p) for p in stages[name].get("params", [])]
        assert not any(p.startswith(("model", "trainer")) for p in params), name
    assert "model" in stages["train"]["params"] and "model" in stages["evaluate"]["params"]


HEADER = "Species,Island,Sex,Clutch Completion,Culmen Length (mm),Culmen Depth (mm),"
HEADER += "Flipper Length (mm),Body Mass (g),Delta 15 N (o/oo),Delta 13 C (o/oo)\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        (HEADER, "no data rows"),
        ("Island," + HEADER, "more than one column named 'island'"),
        ("species," + HEADER, "more than one column named 'species'"),
    ],
    ids=["empty file", "header only", "a column twice", "Species and species"],
)
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, data_cfg, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(PipelineError, match=message) as caught:
        load_raw(path, data_cfg)
    assert "bad.csv" in str(caught.value) and "\n" not in str(caught.value)


def test_infinities_and_nan_labels_are_missing_values(tmp_path, data_cfg):
    df = messy_frame().assign(**{"Body Mass (g)": ["inf", "3750", "-inf", "3900", "4000"]})
    df["Species"] = ["NaN"] + ["Gentoo penguin (Pygoscelis papua)"] * 4
    path = tmp_path / "odd.csv"
    df.to_csv(path, index=False)
    table, summary = clean(load_raw(path, data_cfg), data_cfg)
    assert not np.isinf(table["body_mass_g"]).any() and table["body_mass_g"].isna().any()
    assert summary["rows_dropped"]["missing_target"] == 1  # the "NaN" label
    assert set(table["species"]) == {"Gentoo"}


def test_an_edited_raw_file_is_refused_with_both_ways_out(tmp_path, data_cfg, tiny_raw):

    raw = tmp_path / "penguins-raw.csv"
    raw.write_bytes(tiny_raw.read_bytes())
    md5 = hashlib.md5(raw.read_bytes()).hexdigest()
    (tmp_path / "penguins-raw.csv.dvc").write_text(
        f"outs:\n- md5: {md5}\n  path: penguins-raw.csv\n"
    )
    cfg = {"data": data_cfg, "seed": 0}
    prepare(cfg, Paths(tmp_path / "ok"), raw)  # unchanged: fine
    raw.write_text(raw.read_text().replace("Torgersen", "Torgersen Island", 1))
    with pytest.raises(PipelineError, match=r"dvc checkout .*dvc add"):
        prepare(cfg, Paths(tmp_path / "edited"), raw)
    assert not (tmp_path / "edited").exists()  # nothing half-written


def test_a_seed_that_is_not_a_number_is_named(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: abc\n")
    with pytest.raises(PipelineError, match=r"seed='abc'.*integer"):
        load_params(tmp_path / "params.yaml")


def test_big_data_switches_the_svm_skips_cv_and_samples(tmp_path, cfg, capsys):
    """The size rules of big data, fired on a few thousand rows by low thresholds."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=3000, n_features=6, n_informative=4, random_state=0)
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(label=y.astype(str))
    csv = tmp_path / "big.csv"
    df.to_csv(csv, index=False)
    data_cfg = {
        **cfg["data"],
        "name": "big",
        "raw_path": str(csv),
        "target": "label",
        "rename": {},
        "numeric": [f"x{i}" for i in range(6)],
        "categorical": [],
        "drop": [],
        "synonyms": {},
        "sep": ",",
        "task": "classification",
    }
    run_cfg = compose(["model=svm", "model.large_data.max_rows=500"], conf_dir=ROOT / "conf")
    run_cfg["data"] = data_cfg
    run_cfg["evaluate"] |= {"cv_auto_max_rows": 1000, "importance_max_rows": 200}
    metrics = run_pipeline(run_cfg, Paths(tmp_path / "out"))
    said = capsys.readouterr().out
    assert "large_data.max_rows=500" in said and "cross-validation skipped" in said
    summary = json.loads((tmp_path / "out" / "reports" / "train.json").read_text())
    assert summary["estimator"] == "Pipeline"  # Nystroem + linear SVM, not the kernel SVC
    assert metrics["cv"] == {"folds": 0} and metrics["f1"] > metrics["baseline"]["f1"] + 0.2
    run_cfg["evaluate"]["cv_folds"] = 3  # asked for explicitly: always runs
    assert run_pipeline(run_cfg, Paths(tmp_path / "again"))["cv"]["folds"] == 3


# ---- regression: data.task: regression -------------------------------------------------


@pytest.mark.parametrize("model", ["logreg", "svm"])
def test_regression_end_to_end_on_the_bundled_mass_config(tmp_path, tiny_raw, model):
    from {{ cookiecutter.package_name }}.serving import (
        load_trusted,
        predict,
    )

    run_cfg = compose([f"model={model}", "data=penguins_mass"], conf_dir=ROOT / "conf")
    paths = Paths(tmp_path)
    metrics = run_pipeline(run_cfg, paths, raw_path=tiny_raw, with_eda=True)
    assert {"mae", "rmse", "r2"} <= set(metrics) and "f1" not in metrics
    assert metrics["r2"] > 0.5 and abs(metrics["baseline"]["r2"]) < 0.1  # the mean: R² ~ 0
    assert metrics["lift"]["r2"] > 0.5 and metrics["cv"]["folds"] == 5
    for name in ("plots/predicted_vs_actual.csv", "figures/residuals.png", "eda/target.png"):
        assert (tmp_path / "reports" / name).exists(), name
    rows = pd.read_csv(tiny_raw, dtype=str, keep_default_na=False).head(5)
    predicted = predict(load_trusted(paths.model), rows, "body_mass_g")
    assert predicted["predicted_body_mass_g"].between(2000, 7000).all()


@pytest.mark.parametrize(
    ("task", "values", "message"),
    [
        ("classification", [str(v / 10) for v in range(100)], "set data.task: regression"),
        ("regression", ["Adelie", "Gentoo"] * 50, "set data.task: classification"),
        ("regression", ["4000"] * 100, "is constant"),
    ],
    ids=["many numbers as classes", "labels as numbers", "constant target"],
)
def test_a_target_that_does_not_fit_the_task_says_which_task(data_cfg, task, values, message):
    cfg = {**data_cfg, "task": task}
    df = pd.DataFrame(
        {c: [str(i) for i in range(100)] for c in cfg["numeric"]}
        | {c: ["a"] * 100 for c in cfg["categorical"]}
        | {cfg["target"]: values}
    )
    with pytest.raises(PipelineError, match=message):
        table, _ = clean(df, cfg)
        split(table, cfg, seed=0)


def test_a_swapped_pickle_is_never_loaded(tmp_path, monkeypatch):
    """Unpickling runs code: a model file that is not the one dvc.lock records is refused."""
    import joblib

    from {{ cookiecutter.package_name }}.serving import load_trusted

    monkeypatch.chdir(tmp_path)
    model = Path("models/model.joblib")
    model.parent.mkdir()
    joblib.dump({"a": 1}, model)
    md5 = hashlib.md5(model.read_bytes()).hexdigest()
    lock = f"stages:\n  train:\n    outs:\n    - path: {model}\n      md5: {md5}\n"
    Path("dvc.lock").write_text(lock)
    assert load_trusted(model) == {"a": 1}
    joblib.dump({"a": "swapped"}, model)
    with pytest.raises(PipelineError, match=r"dvc checkout models/model\.joblib"):
        load_trusted(model)

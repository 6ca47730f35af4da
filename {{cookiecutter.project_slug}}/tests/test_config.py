"""conf/ composes: every model, every experiment; `config check` guards params.yaml;
dvc.yaml's deps follow what each stage imports."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import compose
from {{ cookiecutter.package_name }}.config import main as config_main
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.models import build_estimator

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "{{ cookiecutter.package_name }}"
SOURCE = ROOT / "src" / PACKAGE
CONF = ROOT / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def dotted_keys(cfg: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in cfg.items():
        keys.add(f"{prefix}{key}")
        if isinstance(value, dict):
            keys |= dotted_keys(value, f"{prefix}{key}.")
    return keys


def test_the_contract_models_exist():
    assert {"logreg", "random_forest", "svm", "mlp"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_config_composes_and_builds_an_estimator(name):
    from sklearn.base import clone, is_classifier, is_regressor

    cfg = compose([f"model={name}"], conf_dir=CONF)
    estimator = build_estimator(cfg["model"])
    assert is_classifier(estimator)
    assert is_regressor(build_estimator(cfg["model"], task="regression"))  # data.task: regression
    assert str(clone(estimator).get_params(deep=False)) == str(estimator.get_params(deep=False))
    # Above large_data.max_rows (where a model has that section), for both tasks.
    assert is_classifier(build_estimator(cfg["model"], n_rows=10**7))
    assert is_regressor(build_estimator(cfg["model"], n_rows=10**7, task="regression"))


def test_large_data_changes_only_the_settings_it_names():
    """Above large_data.max_rows the MLP trains in bigger batches and each tree of the forest
    grows from a sample of the rows; every other setting stays as configured."""

    def params(name: str, n_rows: int) -> dict:
        model_cfg = compose([f"model={name}"], conf_dir=CONF)["model"]
        return build_estimator(model_cfg, n_rows).get_params(deep=False)

    mlp = params("mlp", 1_000)
    assert params("mlp", 10**7) == {**mlp, "trainer": {**mlp["trainer"], "batch_size": 1024}}
    forest = params("random_forest", 1_000)
    assert params("random_forest", 10**7) == {**forest, "max_samples": 100_000}


def test_a_misspelt_model_key_names_the_valid_ones():
    cfg = compose(["model=logreg", "+model.max_iters=5"], conf_dir=CONF)
    with pytest.raises(PipelineError, match=r"model\.max_iters is not a setting.*max_iter"):
        build_estimator(cfg["model"])


def test_there_are_experiments():
    assert len(EXPERIMENTS) >= 2


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_overrides_only_existing_keys(name):
    cfg = compose([f"+experiment={name}"], conf_dir=CONF)
    # The same model without the experiment: the experiment may change values, never add keys
    # (a misspelt key would otherwise be added silently and change nothing).
    model_file = next(
        f
        for f in MODELS
        if compose([f"model={f}"], conf_dir=CONF)["model"]["name"] == cfg["model"]["name"]
    )
    base = compose([f"model={model_file}"], conf_dir=CONF)
    assert dotted_keys(cfg) == dotted_keys(base), (
        f"experiment {name} adds {sorted(dotted_keys(cfg) - dotted_keys(base))}"
    )
    assert cfg != base, f"experiment {name} changes nothing"
    build_estimator(cfg["model"])


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_files_are_global_packages(name):
    text = (CONF / "experiment" / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.startswith("# @package _global_\n"), "Hydra must read its keys from the top"
    assert "override /model:" in text


def test_config_check_command_accepts_the_committed_params():
    """What the pre-commit hook `params-sync` runs."""
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.config", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_check_command_refuses_a_hand_edited_params_yaml(tmp_path, monkeypatch):
    shutil.copytree(CONF, tmp_path / "conf")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["model"]["C"] = 123.0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError, match=r"model\.C.*make params"):
        config_main(["check"])


def imported_modules(module: Path) -> set[Path]:
    """The package's own files a module imports (`from .x import y`), followed through."""
    found: set[Path] = set()
    todo = [module]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = path.parents[node.level - 1].joinpath(*(node.module or "").split("."))
            for candidate in [base, *(base / alias.name for alias in node.names)]:
                if candidate.with_suffix(".py").is_file():
                    todo.append(candidate.with_suffix(".py"))
                elif (candidate / "__init__.py").is_file():
                    todo.append(candidate / "__init__.py")
    return found


@pytest.mark.parametrize("stage", ["prepare", "eda", "featurize", "train", "evaluate"])
def test_each_stage_depends_on_every_module_it_imports(stage):
    """Otherwise a change there leaves the stage's outputs stale (`dvc repro` skips it)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    deps = [ROOT / str(d) for d in stages[stage]["deps"]]
    modules = imported_modules(SOURCE / f"{stage}.py") - {SOURCE / "__init__.py"}
    missing = [
        str(m.relative_to(ROOT)) for m in modules if not any(m == d or d in m.parents for d in deps)
    ]
    assert not missing, f"dvc.yaml stage {stage} imports but does not depend on {missing}"

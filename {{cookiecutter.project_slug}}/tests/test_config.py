"""conf/ composes: every model, every experiment; and `config check` guards params.yaml."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import compose
from {{ cookiecutter.package_name }}.config import main as config_main
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.models import build_model

ROOT = Path(__file__).resolve().parent.parent
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
def test_every_model_config_composes_and_builds(name):
    cfg = compose([f"model={name}"], conf_dir=CONF)
    model = build_model(cfg["model"], seed=cfg["seed"], trainer=cfg.get("trainer"))
    assert model.name == cfg["model"]["name"]


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
    build_model(cfg["model"], seed=cfg["seed"], trainer=cfg.get("trainer"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_files_are_global_packages(name):
    text = (CONF / "experiment" / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.startswith("# @package _global_\n"), "Hydra must read its keys from the top"
    assert "override /model:" in text


def test_config_check_command_accepts_the_committed_params():
    """What the pre-commit hook `params-sync` runs."""
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.config", "check"],
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

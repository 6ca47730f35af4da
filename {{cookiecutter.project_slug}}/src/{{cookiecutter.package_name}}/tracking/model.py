"""The model of a run, logged with MLflow's pyfunc flavour: cleaning, featurizer and model as
one, taking the raw-column table (`mlflow.pyfunc.load_model("runs:/<run id>/model")`)."""

import importlib.metadata
import shutil
import tempfile
from pathlib import Path

import yaml

from ..config import Config
from .store import PACKAGE

MODEL_ARTIFACT = "model"  # the pyfunc model's name in each run: runs:/<run id>/model
CHAMPION = "champion"  # registry alias of the best model (set by `make report`)
EXAMPLE_ROWS = 3  # rows of the training split saved as the model's input example

MODEL_CODE = '''"""MLflow model from code: this project's cleaning, featurizer and model as one."""
import mlflow

from {package}.predict import FeaturizedModel

mlflow.models.set_model(FeaturizedModel())
'''


def requirements(model_name: str) -> list[str]:
    """The pins of what the model needs to load, as installed here."""
    needed = ["mlflow", "scikit-learn", "pandas", "numpy", "joblib", "pyyaml"]
    if model_name == "mlp":
        needed.append("torch")
    pins = []
    for dist in needed:
        try:  # torch 2.x+cpu is not on PyPI under that name: pin the public version
            pins.append(f"{dist}=={importlib.metadata.version(dist).split('+')[0]}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(dist)
    return pins


def signature(cfg: Config, classes: list[str]):
    """The feature columns in (optional, so that missing values pass: predict.py names missing
    columns itself), the predicted label and one probability per class out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from ..predict import output_columns

    data = cfg["data"]
    predicted, *probabilities = output_columns(data["target"], classes)
    return ModelSignature(
        inputs=Schema(
            [ColSpec("double", c, required=False) for c in data["numeric"]]
            + [ColSpec("string", c, required=False) for c in data["categorical"]]
        ),
        outputs=Schema(
            [ColSpec("string", predicted)] + [ColSpec("double", c) for c in probabilities]
        ),
    )


def log_model(
    run_id: str, cfg: Config, *, featurizer: Path, model_dir: Path, example_csv: Path
) -> str:
    """Log featurizer + model as one pyfunc model; return its URI (also the run's model.uri tag).

    It carries a copy of this package (code_paths), so `mlflow models serve` and
    `mlflow.pyfunc.load_model` work outside the project. The signature comes from the config
    and the classes of the training split (those the featurizer was fitted on); MLflow then
    loads the logged model once and predicts the input example, to check that it serves.
    """
    import mlflow
    import pandas as pd

    from ..features import class_labels

    data = cfg["data"]
    train = pd.read_csv(example_csv)
    example = train[list(data["numeric"]) + list(data["categorical"])].head(EXAMPLE_ROWS)
    package_dir = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        code = tmp / "code" / PACKAGE
        shutil.copytree(package_dir, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (tmp / "model_code.py").write_text(MODEL_CODE.format(package=PACKAGE), "utf-8")
        (tmp / "params.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=str(tmp / "model_code.py"),
                artifacts={
                    "featurizer": str(featurizer),
                    "model": str(model_dir),
                    "config": str(tmp / "params.yaml"),
                },
                code_paths=[str(code)],
                signature=signature(cfg, class_labels(train[data["target"]])),
                input_example=example,
                pip_requirements=requirements(cfg["model"]["name"]),
            )
            mlflow.set_tag("model.uri", info.model_uri)
    return info.model_uri

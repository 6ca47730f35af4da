"""MLflow tracking: one run per evaluated model, written with MLflow's public API.

The evaluate stage (and each sweep job or tuning trial) calls `log_run` once the work is
done, so a run never exists half-way: it holds the config as params, where the code and
data came from as tags (git commit from MLflow itself, the dirty flag, DVC's data hashes),
the per-epoch curves, every metric of reports/metrics.json, the reports as artifacts and
the deployable model, with its metrics linked to it. A run whose process died while it was
being written (kill -9, power cut) is marked KILLED by the next `log_run`.

Store: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the project root.
Switch off: `tracking.enabled: false`, or <PACKAGE>_TRACKING=0 (the package name, upper-case).
"""

import json
import os
import re
import socket
import sqlite3
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from .config import Config, Paths
from .dvc_records import lock_md5, tracked_md5
from .errors import PipelineError
from .metrics import HEADLINE
from .serving import load_trusted

PACKAGE = __package__ or __name__.rpartition(".")[0]
SWITCH = f"{PACKAGE.upper()}_TRACKING"
# Changes to these never change results: a run from a tree with only these modified is clean.
NOT_DIRTY = ("dvc.lock", "params.yaml", "reports/", "docs/", "notebooks/", "dvc_plots/")
NOT_DIRTY_ENDS = (".md", ".gitignore")  # notes, and the .gitignore files DVC writes
NAME = re.compile(r"^[\w.\- :/]+$")  # what MLflow accepts in a param or metric name
KIND = "mlflow.experimentKind"  # without it, MLflow 3's UI opens on its (empty) GenAI traces


def enabled(cfg: Config) -> bool:
    return bool(cfg["tracking"].get("enabled", True)) and os.environ.get(SWITCH, "1") != "0"


def tracking_uri() -> str:
    root = Path.cwd()
    if ".dvc" in root.parts:  # a queued experiment runs in .dvc/tmp/exps/<copy>: log home
        root = Path(*root.parts[: root.parts.index(".dvc")])
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


def experiment_name(cfg: Config, data: str | None = None) -> str:
    """One experiment per dataset (`data`, else the active one): runs on different tables are
    never ranked together, and the UI lists each table's runs on its own page."""
    return f"{cfg['tracking']['experiment']} / {data or cfg['data']['name']}"


def registered_model(cfg: Config, data: str | None = None) -> str:
    """The registry name of a dataset's models (its `champion` alias is the best run's)."""
    return f"{cfg['tracking']['registered_model']}-{data or cfg['data']['name']}"


def client():
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri())


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the names `dvc params diff` and `dvc metrics show` use.
    A mapping with keys MLflow cannot take as names (raw CSV headers) stays one value."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value and all(NAME.match(str(k)) for k in value):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def run_params(cfg: Config) -> dict[str, str]:
    """What was run: data, seed and the model's own settings (the MLP's include the trainer's)."""
    model = {k: v for k, v in cfg["model"].items() if k != "regression"}
    if cfg["data"].get("task") == "regression":  # the regressor's settings, not the classifier's
        model = {"name": cfg["model"]["name"], **cfg["model"]["regression"]}
    chosen = {"seed": cfg["seed"], "data": cfg["data"], "model": model}
    return {
        k: json.dumps(v) if isinstance(v, list | dict) else str(v)
        for k, v in flatten(chosen).items()
    }


def git_tags(root: Path) -> dict[str, str]:
    """The commit of the folder the stage runs in (DVC's temporary copy for a queued
    experiment, not where the package was installed from), and whether files that shape
    the results differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        ).stdout

    try:
        commit, status = git("rev-parse", "HEAD").strip(), git("status", "--porcelain", "-uall")
    except (OSError, subprocess.SubprocessError):
        return {"git.dirty": "unknown (no git repository or no commit yet)"}
    changed = [line[3:].strip('"') for line in status.splitlines()]
    dirty = [p for p in changed if not p.startswith(NOT_DIRTY) and not p.endswith(NOT_DIRTY_ENDS)]
    return {
        "mlflow.source.git.commit": commit,
        "git.dirty": str(bool(dirty)).lower(),
        "git.dirty_files": ", ".join(dirty)[:5000],
    }


def data_tags(cfg: Config, paths: Paths) -> dict[str, str]:
    """The data versions in DVC's own records: dvc.lock for a run of the workspace's pipeline,
    else the raw file's `.dvc` file (a sweep job prepares its own splits; prepare has checked
    that the raw file is the version DVC tracks)."""
    raw = cfg["data"]["raw_path"]
    tags = {"data.name": str(cfg["data"]["name"]), "data.raw.path": raw}
    workspace = paths.root.resolve() == Path.cwd().resolve()
    if found := (workspace and lock_md5(raw, "deps")) or tracked_md5(Path(raw)):
        tags["data.raw.md5"] = found
    if workspace and (found := lock_md5("data/processed")):
        tags["data.processed.md5"] = found
    return tags


def end_orphaned_runs(mlflow_client, experiment_id: str) -> None:
    """Mark KILLED the RUNNING runs of this machine whose process no longer exists."""
    host = socket.gethostname()
    running = mlflow_client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    for run in running:
        if run.data.tags.get("run.host") != host:
            continue
        try:
            os.kill(int(run.data.tags.get("run.pid", "0")), 0)  # signal 0: does it exist?
        except ProcessLookupError:
            mlflow_client.set_terminated(run.info.run_id, "KILLED")
        except PermissionError:
            pass  # it exists, as another user's


def _experiment(cfg: Config):
    """Open the store (one line, not a traceback, when it is damaged or unreachable)."""
    import mlflow

    uri = tracking_uri()
    try:
        if uri.startswith("sqlite:///") and Path(uri.removeprefix("sqlite:///")).exists():
            with sqlite3.connect(f"file:{uri.removeprefix('sqlite:///')}?mode=ro", uri=True) as db:
                if (check := db.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
                    raise sqlite3.DatabaseError(check)
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.set_experiment(experiment_name(cfg))
        mlflow_client = client()
        if KIND not in experiment.tags:  # the UI opens such an experiment on its runs table
            mlflow_client.set_experiment_tag(
                experiment.experiment_id, KIND, "custom_model_development"
            )
        end_orphaned_runs(mlflow_client, experiment.experiment_id)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, HTTP and MLflow errors alike
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise PipelineError(
            f"cannot use the MLflow store {uri} ({reason}): if mlflow.db is damaged, move it "
            "aside (mv mlflow.db mlflow.db.broken; `make reproduce RUN=...` re-creates runs); "
            "if it is a server, check that it is running"
        ) from None
    return experiment


def _process_tags(kind: str) -> dict[str, str]:
    tags = {"run.kind": kind, "run.pid": str(os.getpid()), "run.host": socket.gethostname()}
    if name := os.environ.get("DVC_EXP_NAME"):  # `dvc exp run` saved this code as an experiment
        tags |= {"dvc.exp_name": name, "dvc.exp_baseline": os.getenv("DVC_EXP_BASELINE_REV", "")}
    return tags


def log_run(
    cfg: Config,
    paths: Paths,
    metrics: Mapping[str, Any],
    *,
    parent_run_id: str | None = None,
    kind: str = "pipeline",
) -> str:
    """Record one evaluated model as one MLflow run; return its id."""
    import mlflow
    import pyarrow as pa

    _experiment(cfg)
    model_name, data_name = cfg["model"]["name"], cfg["data"]["name"]
    key = HEADLINE[cfg["data"].get("task", "classification")]
    tags = (
        _process_tags(kind) | git_tags(Path.cwd()) | data_tags(cfg, paths) | {"model": model_name}
    )
    if paths.fit_summary.exists():  # the class trained: another one above large_data.max_rows
        tags["model.estimator"] = json.loads(paths.fit_summary.read_text())["estimator"]
    test_rows = pd.read_parquet(paths.split("test"))
    # Text as Arrow strings: MLflow reads their type (the same schema) instead of every cell.
    text = {c: pd.ArrowDtype(pa.string()) for c in test_rows if test_rows[c].dtype.kind == "O"}
    # MLflow registers its local-file source twice, and says so.
    with warnings.catch_warnings(action="ignore", category=UserWarning):
        dataset = mlflow.data.from_pandas(
            test_rows.astype(text),
            source=cfg["data"]["raw_path"],
            name=f"{data_name} (test split)",
            targets=cfg["data"]["target"],
        )
    with mlflow.start_run(parent_run_id=parent_run_id, tags=tags) as run:
        run_id = run.info.run_id
        variation = os.environ.get("DVC_EXP_NAME") or run_id[:6]
        mlflow.set_tags(
            {
                "mlflow.runName": f"{model_name}-{data_name}-{variation}",
                "mlflow.note.content": (
                    f"{model_name} on {data_name}: test {key} {metrics[key]:.3f}, "
                    f"lift over the baseline {metrics['lift'][key]:+.3f}, "
                    f"train-test gap {metrics['gap'][key]:+.3f}. "
                    f"Re-run it with `make reproduce RUN={run_id}`."
                ),
                "reproduce.command": f"make reproduce RUN={run_id}",
            }
        )
        mlflow.log_params(run_params(cfg))
        mlflow.log_dict(cfg, "config/params.yaml")
        mlflow.log_input(dataset, context="test")
        log_curves(run_id, paths)
        model_id = None
        if cfg["tracking"].get("log_model", True):
            model_id = log_model(paths, test_rows.drop(columns=cfg["data"]["target"]).head(5))
        mlflow.log_metrics(
            {k: float(v) for k, v in flatten(metrics).items()}, model_id=model_id, dataset=dataset
        )
        mlflow.log_artifacts(str(paths.reports), "reports")
    return run_id


def log_curves(run_id: str, paths: Paths) -> None:
    """The per-epoch curves train wrote (reports/train_history.csv), as metrics with steps."""
    from mlflow.entities import Metric

    if not paths.history.exists():
        return
    curves = [
        Metric(f"epoch.{name}", float(value), 0, int(row["epoch"]))
        for _, row in pd.read_csv(paths.history).iterrows()
        for name, value in row.items()
        if name != "epoch" and pd.notna(value)
    ]
    client().log_batch(run_id, metrics=curves)


def log_model(paths: Paths, example: pd.DataFrame) -> str:
    """The deployable Pipeline, with the package that defines it; returns its model id."""
    from importlib.metadata import version

    import mlflow

    model = load_trusted(paths.model)
    needed = ["scikit-learn", "pandas", "numpy", "pyyaml", "cloudpickle"]
    if type(model[-1]).__module__.startswith(f"{PACKAGE}.models"):  # the PyTorch MLP
        needed.append("torch")
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        input_example=example,
        # cloudpickle: the PyTorch MLP is no type the safer `skops` format knows.
        serialization_format="cloudpickle",
        code_paths=[str(Path(__file__).parent)],  # this package travels with the model
        pip_requirements=[f"{name}=={version(name)}" for name in needed],  # not MLflow's guess
    )
    return info.model_id


@contextmanager
def parent_run(
    cfg: Config, *, kind: str, name: str, tags: Mapping[str, str] | None = None
) -> Iterator[str]:
    """A run whose children are a sweep's jobs or a search's trials; yields its id.

    It ends FINISHED, FAILED (an exception) or KILLED (Ctrl-C). Not the active run: children
    in other processes name it with `log_run(parent_run_id=...)`.
    """
    experiment = _experiment(cfg)  # first: a damaged store is one line, not a traceback
    mlflow_client = client()
    run = mlflow_client.create_run(
        experiment.experiment_id, run_name=name, tags=_process_tags(kind) | dict(tags or {})
    )
    status = "FAILED"
    try:
        yield run.info.run_id
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        mlflow_client.set_terminated(run.info.run_id, status)

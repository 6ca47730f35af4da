"""What a run records, and the calls that write it: params (the flattened config), tags (see
`run_tags`), metrics, the config file and the reports. Every call goes through `retry`, since
parallel jobs share one SQLite store."""

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..config import CONF_DIR, Config, Paths
from .overrides import derived_overrides, exp_run_command
from .provenance import data_versions, git_state, versions
from .store import (
    PACKAGE,
    client,
    experiment_id,
    experiment_name,
    retry,
    tracking_uri,
)

MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
_VALID_KEY = re.compile(r"^[/\w.\- :]*$")  # MLflow's rule for param, metric and tag names
TOKEN_TAG = "pipeline.token"  # the pipeline run's token (models/model/run.json) on its run


def flatten_params(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The config as flat `a.b.c -> text` params; lists and maps with odd keys become JSON."""
    flat: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if not prefix and key == "tracking":
            continue  # where the run is logged, not what was run
        if isinstance(value, Mapping) and value and all(_VALID_KEY.match(str(k)) for k in value):
            flat.update(flatten_params(value, f"{name}."))
        else:
            text = (
                json.dumps(value, ensure_ascii=False)
                if isinstance(value, Mapping | list | tuple | bool) or value is None
                else str(value)
            )
            flat[name] = text[:MAX_PARAM_CHARS]
    return flat


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """reports/metrics.json as MLflow metrics under the names `dvc metrics show` prints."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def run_tags(
    cfg: Config,
    paths: Paths,
    *,
    kind: str,
    overrides: list[str] | None = None,
    root: Path | None = None,
) -> dict[str, str]:
    """Everything that identifies what produced a run (see the module docstring)."""
    root = root or Path.cwd()
    tags = {"run.kind": kind, "model": str(cfg["model"]["name"]), "seed": str(cfg.get("seed"))}
    tags.update(git_state(root))
    tags.update(data_versions(cfg, paths, root))
    if overrides is None:
        overrides, verified = derived_overrides(cfg, root / CONF_DIR)
        tags["hydra.overrides_source"] = "rebuilt from params.yaml against conf/" + (
            "" if verified else " (NOT verified)"
        )
    else:
        tags["hydra.overrides_source"] = "hydra"
    tags["hydra.overrides"] = " ".join(overrides)
    tags["reproduce.command"] = exp_run_command(overrides)
    if name := os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = name
        tags["dvc.exp_baseline"] = os.environ.get("DVC_EXP_BASELINE_REV", "")
    if cfg["model"]["name"] != "mlp":
        tags["device"] = "cpu"  # scikit-learn runs on the CPU
    tags.update(versions())
    return tags


def run_name(cfg: Config, run_id: str) -> str:
    suffix = os.environ.get("DVC_EXP_NAME") or run_id[:7]
    return f"{cfg['model']['name']}-{suffix}"


def log_batch(
    mlflow_client,
    run_id: str,
    *,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    step: int = 0,
    timestamp: int | None = None,
    history=None,
) -> None:
    """Params, tags and metrics in as few store round trips as MLflow allows (1000 per call).

    `history` is a list of (step, timestamp_ms, {name: value}) for curves.
    """
    from mlflow.entities import Metric, Param, RunTag

    now = timestamp or int(time.time() * 1000)
    entities: list = [Param(k, str(v)) for k, v in (params or {}).items()]
    entities += [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    entities += [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
    for epoch, stamp, values in history or []:
        entities += [Metric(k, float(v), stamp, epoch) for k, v in values.items()]
    for start in range(0, len(entities), 100):  # MLflow: at most 100 params or tags per batch
        chunk = entities[start : start + 100]
        retry(
            mlflow_client.log_batch,
            run_id,
            metrics=[e for e in chunk if isinstance(e, Metric)],
            params=[e for e in chunk if isinstance(e, Param)],
            tags=[e for e in chunk if isinstance(e, RunTag)],
        )


def log_config(mlflow_client, run_id: str, cfg: Config) -> None:
    """The resolved config as params and as a file (config/params.yaml)."""
    import tempfile

    log_batch(mlflow_client, run_id, params=flatten_params(cfg))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), "utf-8")
        retry(mlflow_client.log_artifact, run_id, str(path), "config")


class ParentRun(NamedTuple):
    client: Any
    uri: str
    experiment: str
    run_id: str


def start_parent_run(
    cfg: Config, *, kind: str, name: str, overrides: list[str], tags: Mapping[str, str | None]
) -> ParentRun:
    """The run a sweep's jobs or a search's trials are children of, with its tags and config.

    `name` prefixes the run id in the run's name; `tags` add to (or blank out) run_tags'.
    """
    uri = tracking_uri()
    mlflow_client = client(uri)
    exp = experiment_id(mlflow_client, experiment_name(cfg))
    parent = retry(mlflow_client.create_run, exp, tags={"run.kind": kind}).info.run_id
    all_tags = {**run_tags(cfg, Paths(), kind=kind, overrides=overrides), **tags}
    all_tags["mlflow.runName"] = f"{name}-{parent[:7]}"
    log_batch(mlflow_client, parent, tags={k: v for k, v in all_tags.items() if v is not None})
    log_config(mlflow_client, parent, cfg)
    return ParentRun(mlflow_client, uri, exp, parent)


def start_run(
    mlflow_client,
    cfg: Config,
    paths: Paths,
    *,
    kind: str,
    overrides: list[str] | None = None,
    parent_run_id: str | None = None,
    experiment: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> str:
    """Create a run with its config and tags; return its id."""
    exp_id = experiment or experiment_id(mlflow_client, experiment_name(cfg))
    tags = {"mlflow.source.name": f"{PACKAGE} ({kind})", "mlflow.source.type": "LOCAL"}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run = retry(mlflow_client.create_run, exp_id, tags=tags)
    run_id = run.info.run_id
    retry(mlflow_client.update_run, run_id, name=run_name(cfg, run_id))
    log_batch(
        mlflow_client,
        run_id,
        tags={**run_tags(cfg, paths, kind=kind, overrides=overrides), **(extra_tags or {})},
    )
    log_config(mlflow_client, run_id, cfg)
    return run_id


def end_run(mlflow_client, run_id: str, status: str) -> None:
    retry(mlflow_client.set_terminated, run_id, status)


def status_for(exc: BaseException | None) -> str:
    if exc is None:
        return "FINISHED"
    return "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"


def log_evaluation(
    mlflow_client, run_id: str, reports: Path, metrics: Mapping[str, Any] | None = None
) -> None:
    """Metrics (flattened metrics.json) and the reports: metrics, per-class, plots, figures,
    the cleaning report and the EDA summary."""
    if metrics is None:
        metrics = json.loads((reports / "metrics.json").read_text())
    log_batch(mlflow_client, run_id, metrics=flatten_metrics(metrics))
    for name in ("metrics.json", "per_class.json", "cleaning.json"):
        if (reports / name).exists():
            retry(mlflow_client.log_artifact, run_id, str(reports / name), "reports")
    for folder in ("plots", "figures", "eda"):
        if (reports / folder).is_dir():
            retry(mlflow_client.log_artifacts, run_id, str(reports / folder), f"reports/{folder}")


def find_run(mlflow_client, cfg: Config, token: str) -> str | None:
    """The id of the active run a pipeline's token (models/model/run.json) names, if any."""
    found = retry(mlflow_client.get_experiment_by_name, experiment_name(cfg))
    if found is None or not re.fullmatch(r"[0-9a-f]{32}", token):
        return None
    runs = retry(
        mlflow_client.search_runs,
        [found.experiment_id],
        filter_string=f"tags.`{TOKEN_TAG}` = '{token}'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None

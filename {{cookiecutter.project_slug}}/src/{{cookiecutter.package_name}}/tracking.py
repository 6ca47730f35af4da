"""MLflow tracking: one run per pipeline run, with what a mentor needs to trust and re-run it.

Store:   MLFLOW_TRACKING_URI if set, else sqlite:///<project root>/mlflow.db, with artifacts in
         <project root>/mlartifacts/ (never the deprecated ./mlruns file store). The project root
         is DVC_ROOT when DVC runs the stage (so `dvc exp run --temp/--queue` log to the real
         project, not to DVC's temporary copy), else the current folder.
Switch:  `tracking.enabled` in conf/config.yaml, or the environment variable <PACKAGE>_TRACKING=0
         (wins over the config; tests and benchmarks use it) to run untracked.
One run: `train` starts it and writes models/model/run.json (a DVC out of train, so evaluate
         depends on it); `evaluate` reopens that run. Nothing run-specific goes into
         reports/metrics.json, which stays byte-identical across `dvc repro --force`.
Params:  the resolved config, flattened (model.C, trainer.lr, ...); `tracking.*` is left out.
Metrics: the names of `dvc metrics show`: accuracy, precision, recall, f1, roc_auc (test split),
         train.f1, val.f1, baseline.f1, lift.f1, gap.f1, cv.f1_mean, ...; per-epoch curves of the
         neural network as epoch.train_loss, epoch.val_loss, epoch.val_accuracy, epoch.lr.
Tags:    git.commit/git.dirty/git.dirty_files, data.raw.md5/data.processed.md5 (DVC's hashes),
         dvc.exp_name, hydra.overrides, seed, device, model, version.* (see `run_tags`).
Speed:   the stages hand every event to a logger process (see PipelineRun) and go on: mlflow
         is imported, the store opened and the run written there, in parallel; epoch metrics
         are sent in batches every few seconds.
End:     FINISHED, FAILED on an exception, KILLED on Ctrl-C / SIGTERM (exit 130 / 143).
"""

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from .config import CONF_DIR, Config, Paths, differences
from .errors import PipelineError

PACKAGE = __package__ or __name__.rpartition(".")[0]
SWITCH_ENV = f"{PACKAGE.upper()}_TRACKING"
RUN_FILE = "run.json"  # in models/model/: the id of the MLflow run that trained the model
MODEL_ARTIFACT = "model"  # the pyfunc model's name in each run: runs:/<run id>/model
CHAMPION = "champion"  # registry alias of the best model (set by `make report`)
FLUSH_EVERY_S = 5.0  # epoch metrics are sent in one batch at most this often
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
_VALID_KEY = re.compile(r"^[/\w.\- :]*$")  # MLflow's rule for param, metric and tag names
# Files whose change cannot change the results (outputs, the config that is logged in full,
# documentation): a run with only these modified still counts as a clean tree.
NOT_DIRTY = ("dvc.lock", "params.yaml")
NOT_DIRTY_SUFFIXES = (".gitignore", ".md")
NOT_DIRTY_PREFIXES = ("mlflow.db", "mlartifacts/", ".scratch/")  # the store (and its WAL)


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the trainer's own handler: handled like Ctrl-C (run KILLED, exit 143)."""

    exit_code = 128 + signal.SIGTERM


# ---- where and whether ---------------------------------------------------------------------


def enabled(cfg: Config | None = None) -> bool:
    """Tracking on or off: <PACKAGE>_TRACKING (0/false/off or 1/true/on) wins over the config."""
    env = os.environ.get(SWITCH_ENV, "").strip().lower()
    if env:
        return env not in ("0", "false", "no", "off")
    return bool(((cfg or {}).get("tracking") or {}).get("enabled", True))


def project_root() -> Path:
    """Where mlflow.db lives: DVC_ROOT under DVC (the real repo, even for temp runs), else cwd."""
    root = os.environ.get("DVC_ROOT")
    return Path(root).resolve() if root else Path.cwd().resolve()


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else the project's SQLite store; a relative SQLite path is taken
    from the project root too (not from DVC's temporary copy of it)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        return f"sqlite:///{(project_root() / 'mlflow.db').as_posix()}"
    path = uri.removeprefix("sqlite:///")
    if uri.startswith("sqlite:///") and path and not Path(path.split("?")[0]).is_absolute():
        return f"sqlite:///{(project_root() / path).as_posix()}"
    return uri


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?")[0]
    return Path(path) if Path(path).is_absolute() else Path.cwd() / path


def artifact_location(uri: str) -> str | None:
    """mlartifacts/ beside a local SQLite store; a server (http://...) chooses its own."""
    db = _sqlite_path(uri)
    return (db.parent / "mlartifacts").resolve().as_uri() if db else None


@functools.cache
def _quiet_mlflow() -> None:
    """No progress bars or INFO chatter from MLflow and Alembic in stage output."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging

    import mlflow  # noqa: F401 - configures its loggers on import; adjust them after

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "Failed to resolve installed pip version": the pins are explicit, pip is not needed.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (no-op where fcntl is missing, i.e. Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def retry(call, *args, attempts: int = 8, **kwargs):
    """Call an MLflow function, retrying while a SQLite store is busy (parallel sweeps)."""
    from mlflow.exceptions import MlflowException

    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except MlflowException as exc:
            busy = exc.error_code == "TEMPORARILY_UNAVAILABLE" or "locked" in str(exc)
            if not busy or attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)


def client(uri: str | None = None):
    """An MlflowClient on the project's store; creates a new SQLite store once, under a lock.

    MLflow builds a new SQLite database with migrations (several seconds); two processes doing
    that at once (parallel sweep jobs, `dvc exp run -j 2`) would collide, hence the lock. The
    database is switched to WAL journaling so that readers (the UI) never block writers.
    """
    _quiet_mlflow()
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    db = _sqlite_path(uri)
    if db is None:
        return MlflowClient(uri)
    # The lock lives in the temporary folder, keyed by the store's path: nothing in the project.
    key = hashlib.md5(str(db.resolve()).encode()).hexdigest()[:16]
    with _file_lock(Path(tempfile.gettempdir()) / f"mlflow-store-{key}.lock"):
        new = not db.exists() or db.stat().st_size == 0
        result = MlflowClient(uri)
        if new:
            retry(result.search_experiments, max_results=1)  # creates the tables
            import sqlite3

            with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
    return result


def experiment_id(mlflow_client, name: str, uri: str | None = None) -> str:
    """The id of the project's experiment, created (or restored from the bin) when needed."""
    from mlflow.exceptions import MlflowException

    found = retry(mlflow_client.get_experiment_by_name, name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            retry(mlflow_client.restore_experiment, found.experiment_id)
        return found.experiment_id
    try:
        return retry(
            mlflow_client.create_experiment,
            name,
            artifact_location=artifact_location(uri or tracking_uri()),
        )
    except MlflowException:  # created meanwhile by a parallel job
        return retry(mlflow_client.get_experiment_by_name, name).experiment_id


def experiment_name(cfg: Config) -> str:
    return str((cfg.get("tracking") or {}).get("experiment") or PACKAGE)


def registered_model_name(cfg: Config) -> str:
    return str((cfg.get("tracking") or {}).get("registered_model") or PACKAGE)


# ---- what a run records ----------------------------------------------------------------------


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


def _git(*args: str, cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def dvc_outputs(root: Path) -> list[str]:
    """Every path dvc.yaml declares as an output, metric or plot (products, not inputs)."""
    try:
        stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return []
    paths = []
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind) or []:
                paths.extend(entry if isinstance(entry, dict) else [entry])
    return [str(p).rstrip("/") for p in paths]


def git_state(root: Path) -> dict[str, str]:
    """Commit, branch, and whether files that shape the results differ from that commit.

    Pipeline outputs (dvc.yaml outs, dvc.lock), params.yaml (logged in full) and docs do not
    count; any other modified or untracked file does, and is listed in git.dirty_files.
    """
    commit = _git("rev-parse", "HEAD", cwd=root)
    if commit is None:
        return {
            "git.commit": "none",
            "git.dirty": "true",
            "git.dirty_files": "(no git repository or no commit yet)",
        }
    status = _git("status", "--porcelain=v1", "--untracked-files=all", cwd=root) or ""
    top = (_git("rev-parse", "--show-toplevel", cwd=root) or "").strip()
    prefix = root.resolve().relative_to(Path(top).resolve()).as_posix() if top else "."
    outs = dvc_outputs(root)
    dirty = []
    for line in status.splitlines():
        path = line[3:].split(" -> ")[-1].strip('"')
        if prefix not in ("", "."):
            if not path.startswith(prefix + "/"):
                continue  # outside the project
            path = path[len(prefix) + 1 :]
        if (
            path in NOT_DIRTY
            or path.endswith(NOT_DIRTY_SUFFIXES)
            or path.startswith(NOT_DIRTY_PREFIXES)
            or any(path == o or path.startswith(o + "/") for o in outs)
        ):
            continue
        dirty.append(path)
    branch = (_git("rev-parse", "--abbrev-ref", "HEAD", cwd=root) or "").strip()
    return {
        "git.commit": commit.strip(),
        "mlflow.source.git.commit": commit.strip(),
        "git.branch": branch,
        "git.dirty": str(bool(dirty)).lower(),
        "git.dirty_files": ", ".join(dirty)[:5000],
    }


def _md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dvc_md5(path: Path) -> str | None:
    """The hash DVC 3 records for a file or folder (what dvc.lock and .dvc files hold)."""
    if path.is_file():
        return _md5_file(path)
    if not path.is_dir():
        return None
    entries = [
        {"md5": _md5_file(f), "relpath": f.relative_to(path).as_posix()}
        for f in path.rglob("*")
        if f.is_file()
    ]
    listing = json.dumps(sorted(entries, key=lambda e: e["relpath"]), sort_keys=True)
    return hashlib.md5(listing.encode("utf-8")).hexdigest() + ".dir"


def _dvc_file_md5(dvc_file: Path) -> str | None:
    try:
        return yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["outs"][0]["md5"]
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None


def data_versions(cfg: Config, paths: Paths, root: Path) -> dict[str, str]:
    """DVC hashes of the raw and processed data (and features), and whether DVC tracks the raw."""
    raw = Path(cfg["data"]["raw_path"])
    raw = raw if raw.is_absolute() else root / raw
    tags = {"data.raw.path": cfg["data"]["raw_path"]}
    md5 = dvc_md5(raw)
    tags["data.raw.md5"] = md5 or "missing"
    tracked = _dvc_file_md5(raw.with_name(raw.name + ".dvc"))
    tags["data.raw.dvc"] = (
        "untracked"
        if tracked is None
        else "tracked"
        if tracked == md5
        else "modified since `dvc add`"
    )
    for name, folder in (("processed", paths.processed), ("features", paths.features)):
        tags[f"data.{name}.md5"] = dvc_md5(folder if folder.is_absolute() else root / folder) or ""
    return tags


def override_value(value: Any) -> str:
    """A value in Hydra's override grammar (what `dvc exp run -S key=VALUE` accepts)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][\w./-]*", text) and yaml.safe_load(text) == text:
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _leaf(cfg: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _leaf_overrides(composed: Config, tree: Config) -> list[str]:
    """`key=value` (or +key= / ~key) for each leaf where `tree` differs from `composed`."""
    overrides = []
    for key in differences(composed, tree):
        present, value = _leaf(tree, key)
        if not present:
            overrides.append(f"~{key}")
        else:
            prefix = "" if _leaf(composed, key)[0] else "+"
            overrides.append(f"{prefix}{key}={override_value(value)}")
    return overrides


def derived_overrides(params: Config, conf_dir: Path = CONF_DIR) -> tuple[list[str], bool]:
    """Hydra overrides that turn conf/'s defaults into `params`, and whether that was verified.

    DVC does not hand `dvc exp run -S ...` to the stages (it only composes params.yaml), so the
    overrides are rebuilt, shortest candidate first: an experiment file (+experiment=NAME)
    or group options (model=svm) where a group's content matches one of its files, then
    `key=value` for each remaining difference. Composing the result must give `params`
    exactly; if it does not, the list is still recorded, marked unverified.
    """
    from .config import compose

    tree = {k: v for k, v in params.items() if k != "tracking"}
    cache: dict[tuple[str, ...], Config | None] = {}

    def composed(overrides: list[str]) -> Config | None:
        key = tuple(overrides)
        if key not in cache:  # each compose costs a third of a second
            try:
                cfg = compose(overrides, conf_dir=conf_dir)
                cfg.pop("tracking", None)
            except Exception:  # noqa: BLE001 - a broken conf/ must not stop tracking the run
                cfg = None
            cache[key] = cfg
        return cache[key]

    try:
        defaults = yaml.safe_load((conf_dir / "config.yaml").read_text())["defaults"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return [], False
    groups = []
    for entry in defaults:
        if isinstance(entry, dict) and len(entry) == 1:
            ((group, default),) = entry.items()
            options = sorted(p.stem for p in (conf_dir / str(group)).glob("*.yaml"))
            if group in tree and options:
                groups.append((str(group), str(default), options))

    def distance(group: str, option: str) -> int:
        content = yaml.safe_load((conf_dir / group / f"{option}.yaml").read_text()) or {}
        return len(differences(content, tree[group]))

    bases = [
        [
            f"{g}={best}"
            for g, d, options in groups
            if (best := min(options, key=lambda o, g=g, d=d: (distance(g, o), o != d))) != d
        ]
    ]
    experiments = [
        [f"+experiment={p.stem}"] for p in sorted((conf_dir / "experiment").glob("*.yaml"))
    ]
    best: list[str] | None = None
    for base in [*bases, *experiments]:
        if best is not None and len(best) <= 1:
            break  # an experiment file cannot make it shorter
        cfg = composed(base)
        if cfg is None:
            continue
        candidate = base + _leaf_overrides(cfg, tree)
        if best is None or len(candidate) < len(best):
            best = candidate
    if best is None:
        return [], False
    check = composed(best)
    return best, check is not None and not differences(check, tree)


def exp_run_command(overrides: list[str]) -> str:
    """The `dvc exp run` command line that composes the same config."""
    import shlex

    return " ".join(["dvc exp run", *(f"-S {shlex.quote(o)}" for o in overrides)])


def versions() -> dict[str, str]:
    """Package versions, read from metadata (no import: scikit-learn alone takes a second)."""
    tags = {"version.python": platform.python_version(), "platform": platform.platform()}
    for tag, dist in (
        ("torch", "torch"),
        ("sklearn", "scikit-learn"),
        ("mlflow", "mlflow"),
        ("dvc", "dvc"),
        ("hydra", "hydra-core"),
        ("pandas", "pandas"),
        ("numpy", "numpy"),
    ):
        try:
            tags[f"version.{tag}"] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            tags[f"version.{tag}"] = "not installed"
    return tags


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


# ---- after evaluation: metrics, reports, the model --------------------------------------------


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


def _requirements(model_name: str) -> list[str]:
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


MODEL_CODE = '''"""MLflow model from code: this project's cleaning, featurizer and model as one."""
import mlflow

from {package}.predict import FeaturizedModel

mlflow.models.set_model(FeaturizedModel())
'''


def log_model(
    run_id: str, cfg: Config, *, featurizer: Path, model_dir: Path, example_csv: Path
) -> str:
    """Log featurizer + model as one `mlflow.pyfunc` model taking the raw-column table.

    It carries a copy of this package (code_paths), so `mlflow models serve` and
    `mlflow.pyfunc.load_model` work outside the project; the signature lists the feature
    columns (optional, so that missing values pass; predict.py names missing columns itself).
    """
    import shutil
    import tempfile

    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    data = cfg["data"]
    numeric, categorical = list(data["numeric"]), list(data["categorical"])
    example = pd.read_csv(example_csv, nrows=3)[numeric + categorical]
    package_dir = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        code = tmp / "code" / PACKAGE
        shutil.copytree(package_dir, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (tmp / "model_code.py").write_text(MODEL_CODE.format(package=PACKAGE), "utf-8")
        (tmp / "params.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
        from .predict import FeaturizedModel

        outputs = FeaturizedModel.from_paths(featurizer, model_dir, cfg).predict(None, example)
        signature = ModelSignature(
            inputs=Schema(
                [ColSpec("double", c, required=False) for c in numeric]
                + [ColSpec("string", c, required=False) for c in categorical]
            ),
            outputs=Schema(
                [
                    ColSpec("string" if outputs[c].dtype == object else "double", c)
                    for c in outputs.columns
                ]
            ),
        )
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
                signature=signature,
                input_example=example,
                pip_requirements=_requirements(cfg["model"]["name"]),
            )
            mlflow.set_tag("model.uri", info.model_uri)
    return info.model_uri


# ---- the run of one pipeline, seen from the train and evaluate stages -------------------------
#
# A stage never talks to MLflow itself: it starts a logger process (`python -m <package>.tracking
# logger`) and sends it one JSON line per event through a pipe, from a writer thread, so that
# training never waits for the store (nor for `import mlflow`, ~2 s) and never shares its
# interpreter with MLflow. The logger starts (train) or reopens (evaluate) the run, writes
# params and tags, sends epoch curves in one batch every FLUSH_EVERY_S seconds, and ends the
# run with the status the stage reports. If the stage process dies without saying so (SIGKILL,
# out of memory), the pipe closes and the logger ends the run KILLED: never left RUNNING.


class _Logger:
    """The logger process's side: one MLflow run, driven by the stage's JSON lines."""

    def __init__(self, out) -> None:
        self.out = out
        self.client = self.run_id = None
        self.history: list = []
        self.flushed = time.monotonic()

    def reply(self, **message) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def open(self, cfg: Config, paths: Paths, stage: str) -> None:
        self.client = client()
        if stage == "evaluate":
            with contextlib.suppress(Exception):  # no run.json, or a run of another store
                run_id = json.loads((paths.model / RUN_FILE).read_text())["run_id"]
                if retry(self.client.get_run, run_id).info.lifecycle_stage == "active":
                    self.run_id = run_id
                    retry(self.client.update_run, run_id, status="RUNNING")
        if self.run_id is None:
            self.run_id = start_run(self.client, cfg, paths, kind="pipeline")
        self.reply(run_id=self.run_id)

    def flush(self) -> None:
        if self.history:
            history, self.history = self.history, []
            log_batch(self.client, self.run_id, history=history)
        self.flushed = time.monotonic()

    def handle(self, message: dict, cfg: Config, paths: Paths) -> str | None:
        """Act on one message; return the final status once the stage says it is done."""
        op = message["op"]
        if op == "epoch":
            self.history.append((message["epoch"], message["ts"], message["metrics"]))
            if time.monotonic() - self.flushed > FLUSH_EVERY_S:
                self.flush()
        elif op == "log":
            log_batch(
                self.client, self.run_id, metrics=message.get("metrics"), tags=message.get("tags")
            )
        elif op == "evaluation":
            log_evaluation(self.client, self.run_id, paths.reports, message["metrics"])
            if (cfg.get("tracking") or {}).get("log_model", True):
                log_model(
                    self.run_id,
                    cfg,
                    featurizer=paths.featurizer,
                    model_dir=paths.model,
                    example_csv=paths.processed / "train.csv",
                )
        elif op == "end":
            return message["status"]
        return None


def logger_main() -> None:
    """Entry of the logger process: reads the stage's JSON lines from stdin until `end`."""
    # Ctrl-C and SIGTERM reach the whole process group: the stage decides, and tells us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = sys.stdout
    sys.stdout = sys.stderr  # MLflow's own prints must not mix with the replies
    logger = _Logger(out)
    first = json.loads(sys.stdin.readline())
    cfg, paths, stage = first["cfg"], Paths(Path(first["root"])), first["stage"]
    status = "KILLED"  # what an EOF without `end` means: the stage process died
    try:
        logger.open(cfg, paths, stage)
        for line in sys.stdin:
            ended = logger.handle(json.loads(line), cfg, paths)
            if ended:
                status = ended
                break
        logger.flush()
    except BaseException as exc:  # noqa: BLE001 - reported to the stage, run marked FAILED
        logger.reply(error=f"{type(exc).__name__}: {exc}")
        status = "FAILED"
        for _ in sys.stdin:  # keep reading, so that the stage's writes never block
            pass
    finally:
        if logger.run_id:
            with contextlib.suppress(Exception):
                logger.flush()
            with contextlib.suppress(Exception):
                end_run(logger.client, logger.run_id, status)
        logger.reply(done=True)
        sys.stderr.flush()
        # Everything is committed: close the database (SQLite then removes its -wal and -shm
        # files) and skip the interpreter's teardown of MLflow, which takes over a second.
        _close_sqlite_engines()
        os._exit(0)


def _close_sqlite_engines() -> None:
    """Dispose of the engines MLflow keeps per database (a private map: best effort)."""
    for name in (
        "mlflow.store.tracking.sqlalchemy_store",
        "mlflow.store.model_registry.sqlalchemy_store",
    ):
        with contextlib.suppress(Exception):
            for engine in list(sys.modules[name].SqlAlchemyStore._engine_map.values()):
                engine.dispose()


class PipelineRun:
    """The stage's side: starts the logger process and hands it events without waiting."""

    def __init__(self, cfg: Config, paths: Paths, *, stage: str):
        import queue

        src = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", f"{PACKAGE}.tracking", "logger"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="mlflow-logger", daemon=True)
        self._writer.start()
        self.run_id: str | None = None
        self._error: str | None = None
        self._ended = False
        self._send({"op": "start", "cfg": cfg, "root": str(paths.root), "stage": stage})

    def _write(self) -> None:
        stdin = self._process.stdin
        while (line := self._queue.get()) is not None:
            try:
                stdin.write(line)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return  # the logger is gone: _read reports why
        with contextlib.suppress(OSError):
            stdin.close()

    def _send(self, message: dict) -> None:
        self._queue.put(json.dumps(message, default=str) + "\n")

    def _read(self) -> None:
        """Take the logger's replies until the one wanted has come (or the logger ended)."""
        for line in self._process.stdout:
            reply = json.loads(line)
            self.run_id = reply.get("run_id", self.run_id)
            self._error = reply.get("error", self._error)
            if self._error or reply.get("done") or (self.run_id and not self._ended):
                return

    def _check(self) -> None:
        """Raise when the logger failed; _read returns without a run id only if it did."""
        if self._error or self.run_id is None:
            raise PipelineError(
                f"MLflow tracking failed ({self._error or 'the logger process stopped'}); "
                f"store: {tracking_uri()}. Fix MLFLOW_TRACKING_URI, or run untracked with "
                f"{SWITCH_ENV}=0"
            )

    def wait(self) -> str:
        """Block until the run exists; return its id (raises if the store failed)."""
        if self.run_id is None and not self._error:
            self._read()
        self._check()
        return self.run_id

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """The trainer's per-epoch callback: a line into a queue, never a store round trip."""
        self._send(
            {
                "op": "epoch",
                "epoch": epoch,
                "ts": int(time.time() * 1000),
                "metrics": {f"epoch.{k}": float(v) for k, v in metrics.items()},
            }
        )

    def write_run_file(self, folder: Path) -> None:
        (folder / RUN_FILE).write_text(json.dumps({"run_id": self.wait()}) + "\n")

    def log_fit(self, summary: Mapping[str, Any], seconds: float) -> None:
        """The trainer's summary: numbers as fit.* metrics, the rest (device, ...) as tags."""
        numbers = {
            f"fit.{k}": float(v)
            for k, v in summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        tags = {f"fit.{k}": str(v) for k, v in summary.items() if f"fit.{k}" not in numbers}
        if "device" in summary:
            tags["device"] = str(summary["device"])
        self._send({"op": "log", "metrics": {**numbers, "fit.seconds": seconds}, "tags": tags})

    def log_evaluation(self, metrics: Mapping[str, Any]) -> None:
        """Metrics, reports and (unless tracking.log_model is false) the pyfunc model."""
        self._send({"op": "evaluation", "metrics": dict(metrics)})

    def finish(self, status: str, timeout: float = 600) -> None:
        """End the run with `status` and wait until the logger has written everything."""
        if not self._ended:
            self._ended = True
            self._send({"op": "end", "status": status})
            self._queue.put(None)
        done = threading.Thread(target=self._read, daemon=True)
        done.start()
        done.join(timeout)
        if done.is_alive():
            self._process.kill()
            raise PipelineError(
                f"the MLflow logger did not finish in {timeout:.0f} s (store: {tracking_uri()})"
            )
        self._process.wait()
        self._check()


class _NoRun:
    """Stands in for PipelineRun when tracking is off."""

    run_id = None
    client = None

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        pass

    def wait(self) -> None:
        return None

    def write_run_file(self, folder: Path) -> None:
        (folder / RUN_FILE).unlink(missing_ok=True)  # never point at an older run

    def log_fit(self, summary: Mapping[str, Any], seconds: float) -> None:
        pass

    def log_evaluation(self, metrics: Mapping[str, Any]) -> None:
        pass


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def pipeline_run(cfg: Config, paths: Paths, *, stage: str) -> Iterator[PipelineRun | _NoRun]:
    """The tracked part of a stage's main(): ends the run FINISHED, FAILED or KILLED."""
    if not enabled(cfg):
        yield _NoRun()
        return
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
    run = PipelineRun(cfg, paths, stage=stage)
    try:
        yield run
    except BaseException as exc:
        with contextlib.suppress(Exception):
            run.finish(status_for(exc))
        raise
    else:
        run.finish("FINISHED")
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def exit_on_interrupt(main) -> None:
    """Run a stage's main; Ctrl-C / SIGTERM end with one line and exit 130 / 143."""
    from .errors import run_cli

    try:
        run_cli(main)
    except KeyboardInterrupt as exc:
        print(f"\n{exc or 'interrupted'}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 130))


if __name__ == "__main__":
    if sys.argv[1:] == ["logger"]:
        logger_main()
    else:
        sys.exit(
            f"usage: python -m {PACKAGE}.tracking logger (started by the train and "
            "evaluate stages; not a command for people)"
        )

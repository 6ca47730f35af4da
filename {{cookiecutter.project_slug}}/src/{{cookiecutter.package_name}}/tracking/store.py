"""Where runs go, and whether: the tracking switch, the store's URI, an MLflow client on it."""

import contextlib
import functools
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..config import Config

PACKAGE = __name__.split(".")[0]
SWITCH_ENV = f"{PACKAGE.upper()}_TRACKING"


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


def close_sqlite_engines() -> None:
    """Dispose of the engines MLflow keeps per database (a private map: best effort), so that
    SQLite removes its -wal and -shm files before a process leaves with os._exit."""
    for name in (
        "mlflow.store.tracking.sqlalchemy_store",
        "mlflow.store.model_registry.sqlalchemy_store",
    ):
        with contextlib.suppress(Exception):
            for engine in list(sys.modules[name].SqlAlchemyStore._engine_map.values()):
                engine.dispose()

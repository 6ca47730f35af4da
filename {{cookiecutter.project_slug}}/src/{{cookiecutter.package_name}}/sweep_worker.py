"""What the workers of a parallel sweep start from (see `sweep.start_workers`).

Python's forkserver imports this module once, as `make sweep` starts and while the sweep
creates its parent run; each joblib worker is then a fork of that process, with pandas,
scikit-learn, matplotlib and MLflow imported already, instead of a fresh interpreter that
spends 3-4 s of CPU importing them again. PyTorch is left out: only the MLP's worker needs
it, and it imports it while the other worker trains the scikit-learn models.

Only the forkserver imports this module: it freezes the garbage collector's view of the
process (see the end).
"""

import gc
import importlib

PACKAGE = __package__ or __name__.rpartition(".")[0]

# What a job imports lazily, inside the stages and MLflow. Only a speed-up: a module that
# fails to import here is imported again, with its error, by the job that needs it.
MODULES = (
    "hydra_plugins.hydra_joblib_launcher._core",  # runs each job: Hydra and OmegaConf
    "pandas",
    "sklearn.calibration",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "matplotlib.pyplot",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",  # each job opens the store
    "git",  # MLflow reads the commit with GitPython when a job logs its model
    "IPython",  # ... and looks for a notebook
    f"{PACKAGE}.pipeline",
    f"{PACKAGE}.predict",
    f"{PACKAGE}.tracking",
    f"{PACKAGE}.models.sklearn_models",
)


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - the job reports it (see above)
            continue
    # The first model a process logs has MLflow map every installed package to its modules
    # (0.2-0.3 s, to check the model's requirements): here, once for all the workers.
    try:
        from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

        warn_dependency_requirement_mismatches(["mlflow"])
    except Exception:  # noqa: BLE001, S110 - only a speed-up
        pass


# What is imported lives as long as the process: the collector has nothing to find in it.
# Off while importing (a fifth of the CPU time otherwise), then frozen, as the gc module's
# documentation advises for a process that forks workers: no collection walks these objects
# again, neither here (whose exit then takes 0.2 s instead of 1.5 s) nor in the workers.
gc.disable()
try:
    _import_all()
finally:
    gc.freeze()
    gc.enable()

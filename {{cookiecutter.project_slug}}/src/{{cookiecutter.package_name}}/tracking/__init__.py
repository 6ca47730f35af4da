"""MLflow tracking: one run per pipeline run, with what a mentor needs to trust and re-run it.

Store:   MLFLOW_TRACKING_URI if set, else sqlite:///<project root>/mlflow.db, with artifacts in
         <project root>/mlartifacts/ (never the deprecated ./mlruns file store). The project root
         is DVC_ROOT when DVC runs the stage (so `dvc exp run --temp/--queue` log to the real
         project, not to DVC's temporary copy), else the current folder.        -> store.py
Switch:  `tracking.enabled` in conf/config.yaml, or the environment variable <PACKAGE>_TRACKING=0
         (wins over the config; tests and benchmarks use it) to run untracked.
One run: `train` starts it and writes models/model/run.json (a DVC out of train, so evaluate
         depends on it) with the pipeline run's token, also the run's `pipeline.token` tag;
         `evaluate` logs into that run. Nothing run-specific goes into reports/metrics.json,
         which stays byte-identical across `dvc repro --force`.
Params:  the resolved config, flattened (model.C, trainer.lr, ...); `tracking.*` is left out.
Metrics: the names of `dvc metrics show`: accuracy, precision, recall, f1, roc_auc (test split),
         train.f1, val.f1, baseline.f1, lift.f1, gap.f1, cv.f1_mean, ...; per-epoch curves of the
         neural network as epoch.train_loss, epoch.val_loss, epoch.val_accuracy, epoch.lr.
Tags:    git.commit/git.dirty/git.dirty_files, data.raw.md5/data.processed.md5 (DVC's hashes),
         dvc.exp_name, hydra.overrides, seed, device, model, version.*.  -> record.py, provenance.py
Model:   featurizer + model as one pyfunc model, loadable with mlflow.pyfunc.       -> model.py
Speed:   the stages hand every event to one logger process per pipeline run and go on; it
         imports mlflow, writes the run and logs the model while train and evaluate compute.
                                                                    -> stage.py, logger.py
End:     FINISHED, FAILED on an exception, KILLED on Ctrl-C / SIGTERM (exit 130 / 143).
"""

from .model import CHAMPION, MODEL_ARTIFACT, log_model
from .overrides import derived_overrides, exp_run_command, override_value
from .provenance import data_versions, dvc_md5, dvc_outputs, git_state, versions
from .record import (
    TOKEN_TAG,
    ParentRun,
    end_run,
    find_run,
    flatten_metrics,
    flatten_params,
    log_batch,
    log_config,
    log_evaluation,
    run_name,
    run_tags,
    start_parent_run,
    start_run,
    status_for,
)
from .stage import RUN_FILE, PipelineRun, Terminated, exit_on_interrupt, pipeline_run, read_token
from .store import (
    PACKAGE,
    SWITCH_ENV,
    artifact_location,
    client,
    close_sqlite_engines,
    enabled,
    experiment_id,
    experiment_name,
    project_root,
    registered_model_name,
    retry,
    tracking_uri,
)

__all__ = [
    "CHAMPION",
    "MODEL_ARTIFACT",
    "PACKAGE",
    "RUN_FILE",
    "SWITCH_ENV",
    "TOKEN_TAG",
    "ParentRun",
    "PipelineRun",
    "Terminated",
    "artifact_location",
    "client",
    "close_sqlite_engines",
    "data_versions",
    "derived_overrides",
    "dvc_md5",
    "dvc_outputs",
    "enabled",
    "end_run",
    "exit_on_interrupt",
    "exp_run_command",
    "experiment_id",
    "experiment_name",
    "find_run",
    "flatten_metrics",
    "flatten_params",
    "git_state",
    "log_batch",
    "log_config",
    "log_evaluation",
    "log_model",
    "override_value",
    "pipeline_run",
    "project_root",
    "read_token",
    "registered_model_name",
    "retry",
    "run_name",
    "run_tags",
    "start_parent_run",
    "start_run",
    "status_for",
    "tracking_uri",
    "versions",
]

"""Train many configurations in parallel: `make sweep [MODELS=svm,mlp] [SEEDS=1,2] [DATA=...]`.

Hydra's command line (`model=svm,mlp seed=1,2,3`): a multirun (config `sweep` below) run by the
joblib launcher, one job per combination, each in its own Hydra folder and logged as a child of
one parent run, which ParentRun opens.
"""

import contextlib
import importlib
import os
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from .. import pipeline, tracking
from ..config import CONF_DIR, Paths
from ..errors import PipelineError, run_cli
from ..metrics import HEADLINE
from ..prepare import task_of
from . import compare

PARENT_RUN = f"{tracking.PACKAGE.upper()}_SWEEP_PARENT_RUN"  # how a job learns its parent run's id
FAILED = "sweep.failed."  # a tag on the parent run per failed job: its overrides and error

# The pipeline's config (conf/config.yaml) plus what makes it a sweep.
ConfigStore.instance().store(
    name="sweep",
    node={
        "defaults": ["config", {"override hydra/launcher": "joblib"}, "_self_"],
        "trainer": {"checkpoint_dir": None},  # a sweep job is never resumed: no checkpoints
        "hydra": {
            "mode": "MULTIRUN",
            "sweeper": {"params": {"model": "glob(*)"}},  # every file in conf/model/
            "launcher": {"n_jobs": 2},
            "callbacks": {"parent_run": {"_target_": f"{__spec__.name}.ParentRun"}},
        },
    },
)

# The parent run while the jobs run: opened by ParentRun, closed by main().
_parent = contextlib.ExitStack()


def task_config(config: DictConfig) -> dict:
    """The pipeline's part of a composed config (Hydra's own settings left out), as plain data."""
    return OmegaConf.to_container(
        OmegaConf.masked_copy(config, [k for k in config if k != "hydra"]), resolve=True
    )


class ParentRun(Callback):
    """Opens the parent MLflow run of the sweep once Hydra has composed its config (so that
    overrides such as `data=...` or `tracking.experiment=...` apply to it too)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        cfg = task_config(config)
        try:  # (Hydra would show an exception raised here as a traceback)
            if not tracking.enabled(cfg):
                raise PipelineError("a sweep is only useful tracked: unset the tracking switch")
            metric = HEADLINE[task_of(cfg["data"])]  # what the table at the end ranks by
            parent = tracking.parent_run(
                cfg, kind="sweep-parent", name="sweep", tags={"sweep.metric": metric}
            )
            run_id = _parent.enter_context(parent)
        except PipelineError as error:
            raise SystemExit(f"error: {error}") from None
        # joblib starts its worker processes after this, at the first job: they inherit it.
        os.environ[PARENT_RUN] = run_id


def job(cfg: DictConfig) -> None:
    """One job, in a joblib worker: the pipeline in this job's folder, logged as a child run."""
    hydra_cfg = HydraConfig.get()
    parent = os.environ[PARENT_RUN]
    config = task_config(cfg)
    paths = Paths(Path(hydra_cfg.runtime.output_dir))
    try:
        metrics = pipeline.run_pipeline(config, paths)
        tracking.log_run(config, paths, metrics, parent_run_id=parent, kind="sweep")
    except Exception as exc:  # noqa: BLE001 - recorded for main(); the other jobs go on
        # Raising would make Hydra print a traceback and stop the sweep after this batch.
        overrides = " ".join(hydra_cfg.overrides.task)
        message = f"{overrides}: {type(exc).__name__}: {exc}".splitlines()[0][:500]
        tracking.client().set_tag(parent, f"{FAILED}{hydra_cfg.job.num}", message)


def main() -> None:
    """Hydra reads the command line and runs the jobs; then the parent run ends (FAILED when a
    job failed, KILLED or FAILED when the sweep itself stopped) and the table is printed."""
    os.environ.pop(PARENT_RUN, None)
    app = hydra.main(config_path=str(CONF_DIR.absolute()), config_name="sweep", version_base="1.3")
    with _parent:
        app(job)()
        if PARENT_RUN not in os.environ:
            return  # `--help`, `--cfg job` and the like: nothing ran
        parent, mlflow_client = os.environ[PARENT_RUN], tracking.client()
        found = mlflow_client.get_run(parent)
        jobs = f"tags.mlflow.parentRunId = '{parent}'"  # the child runs, in each dataset's
        everywhere = [e.experiment_id for e in mlflow_client.search_experiments()]  # experiment
        runs = mlflow_client.search_runs(everywhere, jobs, max_results=5000)
        metric, tags = found.data.tags["sweep.metric"], found.data.tags
        print(compare.ranking(compare.ranked(runs, metric), metric))
        failed = [tags[k] for k in sorted(tags) if k.startswith(FAILED)]
        print(f"sweep: parent run {parent}, {len(runs)} child run(s), {len(failed)} failed job(s)")
        if failed:
            raise PipelineError(f"{len(failed)} sweep job(s) failed: {'; '.join(failed)}")


if __name__ == "__main__":
    # Run the importable module's main(), not this copy's (named __main__): Hydra imports
    # ParentRun by that name, and both must share one _parent; joblib's workers import `job`
    # by that name too, instead of receiving a pickled copy.
    run_cli(importlib.import_module(__spec__.name).main)

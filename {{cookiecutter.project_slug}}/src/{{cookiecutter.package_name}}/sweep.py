"""Train several configurations in parallel: `make sweep` (a Hydra multirun, joblib launcher).

    python -m <package>.sweep                                   # the four models, 2 workers
    python -m <package>.sweep --models svm,mlp --seeds 1,2,3 --jobs 2
    python -m <package>.sweep --jobs 1 trainer.max_epochs=20    # extra Hydra overrides

One parent MLflow run ("sweep-...") holds one child run per job. Each job composes its config
from conf/ (like `dvc exp run -S model=NAME seed=N` would), runs prepare -> featurize -> train ->
evaluate in its own folder .scratch/sweep/<parent run id>/<job number>/ and logs there: the DVC
workspace (data/, models/, reports/) is never touched. Jobs read the parent run id and the store
from .scratch/sweep/<parent run id>/sweep.json (not from the environment, which joblib's reused
worker processes would not see change). On Linux the workers are forks of one process that
imports what a job needs once, as the sweep starts (sweep_worker.py), not fresh interpreters
that each import it again. `--jobs 1` runs the jobs one after the other in this process
(Hydra's basic launcher). The table at the end is `make compare`'s.
"""

import argparse
import contextlib
import gc
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .config import CONF_DIR, Paths, compose
from .errors import PipelineError, run_cli

PACKAGE = __package__ or __name__.rpartition(".")[0]
MODELS = ("mlp", "svm", "random_forest", "logreg")  # longest first: best packing on 2 workers
SCRATCH = Path(".scratch") / "sweep"


def start_workers() -> None:
    """Have the joblib workers of a parallel sweep forked from one process that has imported
    what a job needs (the module sweep_worker), instead of started as fresh interpreters.

    Hydra's joblib launcher runs the jobs on loky's workers, each by default a new Python that
    imports pandas, scikit-learn, matplotlib and MLflow again (3-4 s of CPU each) before its
    first job, on the same cores. With Python's forkserver as loky's start method, one server
    process imports them once, beginning now, while this process creates the parent run, and
    each worker is a fork of it, ready at once. The server never opens the store, so no SQLite
    connection crosses a fork. Linux only: elsewhere a fork after these imports is not safe
    (macOS system libraries), and the workers start the usual way.
    """
    if not sys.platform.startswith("linux"):
        return
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.set_forkserver_preload([f"{PACKAGE}.sweep_worker"])
    forkserver.ensure_running()  # before anything else: the server imports while we go on

    from joblib.externals.loky.backend.context import set_start_method

    set_start_method("forkserver", force=True)


def _quote(value: str) -> str:
    """A Hydra override value in single quotes (paths and URIs hold ':' and '/')."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_job(
    config: dict,
    out: Path,
    overrides: list[str],
    *,
    kind: str,
    threads: int,
    parent_run_id: str | None,
    uri: str,
    extra_tags: dict | None = None,
) -> dict:
    """One configuration end to end in `out` (prepare, featurize, train, evaluate; no EDA),
    logged as a child run of `parent_run_id`; return its metrics and run id."""
    from threadpoolctl import threadpool_limits

    from .pipeline import run_pipeline
    from .tracking import (
        client,
        enabled,
        end_run,
        log_batch,
        log_evaluation,
        log_model,
        start_run,
        status_for,
    )

    # Two jobs on two cores: one thread each, no contention (BLAS and OpenMP pools, PyTorch).
    threadpool_limits(threads)
    if config["model"]["name"] == "mlp":
        import torch

        torch.set_num_threads(threads)
    paths = Paths(out)
    track = enabled(config)
    mlflow_client = client(uri) if track else None
    run_id = None
    if track:
        run_id = start_run(
            mlflow_client,
            config,
            paths,
            kind=kind,
            overrides=overrides,
            parent_run_id=parent_run_id,
            extra_tags=extra_tags,
        )
    history = []
    try:

        def on_epoch(epoch: int, values: dict) -> None:
            history.append(
                (epoch, int(time.time() * 1000), {f"epoch.{k}": v for k, v in values.items()})
            )

        started = time.perf_counter()
        metrics = run_pipeline(config, paths, with_eda=False, on_epoch=on_epoch)
        seconds = time.perf_counter() - started
        if track:
            log_batch(mlflow_client, run_id, history=history, metrics={"pipeline.seconds": seconds})
            log_evaluation(mlflow_client, run_id, paths.reports, metrics)
            if config["tracking"].get("log_model", True):
                log_model(
                    run_id,
                    config,
                    featurizer=paths.featurizer,
                    model_dir=paths.model,
                    example_csv=paths.processed / "train.csv",
                )
    except BaseException as exc:
        if track:
            end_run(mlflow_client, run_id, status_for(exc))
        raise
    if track:
        end_run(mlflow_client, run_id, "FINISHED")
    return {"run_id": run_id, **metrics}


def job(cfg) -> float:
    """The Hydra task: one job of the multirun (runs in a joblib worker process)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hydra_cfg = HydraConfig.get()
    os.chdir(hydra_cfg.runtime.cwd)  # reused workers may have started elsewhere
    config = OmegaConf.to_container(cfg, resolve=True)
    sweep = json.loads((Path(hydra_cfg.sweep.dir) / "sweep.json").read_text())
    overrides = list(hydra_cfg.overrides.task)
    out = Path(hydra_cfg.runtime.output_dir)
    # A sweep job is never resumed: no per-epoch checkpoints (they cannot change the numbers,
    # but each costs a synced write), and nothing in the workspace's models/checkpoints.
    config["trainer"]["checkpoint_dir"] = None
    metrics = run_job(
        config,
        out,
        overrides,
        kind="sweep",
        threads=sweep["threads"],
        parent_run_id=sweep["parent"],
        uri=sweep["uri"],
    )
    return metrics["f1"]


def launch(overrides: Sequence[str], *, jobs: int, sweep_dir: Path, parent: str, uri: str) -> None:
    """Hydra --multirun with the joblib launcher over `overrides`."""
    import hydra

    threads = max(1, (os.cpu_count() or 1) // jobs)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.json").write_text(
        json.dumps({"parent": parent, "uri": uri, "threads": threads}) + "\n"
    )
    launcher = (
        [
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={jobs}",
            "hydra.launcher.batch_size=1",
        ]  # one job at a time: long jobs do not queue up
        if jobs > 1
        else []
    )
    args = [
        "--multirun",
        *overrides,
        *launcher,
        f"hydra.sweep.dir={_quote(str(sweep_dir))}",
        "hydra.sweep.subdir=${hydra.job.num}",
        "hydra.job.chdir=false",
    ]
    # The task by its importable name (not __main__.job under `python -m`), so that joblib's
    # workers import it instead of unpickling a copy.
    task = importlib.import_module(f"{PACKAGE}.sweep").job
    argv = sys.argv
    sys.argv = [argv[0], *args]
    try:
        hydra.main(version_base="1.3", config_path=str(CONF_DIR.resolve()), config_name="config")(
            task
        )()
    finally:
        sys.argv = argv
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()  # so that compose() works again in this process


def children(mlflow_client, parent: str) -> list:
    from .tracking import retry

    experiment = retry(mlflow_client.get_run, parent).info.experiment_id
    runs = retry(
        mlflow_client.search_runs,
        [experiment],
        filter_string=f"tags.mlflow.parentRunId = '{parent}'",
        max_results=1000,
    )
    return list(runs)


def sweep(
    models: Sequence[str], seeds: Sequence[str], extra: Sequence[str], jobs: int
) -> tuple[str, list]:
    """Run the multirun under one parent run; return the parent id and its child runs."""
    from .tracking import (
        enabled,
        end_run,
        log_batch,
        start_parent_run,
    )

    if jobs > 1:
        start_workers()
    cfg = compose(extra)
    if not enabled(cfg):
        raise PipelineError("a sweep is only useful tracked: unset the tracking switch")
    overrides = [
        f"model={','.join(models)}",
        *([f"seed={','.join(seeds)}"] if seeds else []),
        *extra,
    ]
    # The jobs differ in model and seed: the parent carries neither.
    mlflow_client, uri, _, parent = start_parent_run(
        cfg,
        kind="sweep-parent",
        name="sweep",
        overrides=overrides,
        tags={"model": None, "seed": None, "sweep.jobs": str(jobs)},
    )
    sweep_dir = (SCRATCH / parent).resolve()
    started = time.perf_counter()
    try:
        launch(overrides, jobs=jobs, sweep_dir=sweep_dir, parent=parent, uri=uri)
    except BaseException as exc:
        from .tracking import status_for

        # Jobs whose workers joblib stopped (on Ctrl-C, or after another job failed) may have
        # had no time to end their runs: they were killed.
        with contextlib.suppress(Exception):
            for run in children(mlflow_client, parent):
                if run.info.status == "RUNNING":
                    end_run(mlflow_client, run.info.run_id, "KILLED")
        end_run(mlflow_client, parent, status_for(exc))
        raise
    runs = children(mlflow_client, parent)
    log_batch(
        mlflow_client,
        parent,
        metrics={"sweep.seconds": time.perf_counter() - started, "sweep.runs": len(runs)},
    )
    failed = [r for r in runs if r.info.status != "FINISHED"]
    end_run(mlflow_client, parent, "FAILED" if failed else "FINISHED")
    return parent, runs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated conf/model/ names (default: {','.join(MODELS)})",
    )
    parser.add_argument("--seeds", default="", help="comma-separated seeds, e.g. 1,2,3")
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("--metric", default="f1", help="sort the table by this test metric")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every job")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    known = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
    if unknown := [m for m in models if m not in known]:
        raise PipelineError(f"unknown model(s) {', '.join(unknown)}: use {', '.join(known)}")
    seeds = [s.strip() for s in args.seeds.split(",") if s.strip()]
    parent, runs = sweep(models, seeds, args.overrides, max(1, args.jobs))
    from .compare import format_table, rows_for

    print(format_table(rows_for(runs, args.metric), args.metric))
    failed = [r.info.run_name for r in runs if r.info.status != "FINISHED"]
    print(
        f"sweep: parent run {parent}, {len(runs)} child run(s)"
        + (f", NOT finished: {', '.join(failed)}" if failed else ", all FINISHED")
    )
    if failed:
        raise PipelineError(f"{len(failed)} sweep job(s) did not finish: see the log above")


def _main() -> None:
    try:
        main(sys.argv[1:])
    finally:
        # Everything is written. Interpreter teardown would now run the garbage collector
        # over the objects of pandas, scikit-learn, PyTorch and MLflow (700,000 after a
        # sweep with --jobs 1: 1-2 s): freeze them instead; exit handlers still run.
        gc.freeze()


if __name__ == "__main__":
    run_cli(_main)

"""Re-run a tracked run and check that every metric comes out the same: `make reproduce RUN=<id>`.

In a scratch git worktree (yours is never touched): the run's code (the commit `dvc exp run`
saved, else its git commit), config (artifact config/params.yaml) and raw data (by DVC hash,
from this project's DVC cache); then `dvc repro --force`, untracked, and reports/metrics.json
compared with the run's, exactly. A run made with uncommitted changes is refused (its code is
in no commit) unless --allow-dirty.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .. import tracking
from ..dvc_records import md5
from ..errors import PipelineError, run_cli
from .compare import markdown_table, resolve_run_id


def run(*command: str, cwd: Path, check: bool = True) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise PipelineError(f"`{' '.join(command)}` failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def source_commit(tags: dict, root: Path, allow_dirty: bool) -> str:
    """The commit to re-run, or a PipelineError saying why the code cannot be restored."""
    refs = run(
        "git", "for-each-ref", "--format=%(refname:lstrip=-1) %(objectname)", "refs/exps", cwd=root
    )
    saved = dict(line.split() for line in refs.splitlines())
    if tags.get("dvc.exp_name") in saved:  # `dvc exp run` saved the run's code, changes included
        return saved[tags["dvc.exp_name"]]
    commit = tags.get("mlflow.source.git.commit")
    if not commit:
        raise PipelineError("the run recorded no git commit: its code cannot be restored")
    if tags.get("git.dirty") == "true" and not allow_dirty:
        raise PipelineError(
            f"the run was made with uncommitted changes ({tags.get('git.dirty_files') or '?'}), "
            "so its exact code is in no commit. Fix: commit before running experiments (or use "
            "`dvc exp run`, which saves each experiment's code); --allow-dirty re-runs it on "
            f"commit {commit[:12]} anyway (results may differ)"
        )
    if run("git", "cat-file", "-t", commit, cwd=root, check=False) != "commit":
        raise PipelineError(
            f"commit {commit[:12]} of the run is not in this repository: "
            "`git fetch` the branch it was made on, then try again"
        )
    return commit


def restore_data(tags: dict, project: Path, tree: Path) -> None:
    """Copy the run's raw data, found by its DVC hash in this project's cache, into the tree."""
    hash_, raw = tags.get("data.raw.md5"), tags.get("data.raw.path")
    if not hash_ or not raw:
        raise PipelineError("the run recorded no raw-data hash: its data cannot be restored")
    cache = Path(run(sys.executable, "-m", "dvc", "cache", "dir", cwd=project))
    cached = cache / "files" / "md5" / hash_[:2] / hash_[2:]
    if not cached.is_file() or md5(cached) != hash_:
        raise PipelineError(
            f"the run's raw data ({raw}, DVC md5 {hash_}) is not in this project's DVC cache "
            f"({cache}): `dvc pull` it (with the remote configured, see README), or restore "
            f"the file that had this hash and `dvc add {raw}`"
        )
    (tree / raw).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, tree / raw)


def reproduce(run_id: str, *, allow_dirty: bool = False) -> list[tuple[str, object, object, bool]]:
    """Re-run the run; return (metric, recorded, reproduced, equal) for every metric."""
    import mlflow
    from mlflow.exceptions import MlflowException

    run_id = resolve_run_id(run_id)
    project = Path.cwd().resolve()
    root = Path(run("git", "rev-parse", "--show-toplevel", cwd=project)).resolve()
    found = tracking.client().get_run(run_id)
    commit = source_commit(found.data.tags, root, allow_dirty)
    mlflow.set_tracking_uri(tracking.tracking_uri())
    try:
        config = mlflow.artifacts.load_text(f"runs:/{run_id}/config/params.yaml")
        expected = mlflow.artifacts.load_dict(f"runs:/{run_id}/reports/metrics.json")
    except (MlflowException, OSError):
        raise PipelineError(
            f"run {run_id} has no config/params.yaml or reports/metrics.json artifact: "
            "it was not logged by this project's tracking, so it cannot be re-run"
        ) from None
    worktree = Path(tempfile.mkdtemp(prefix=f"reproduce-{run_id[:8]}-"))
    run("git", "worktree", "add", "--detach", "--quiet", str(worktree), commit, cwd=root)
    tree = worktree / project.relative_to(root)
    try:
        restore_data(found.data.tags, project, tree)
        header = f"# The config of MLflow run {run_id}\n"
        (tree / "params.yaml").write_text(header + config, encoding="utf-8")
        print(f"reproduce: run {run_id} ({found.info.run_name}) on commit {commit[:12]}, in {tree}")
        env = {
            **os.environ,
            "PYTHONPATH": str(tree / "src"),  # the run's code, not this checkout's
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            tracking.SWITCH: "0",  # the re-run is a check, not a new run
        }
        repro = [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"]
        if (code := subprocess.run(repro, cwd=tree, env=env).returncode) != 0:
            raise PipelineError(f"the pipeline failed (exit {code}), see its output above")
        actual = json.loads((tree / "reports" / "metrics.json").read_text(encoding="utf-8"))
    finally:
        run("git", "worktree", "remove", "--force", str(worktree), cwd=root, check=False)
        shutil.rmtree(worktree, ignore_errors=True)
    before, after = tracking.flatten(expected), tracking.flatten(actual)
    keys = sorted(before.keys() | after.keys())
    return [(k, before.get(k), after.get(k), before.get(k) == after.get(k)) for k in keys]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the run's id, or its first 6+ characters (`make compare`)")
    parser.add_argument("--allow-dirty", action="store_true", help="re-run a dirty run anyway")
    args = parser.parse_args(argv)
    rows = reproduce(args.run, allow_dirty=args.allow_dirty)
    table = [[key, before, after, "yes" if same else "NO"] for key, before, after, same in rows]
    print(markdown_table([["metric", "run", "reproduced", "match"], *table]))
    if differ := [r[0] for r in rows if not r[3]]:
        raise PipelineError(f"{len(differ)} of {len(rows)} metric(s) differ: {', '.join(differ)}")
    print(f"reproduce: all {len(rows)} metrics match exactly")


if __name__ == "__main__":
    run_cli(main)

"""Re-run a tracked run and check that every metric comes out the same: `make reproduce RUN=<id>`.

    python -m <package>.commands.reproduce <run id, or 6+ characters of it> [--keep] [--allow-dirty]

From what the run recorded, it rebuilds the run in a scratch git worktree in the system's
temporary folder (your working tree, params.yaml and outputs are never touched):
- the code: the commit `dvc exp run` saved for the run, else the run's git commit;
- the config: the run's own config (artifact config/params.yaml) as params.yaml;
- the data: the raw file with the run's DVC hash, from this project's DVC cache.
Then it runs `dvc repro --force` there, untracked, and compares reports/metrics.json with the
run's, key by key, exactly. Exit status 0 only when every metric matches. A run made with
uncommitted changes is refused (its code is in no commit); --allow-dirty re-runs it on its
commit anyway, as an approximation.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from .. import tracking
from ..errors import PipelineError, run_cli
from .compare import resolve_run_id


def run(*command: str, cwd: Path, env: dict | None = None, check: bool = True) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
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
    md5, raw = tags.get("data.raw.md5"), tags.get("data.raw.path")
    if not md5 or not raw:
        raise PipelineError("the run recorded no raw-data hash: its data cannot be restored")
    cache = Path(run(sys.executable, "-m", "dvc", "cache", "dir", cwd=project))
    cached = cache / "files" / "md5" / md5[:2] / md5[2:]
    if not cached.is_file() or hashlib.md5(cached.read_bytes()).hexdigest() != md5:
        raise PipelineError(
            f"the run's raw data ({raw}, DVC md5 {md5}) is not in this project's DVC cache "
            f"({cache}): `dvc pull` it (with the remote configured, see README), or restore "
            f"the file that had this hash and `dvc add {raw}`"
        )
    (tree / raw).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, tree / raw)


def download(mlflow_client, run_id: str, path: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        return Path(mlflow_client.download_artifacts(run_id, path, folder)).read_text("utf-8")


def reproduce(
    run_id: str, *, keep: bool = False, allow_dirty: bool = False
) -> list[tuple[str, object, object, bool]]:
    """Re-run the run; return (metric, recorded, reproduced, equal) for every metric."""
    from mlflow.exceptions import MlflowException

    run_id = resolve_run_id(run_id)
    project = Path.cwd().resolve()
    root = Path(run("git", "rev-parse", "--show-toplevel", cwd=project)).resolve()
    mlflow_client = tracking.client()
    found = mlflow_client.get_run(run_id)
    tags = found.data.tags
    commit = source_commit(tags, root, allow_dirty)
    try:
        config = yaml.safe_load(download(mlflow_client, run_id, "config/params.yaml"))
        expected = json.loads(download(mlflow_client, run_id, "reports/metrics.json"))
    except (MlflowException, OSError):
        raise PipelineError(
            f"run {run_id} has no config/params.yaml or reports/metrics.json artifact: "
            "it was not logged by this project's tracking, so it cannot be re-run"
        ) from None
    worktree = Path(tempfile.mkdtemp(prefix=f"reproduce-{run_id[:8]}-"))
    run("git", "worktree", "add", "--detach", "--quiet", str(worktree), commit, cwd=root)
    tree = worktree / project.relative_to(root)
    try:
        restore_data(tags, project, tree)
        (tree / "params.yaml").write_text(
            f"# The config of MLflow run {run_id}\n" + yaml.safe_dump(config, sort_keys=False),
            encoding="utf-8",
        )
        print(f"reproduce: run {run_id} ({found.info.run_name}) on commit {commit[:12]}, in {tree}")
        env = {
            **os.environ,
            "PYTHONPATH": str(tree / "src"),  # the run's code, not this checkout's
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            tracking.SWITCH: "0",  # the re-run is a check, not a new run
        }
        repro = [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"]
        if (code := subprocess.run(repro, cwd=tree, env=env).returncode) != 0:
            raise PipelineError(f"the pipeline failed (exit {code}; --keep keeps {tree})")
        actual = json.loads((tree / "reports" / "metrics.json").read_text(encoding="utf-8"))
    finally:
        if keep:
            print(f"reproduce: kept {worktree} (`git worktree remove --force {worktree}`)")
        else:
            run("git", "worktree", "remove", "--force", str(worktree), cwd=root, check=False)
            shutil.rmtree(worktree, ignore_errors=True)
    before, after = tracking.flatten(expected), tracking.flatten(actual)
    return [
        (k, before.get(k), after.get(k), before.get(k) == after.get(k))
        for k in sorted(before.keys() | after.keys())
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the run's id, or its first 6+ characters (`make compare`)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch worktree")
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="re-run a run made with uncommitted changes on its commit anyway",
    )
    args = parser.parse_args(argv)
    rows = reproduce(args.run, keep=args.keep, allow_dirty=args.allow_dirty)
    width = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(width)}  {'run':>10}  {'reproduced':>10}  match")
    for key, before, after, same in rows:
        print(f"{key.ljust(width)}  {before!s:>10}  {after!s:>10}  {'yes' if same else 'NO'}")
    if differ := [r[0] for r in rows if not r[3]]:
        raise PipelineError(f"{len(differ)} of {len(rows)} metric(s) differ: {', '.join(differ)}")
    print(f"reproduce: all {len(rows)} metrics match exactly")


if __name__ == "__main__":
    run_cli(main)

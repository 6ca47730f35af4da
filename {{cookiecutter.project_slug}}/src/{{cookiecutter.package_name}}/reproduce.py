"""Re-run a tracked run and check that every metric comes out the same: `make reproduce RUN=<id>`.

    python -m <package>.reproduce <run id> [--keep] [--allow-dirty]

From the run's tags and artifacts it restores, in a scratch git worktree in the system's
temporary folder (your working tree, params.yaml and outputs are never touched; outside the
project, so DVC never mistakes its dvc.yaml for one of yours):
- the code: the DVC experiment's commit when the run came from `dvc exp run` (DVC saves the
  experiment's code, uncommitted changes included), else the run's git commit;
- the config: the run's own resolved config (artifact config/params.yaml) as params.yaml;
- the data: the raw file with the run's DVC hash, from this project's DVC cache (or the remote).
Then it runs `dvc repro --force` there, untracked, and compares reports/metrics.json with the
run's, key by key, exactly. Exit status 0 only when every metric matches. A run from a tree
with uncommitted changes (and no DVC experiment) is refused with the reason and the fix;
--allow-dirty re-runs it on its commit anyway, as an approximation.
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

import yaml

from .errors import PipelineError, run_cli


def _git(*args: str, cwd: Path, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise PipelineError(f"`git {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout.strip()


def exp_commit(root: Path, name: str) -> str | None:
    """The commit DVC saved for experiment `name` (refs/exps/.../<name>), if it still exists."""
    refs = _git(
        "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=root, check=False
    )
    for line in refs.splitlines():
        ref, _, sha = line.partition(" ")
        if ref.rsplit("/", 1)[-1] == name:
            return sha
    return None


def source_commit(tags: dict, root: Path, allow_dirty: bool) -> tuple[str, str]:
    """(commit, how it was chosen), or a PipelineError saying why the code cannot be restored."""
    if (name := tags.get("dvc.exp_name")) and (sha := exp_commit(root, name)):
        return sha, f"DVC experiment {name}"
    commit = tags.get("git.commit", "none")
    if commit == "none":
        raise PipelineError(
            "the run was made outside a git repository (or before the first "
            "commit): its code cannot be restored. Commit, then run again."
        )
    if tags.get("git.dirty") == "true" and not allow_dirty:
        raise PipelineError(
            f"the run was made with uncommitted changes ({tags.get('git.dirty_files') or '?'}), "
            f"so its exact code is in no commit and cannot be reproduced exactly. Fix: commit "
            f"before running experiments (or use `dvc exp run`, which saves each experiment's "
            f"code). --allow-dirty re-runs it on commit {commit[:12]} anyway (results may differ)"
        )
    if (
        subprocess.run(
            ["git", "cat-file", "-e", commit + "^{commit}"],
            cwd=root,
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        raise PipelineError(
            f"commit {commit[:12]} of the run is not in this repository: "
            "`git fetch` the branch it was made on, then try again"
        )
    return commit, f"commit {commit[:12]}" + (
        " (run had uncommitted changes!)" if tags.get("git.dirty") == "true" else ""
    )


def cache_dir(root: Path) -> Path:
    """This project's DVC cache (honouring `dvc cache dir` settings)."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "cache", "dir"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    found = result.stdout.strip()
    return Path(found) if result.returncode == 0 and found else root / ".dvc" / "cache"


def restore_data(tags: dict, root: Path, tree: Path, dvc_env: dict) -> str:
    """Put the run's raw data (by DVC hash) into the worktree; say where it came from."""
    md5, raw = tags.get("data.raw.md5"), tags.get("data.raw.path")
    if not md5 or not raw or md5 == "missing":
        raise PipelineError(
            "the run recorded no raw-data hash (data.raw.md5): its data "
            "version is unknown and cannot be restored"
        )
    target = tree / raw
    target.parent.mkdir(parents=True, exist_ok=True)
    cache = cache_dir(root)
    for candidate in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):
        if candidate.is_file():
            shutil.copyfile(candidate, target)
            break
    else:
        dvc_file = target.with_name(target.name + ".dvc")
        pulled = False
        if dvc_file.exists() and md5 in dvc_file.read_text(encoding="utf-8"):
            pulled = (
                subprocess.run(
                    [sys.executable, "-m", "dvc", "pull", "--quiet", str(dvc_file)],
                    cwd=tree,
                    env=dvc_env,
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            )
        if not pulled or not target.exists():
            raise PipelineError(
                f"the run's raw data ({raw}, DVC md5 {md5}) is neither in this project's DVC "
                f"cache ({cache}) nor fetchable with `dvc pull`: fetch it (`dvc pull` with the "
                "remote configured, see README) or restore the file that had this hash and "
                f"`dvc add {raw}`"
            )
    from .tracking import dvc_md5

    if dvc_md5(target) != md5:
        raise PipelineError(
            f"restored {raw} does not have the run's hash {md5}: the DVC cache "
            "is corrupt; run `dvc cache` checks or `dvc pull` again"
        )
    return f"{raw} (md5 {md5[:12]}...)"


def flatten(metrics: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def compare(expected: dict, actual: dict) -> list[tuple[str, object, object, bool]]:
    a, b = flatten(expected), flatten(actual)
    return [(k, a.get(k), b.get(k), a.get(k) == b.get(k)) for k in sorted(set(a) | set(b))]


def reproduce(
    run_id: str, *, keep: bool = False, allow_dirty: bool = False, quiet: bool = False
) -> list[tuple[str, object, object, bool]]:
    from mlflow.exceptions import MlflowException

    from .tracking import SWITCH_ENV, client

    root = Path(_git("rev-parse", "--show-toplevel", cwd=Path.cwd())).resolve()
    project = Path.cwd().resolve()
    mlflow_client = client()
    try:
        run = mlflow_client.get_run(run_id)
    except MlflowException:
        raise PipelineError(
            f"no run {run_id!r} in the store (`make compare` lists run ids)"
        ) from None
    tags = run.data.tags
    commit, how = source_commit(tags, root, allow_dirty)
    downloads = Path(tempfile.mkdtemp(prefix="reproduce-artifacts-"))
    config = expected = None
    try:
        config = yaml.safe_load(
            Path(
                mlflow_client.download_artifacts(run_id, "config/params.yaml", str(downloads))
            ).read_text(encoding="utf-8")
        )
        expected = json.loads(
            Path(
                mlflow_client.download_artifacts(run_id, "reports/metrics.json", str(downloads))
            ).read_text()
        )
    except (MlflowException, OSError) as exc:
        if config is None:
            raise PipelineError(
                f"run {run_id} has no config/params.yaml artifact: it was not logged by this "
                "project's tracking, so it cannot be re-run"
            ) from exc
        expected = None
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
    trainer = config.get("trainer") or {}
    if trainer.get("checkpoint_dir") and Path(trainer["checkpoint_dir"]).is_absolute():
        trainer["checkpoint_dir"] = "models/checkpoints"  # a sweep job's scratch folder
    worktree = Path(tempfile.mkdtemp(prefix=f"reproduce-{run_id[:8]}-")).resolve()
    _git("worktree", "add", "--detach", "--quiet", str(worktree), commit, cwd=root)
    tree = worktree / project.relative_to(root)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree / "src"), os.environ.get("PYTHONPATH", "")]),
        SWITCH_ENV: "0",
        "DVC_NO_ANALYTICS": "1",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    env.pop("DVC_ROOT", None)
    try:
        data = restore_data(tags, project, tree, env)
        (tree / "params.yaml").write_text(
            "# The config of MLflow run "
            + run_id
            + "\n"
            + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
        if not quiet:
            print(
                f"reproduce: run {run_id} ({run.info.run_name}) from {how}, data {data}, "
                f"config from the run; re-running the pipeline in {tree}"
            )
        result = subprocess.run(
            [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"],
            cwd=tree,
            env=env,
            check=False,
            capture_output=quiet,
            text=True,
        )
        if result.returncode != 0:
            raise PipelineError(
                f"the pipeline failed in {tree} (exit {result.returncode})"
                + (f": {result.stderr.strip()[-2000:]}" if quiet else "")
            )
        actual = json.loads((tree / "reports" / "metrics.json").read_text())
        if expected is None:  # an old run without the file: its MLflow metrics
            expected = dict(run.data.metrics)
            actual = {k: v for k, v in flatten(actual).items() if k in expected}
        return compare(expected, actual)
    finally:
        if not keep:
            _git("worktree", "remove", "--force", str(worktree), cwd=root, check=False)
            _git("worktree", "prune", cwd=root, check=False)
            shutil.rmtree(worktree, ignore_errors=True)
        else:
            print(
                f"reproduce: kept the worktree {worktree} (remove it with "
                f"`git worktree remove --force {worktree}`)"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="MLflow run id (`make compare` lists them)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch worktree")
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="re-run a run with uncommitted changes on its commit anyway",
    )
    args = parser.parse_args(argv)
    if not args.run:
        raise PipelineError("which run? make reproduce RUN=<run id> (`make compare` lists them)")
    rows = reproduce(args.run, keep=args.keep, allow_dirty=args.allow_dirty)
    width = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(width)}  {'run':>10}  {'reproduced':>10}  match")
    for key, before, after, same in rows:
        print(f"{key.ljust(width)}  {before!s:>10}  {after!s:>10}  {'yes' if same else 'NO'}")
    differ = [r[0] for r in rows if not r[3]]
    if differ:
        raise PipelineError(f"{len(differ)} of {len(rows)} metric(s) differ: {', '.join(differ)}")
    print(f"reproduce: all {len(rows)} metrics match exactly")


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))

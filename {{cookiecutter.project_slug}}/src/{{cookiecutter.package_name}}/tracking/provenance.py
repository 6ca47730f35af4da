"""Where a run came from: the git commit (and whether the tree was dirty), DVC's data hashes,
the package versions."""

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

import yaml

from ..config import Config, Paths

# Files whose change cannot change the results (outputs, the config that is logged in full,
# documentation): a run with only these modified still counts as a clean tree.
NOT_DIRTY = ("dvc.lock", "params.yaml")
NOT_DIRTY_SUFFIXES = (".gitignore", ".md")
NOT_DIRTY_PREFIXES = ("mlflow.db", "mlartifacts/", ".scratch/")  # the store (and its WAL)


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

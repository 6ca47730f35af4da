"""DVC's own records of data versions: the `.dvc` file beside a tracked file, and dvc.lock.

Read, never recomputed by hand: these are the hashes `dvc status`, `dvc pull` and
`dvc checkout` go by.
"""

import hashlib
from pathlib import Path

import yaml


def md5(path: Path) -> str:
    """A file's hash as DVC 3 records it, read in chunks (raw files can be gigabytes)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read(path: Path) -> dict:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


def tracked_md5(path: Path) -> str | None:
    """What `dvc add` recorded for `path` (in path.dvc), if DVC tracks it."""
    outs = _read(path.with_name(path.name + ".dvc")).get("outs", [])
    return outs[0].get("md5") if outs else None


def lock_md5(path: str | Path, kind: str = "outs", lock: Path = Path("dvc.lock")) -> str | None:
    """What dvc.lock records for `path` as a stage's output (kind="deps": input), if anything."""
    for stage in _read(lock).get("stages", {}).values():
        for entry in stage.get(kind, []):
            if Path(entry["path"]) == Path(path):
                return entry.get("md5")
    return None

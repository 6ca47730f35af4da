"""The Hydra overrides of a run: rebuilt from params.yaml against conf/, and as the
`dvc exp run -S ...` command line that composes the same config again."""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..config import CONF_DIR, Config, differences


def override_value(value: Any) -> str:
    """A value in Hydra's override grammar (what `dvc exp run -S key=VALUE` accepts)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][\w./-]*", text) and yaml.safe_load(text) == text:
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _leaf(cfg: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _leaf_overrides(composed: Config, tree: Config) -> list[str]:
    """`key=value` (or +key= / ~key) for each leaf where `tree` differs from `composed`."""
    overrides = []
    for key in differences(composed, tree):
        present, value = _leaf(tree, key)
        if not present:
            overrides.append(f"~{key}")
        else:
            prefix = "" if _leaf(composed, key)[0] else "+"
            overrides.append(f"{prefix}{key}={override_value(value)}")
    return overrides


def derived_overrides(params: Config, conf_dir: Path = CONF_DIR) -> tuple[list[str], bool]:
    """Hydra overrides that turn conf/'s defaults into `params`, and whether that was verified.

    DVC does not hand `dvc exp run -S ...` to the stages (it only composes params.yaml), so the
    overrides are rebuilt, shortest candidate first: an experiment file (+experiment=NAME)
    or group options (model=svm) where a group's content matches one of its files, then
    `key=value` for each remaining difference. Composing the result must give `params`
    exactly; if it does not, the list is still recorded, marked unverified.
    """
    from ..config import compose

    tree = {k: v for k, v in params.items() if k != "tracking"}
    cache: dict[tuple[str, ...], Config | None] = {}

    def composed(overrides: list[str]) -> Config | None:
        key = tuple(overrides)
        if key not in cache:  # each compose costs a third of a second
            try:
                cfg = compose(overrides, conf_dir=conf_dir)
                cfg.pop("tracking", None)
            except Exception:  # noqa: BLE001 - a broken conf/ must not stop tracking the run
                cfg = None
            cache[key] = cfg
        return cache[key]

    try:
        defaults = yaml.safe_load((conf_dir / "config.yaml").read_text())["defaults"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return [], False
    groups = []
    for entry in defaults:
        if isinstance(entry, dict) and len(entry) == 1:
            ((group, default),) = entry.items()
            options = sorted(p.stem for p in (conf_dir / str(group)).glob("*.yaml"))
            if group in tree and options:
                groups.append((str(group), str(default), options))

    def distance(group: str, option: str) -> int:
        content = yaml.safe_load((conf_dir / group / f"{option}.yaml").read_text()) or {}
        return len(differences(content, tree[group]))

    bases = [
        [
            f"{g}={best}"
            for g, d, options in groups
            if (best := min(options, key=lambda o, g=g, d=d: (distance(g, o), o != d))) != d
        ]
    ]
    experiments = [
        [f"+experiment={p.stem}"] for p in sorted((conf_dir / "experiment").glob("*.yaml"))
    ]
    best: list[str] | None = None
    for base in [*bases, *experiments]:
        if best is not None and len(best) <= 1:
            break  # an experiment file cannot make it shorter
        cfg = composed(base)
        if cfg is None:
            continue
        candidate = base + _leaf_overrides(cfg, tree)
        if best is None or len(candidate) < len(best):
            best = candidate
    if best is None:
        return [], False
    check = composed(best)
    return best, check is not None and not differences(check, tree)


def exp_run_command(overrides: list[str]) -> str:
    """The `dvc exp run` command line that composes the same config."""
    import shlex

    return " ".join(["dvc exp run", *(f"-S {shlex.quote(o)}" for o in overrides)])

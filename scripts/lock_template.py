"""Refresh the generated project's uv.lock: `make project-lock` (UPGRADE=1: newest versions).

    python scripts/lock_template.py              # after a change to the project's pyproject.toml
    python scripts/lock_template.py --upgrade    # every package to its newest allowed version

The lock pins every package of the generated project, for every platform and Python it
supports. It is the same for every project but for one line, the project's own name, so the
template ships it as `{{cookiecutter.project_slug}}/uv.lock` with that line in Jinja, and
cookiecutter renders it like any other file (uv reads the name whatever its place in the file).

How: bake the project under a placeholder name (the shipped lock is rendered into it), run
`uv lock` there (it keeps every pin that pyproject.toml still allows, so a changed dependency
moves only what it must), then put the Jinja name back and write the template's copy.
PyTorch stays at TORCH (the version of the CPU wheel the template's tests install, see
scripts/bakery.py) unless --torch says otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bakery

LOCK = bakery.TEMPLATE_DIR / "uv.lock"
PLACEHOLDER = "lock-template-placeholder"
NAME_LINE = 'name = "{}"\n'
JINJA_NAME = "{{ cookiecutter.project_slug|replace('_', '-') }}"
TORCH = "2.13.0"


def uv() -> str:
    found = Path(sys.executable).with_name("uv")
    if found.exists():
        return str(found)
    if which := shutil.which("uv"):
        return which
    sys.exit("lock: uv is not installed (make test installs it into .venv)")


def to_template(lock: str) -> str:
    """uv's lock of the placeholder project -> the template's lock (its name line in Jinja)."""
    line = NAME_LINE.format(PLACEHOLDER)
    if lock.count(line) != 1:
        sys.exit(f"lock: expected one {line.strip()!r} line in the lock, found {lock.count(line)}")
    if any(mark in lock for mark in ("{{", "{%", "{#")):
        sys.exit("lock: the lock holds text Jinja would read as a tag; it cannot be a template")
    return lock.replace(line, NAME_LINE.format(JINJA_NAME))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest versions of everything")
    parser.add_argument("--torch", default=TORCH, help=f"PyTorch version to pin (default {TORCH})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        project = bakery.bake(Path(tmp), {"project_name": PLACEHOLDER}, accept_hooks=False)
        cmd = [uv(), "lock", "--upgrade-package", f"torch=={args.torch}"]
        if args.upgrade:
            cmd.append("--upgrade")
        if not (project / "uv.lock").exists():
            print("lock: no uv.lock in the template yet: resolving from scratch")
        # No UV_* settings of this machine (a local wheel folder would land in the lock).
        env = {k: v for k, v in bakery.project_env().items() if not k.startswith("UV_")}
        result = subprocess.run(cmd, cwd=project, env=env)
        if result.returncode != 0:
            sys.exit(f"lock: `{' '.join(cmd)}` failed (exit {result.returncode})")
        text = to_template((project / "uv.lock").read_text(encoding="utf-8"))
    before = LOCK.read_text(encoding="utf-8") if LOCK.exists() else ""
    LOCK.write_text(text, encoding="utf-8")
    changed = "unchanged" if text == before else "updated"
    print(f"lock: {LOCK.relative_to(bakery.ROOT)} {changed}; commit it with the pyproject change")


if __name__ == "__main__":
    main(sys.argv[1:])

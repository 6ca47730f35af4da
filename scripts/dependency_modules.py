"""Refresh the list of module names a generated project's dependencies install.

    python scripts/dependency_modules.py PROJECT/.venv/bin/python          # rewrite the list
    python scripts/dependency_modules.py PROJECT/.venv/bin/python --check  # exit 1 if stale

A package named like one of them (`tqdm`, `requests`, `git`, ...) would shadow it: every
`import tqdm` in the project would find the project's own package and `make repro` would fail
with `No module named tqdm.prepare`. hooks/pre_gen_project.py refuses those names at bake
time, from the list this script writes into it (the hook runs on the Python that runs
cookiecutter, where the project's dependencies are not installed, so it cannot ask them).

The names come from the environment of a project set up with `make setup` (its dependencies
and dev tools, direct and transitive): `importlib.metadata.packages_distributions()` there.
Modules that only some platforms install (CUDA builds of PyTorch, Windows, macOS) are added
from PLATFORM_ONLY. tests/test_slow_setup.py runs the check against the baked project.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOK = ROOT / "hooks" / "pre_gen_project.py"
BEGIN = "# BEGIN dependency modules (scripts/dependency_modules.py writes this block)\n"
END = "# END dependency modules\n"
# Installed by the project's dependencies on other platforms than the one the list is made on.
PLATFORM_ONLY = {
    "nvidia",  # torch's CUDA libraries (Linux)
    "triton",  # torch on Linux
    "appnope",  # ipykernel on macOS
    "pywin32_system32",  # pywin32 (Windows): docker, jupyter_core, portalocker
    "pythoncom",
    "pythonwin",
    "pywintypes",
    "win32",
    "win32api",
    "win32com",
    "win32comext",
    "win32con",
    "winerror",
}
PACKAGE_SHAPED = re.compile(r"[a-z_][a-z0-9_]*")


def installed_modules(python: str) -> set[str]:
    """Top-level module names the environment of `python` holds, lower-cased (a package
    `Pil` would shadow `PIL` on the case-insensitive file systems of macOS and Windows)."""
    code = "import importlib.metadata as m; print('\\n'.join(m.packages_distributions()))"
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return {name.lower() for name in result.stdout.split()}


def block(names: set[str]) -> str:
    listed = " ".join(sorted(n for n in names if PACKAGE_SHAPED.fullmatch(n)))
    lines = textwrap.wrap(listed, width=92, break_on_hyphens=False)
    body = "".join(f"    {line}\n" for line in lines)
    split = '""".split()  # noqa: SIM905 - a block of names, rewritten by a script'
    return f'{BEGIN}DEPENDENCY_MODULES = frozenset(\n    """\n{body}    {split}\n)\n{END}'


def listed_modules(text: str) -> set[str]:
    start, end = text.index(BEGIN), text.index(END)
    quoted = text[start:end].split('"""')
    return set(quoted[1].split()) if len(quoted) > 1 else set()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python", help="the Python of a set-up project's .venv")
    parser.add_argument("--check", action="store_true", help="only report missing names")
    parser.add_argument("--own", default="", help="the project's own package (left out)")
    args = parser.parse_args(argv)
    names = (installed_modules(args.python) | PLATFORM_ONLY) - {args.own}
    text = HOOK.read_text(encoding="utf-8")
    missing = sorted(n for n in names - listed_modules(text) if PACKAGE_SHAPED.fullmatch(n))
    if args.check:
        if missing:
            print(f"not in {HOOK.name}: {' '.join(missing)}; run: {' '.join(sys.argv)}")
        return 1 if missing else 0
    start, end = text.index(BEGIN), text.index(END) + len(END)
    HOOK.write_text(text[:start] + block(names) + text[end:], encoding="utf-8")
    print(f"{HOOK.relative_to(ROOT)}: {len(names)} module names ({len(missing)} new)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
